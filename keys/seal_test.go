package keys

import (
	"strings"
	"testing"
)

func TestSealer(t *testing.T) {
	a, err := NewSealer(Derive([]byte("0123456789abcdef0123456789abcdef"), AppToken))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSealer(Derive([]byte("0123456789abcdef0123456789abcdef"), PlatformToken))
	sealed := a.Seal("wx1", "the-token")
	if strings.Contains(sealed, "the-token") || !strings.HasPrefix(sealed, "v1.") {
		t.Fatalf("sealed value shows the token or lacks its prefix: %q", sealed)
	}
	if got, err := a.Open("wx1", sealed); err != nil || got != "the-token" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if a.Seal("wx1", "the-token") == sealed {
		t.Fatal("two seals of one value must differ (random nonce)")
	}
	for name, open := range map[string]func() (string, error){
		"another owner": func() (string, error) { return a.Open("wx2", sealed) },
		"another key":   func() (string, error) { return b.Open("wx1", sealed) },
		"in clear":      func() (string, error) { return a.Open("wx1", "the-token") },
		"malformed":     func() (string, error) { return a.Open("wx1", "v1.!!!") },
		"truncated":     func() (string, error) { return a.Open("wx1", sealed[:10]) },
		"tampered":      func() (string, error) { return a.Open("wx1", tamper(sealed)) },
	} {
		if got, err := open(); err == nil || got != "" || strings.Contains(err.Error(), "the-token") {
			t.Errorf("%s: Open = %q, %v; want an error that does not show the value", name, got, err)
		}
	}
	if _, err := NewSealer([]byte("short")); err == nil {
		t.Error("a short key is refused")
	}
}

// tamper changes one character in the middle of a sealed value: a whole
// six bits of ciphertext (the last character may carry unused bits).
func tamper(sealed string) string {
	i := len(sealed) / 2
	c := byte('A')
	if sealed[i] == 'A' {
		c = 'B'
	}
	return sealed[:i] + string(c) + sealed[i+1:]
}
