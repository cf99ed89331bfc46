package sql

import (
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// released are the migration versions that shipped: a database in the field
// may stand at the highest of them. Add a version here when it is released.
var released = []int{1, 10, 11, 20, 21, 22, 23, 30, 31, 32, 33, 34, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54}

// A migration added after a release must come after every released one, or
// goose stops an existing database at start-up with "missing (out-of-order)
// migrations". Both dialects must also carry the same versions.
func TestNewMigrationsFollowTheReleasedOnes(t *testing.T) {
	top := slices.Max(released)
	var versions [2][]int
	for i, dialect := range []string{"mysql", "sqlite"} {
		fsys, err := Migrations(dialect)
		if err != nil {
			t.Fatal(err)
		}
		names, err := fs.Glob(fsys, "*.sql")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			v, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
			if err != nil {
				t.Fatalf("%s/%s: no version number: %v", dialect, name, err)
			}
			versions[i] = append(versions[i], v)
			if !slices.Contains(released, v) && v <= top {
				t.Errorf("%s/%s: version %d is below the released %d; number it %d or higher", dialect, name, v, top, top+1)
			}
		}
		for _, v := range released {
			if !slices.Contains(versions[i], v) {
				t.Errorf("%s: released migration %d is missing", dialect, v)
			}
		}
	}
	if !slices.Equal(versions[0], versions[1]) {
		t.Errorf("the dialects differ: mysql %v, sqlite %v", versions[0], versions[1])
	}
}
