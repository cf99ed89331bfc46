package logx

import (
	"strings"
	"unicode"
)

// Printable is s with every character that could drive a terminal or
// change the order a reader sees text in replaced by U+FFFD (�): control
// characters (C0, DEL, C1: an escape sequence, a tab that breaks columns),
// the Unicode bidirectional controls (U+061C, U+200E/F, U+202A–202E,
// U+2066–2069: a right-to-left override makes "txt.exe" read "exe.txt")
// and the line and paragraph separators. Operators' tools pass stored
// text through it (a WeChat nickname, a reason or a search typed in the
// admin console) before showing it. Other format characters stay: the
// zero-width joiner is part of many emoji.
func Printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || unicode.In(r, unicode.Zl, unicode.Zp) {
			return '\uFFFD'
		}
		return r
	}, s)
}
