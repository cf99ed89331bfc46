//go:build unix

package main

import (
	"io/fs"
	"syscall"
)

// How createPrivate opens its file: never through a symbolic link, and
// without waiting for a pipe's reader.
const (
	openNoFollow = syscall.O_NOFOLLOW
	openNonBlock = syscall.O_NONBLOCK
)

// hardLinks is how many names the file has.
func hardLinks(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}
