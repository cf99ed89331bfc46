// Package static embeds the CSS and scripts served under /static/.
package static

import "embed"

// FS holds the static assets.
//
//go:embed *.css *.js altcha
var FS embed.FS
