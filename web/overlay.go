package web

import (
	"errors"
	"io/fs"
	"os"
	"sort"
)

// Overlay returns an FS whose files come from dir when it has them and from
// base otherwise: operators brand the pages by overriding single templates or
// static files without copying the rest.
func Overlay(dir string, base fs.FS) fs.FS {
	if dir == "" {
		return base
	}
	return overlay{top: os.DirFS(dir), base: base}
}

type overlay struct{ top, base fs.FS }

func (o overlay) Open(name string) (fs.File, error) {
	f, err := o.top.Open(name)
	if err == nil {
		if st, serr := f.Stat(); serr == nil && !st.IsDir() {
			return f, nil
		}
		f.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return o.base.Open(name)
}

// Glob lists the union of both layers (template parsing globs "*.html").
func (o overlay) Glob(pattern string) ([]string, error) {
	seen := map[string]bool{}
	for _, layer := range []fs.FS{o.base, o.top} {
		names, err := fs.Glob(layer, pattern)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			seen[n] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}
