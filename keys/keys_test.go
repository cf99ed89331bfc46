package keys

import (
	"bytes"
	"testing"
)

func TestDeriveDistinctAndStable(t *testing.T) {
	master := []byte("0123456789abcdef0123456789abcdef")
	a, b := Derive(master, OTP), Derive(master, FlowState)
	if len(a) != 32 || bytes.Equal(a, b) {
		t.Fatalf("purposes must give distinct 32-byte keys")
	}
	if !bytes.Equal(a, Derive(master, OTP)) {
		t.Fatalf("derivation must be deterministic")
	}
	if bytes.Equal(a, Derive([]byte("another master secret of 32 bytes"), OTP)) {
		t.Fatalf("different masters must give different keys")
	}
}
