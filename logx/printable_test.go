package logx

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPrintable(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain text stays", "Alice 小明 ok", "Alice 小明 ok"},
		{"a terminal escape", "a\x1b[2Jb", "a\uFFFD[2Jb"},
		{"tab, newline, DEL and a C1 control", "a\tb\nc\x7fd\u009be", "a\uFFFDb\uFFFDc\uFFFDd\uFFFDe"},
		{"right-to-left override", "invoice\u202Etxt.exe", "invoice\uFFFDtxt.exe"},
		{"marks and embeddings", "\u200E\u200F\u202A\u202B\u202C\u202D", "\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"isolates", "\u2066a\u2067b\u2068c\u2069", "\uFFFDa\uFFFDb\uFFFDc\uFFFD"},
		{"the Arabic letter mark", "x\u061Cy", "x\uFFFDy"},
		{"line and paragraph separators", "a\u2028b\u2029c", "a\uFFFDb\uFFFDc"},
		{"an emoji's zero-width joiner stays", "👩\u200D💻", "👩\u200D💻"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Printable(tc.in))
		})
	}
}
