//go:build !unix

package main

import "io/fs"

// Elsewhere (no deployment target) a symbolic link is followed; the other
// checks of createPrivate hold.
const (
	openNoFollow = 0
	openNonBlock = 0
)

func hardLinks(fs.FileInfo) uint64 { return 1 }
