// Package templates embeds wxcas's HTML pages. Every page is rendered inside
// layout.html, which carries the language switch and the sandbox banner.
package templates

import "embed"

// FS holds layout.html and one file per page.
//
//go:embed *.html
var FS embed.FS
