package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Sealer seals credentials kept in the database (app and component access
// tokens, platform tickets) so that a dump or a replica hands out nothing
// live: AES-256-GCM under a key derived for the purpose, with what the
// value belongs to (an appid) as additional data, so a value copied to
// another row does not open.
type Sealer struct{ aead cipher.AEAD }

// sealPrefix marks a sealed value and its format version.
const sealPrefix = "v1."

// NewSealer returns a Sealer for a 32-byte key (Derive's).
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, errors.New("keys: a sealing key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts value for owner: "v1." + base64url(nonce || ciphertext).
func (s *Sealer) Seal(owner, value string) string {
	n := s.aead.NonceSize()
	nonce := make([]byte, n, n+len(value)+s.aead.Overhead())
	_, _ = rand.Read(nonce) // crypto/rand.Read never returns an error
	return sealPrefix + base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, []byte(value), []byte(owner)))
}

// Open reverses Seal. Its errors say why without showing the value: not
// sealed (e.g. written in clear by an older release), malformed, or sealed
// under another key or for another owner.
func (s *Sealer) Open(owner, stored string) (string, error) {
	b64, ok := strings.CutPrefix(stored, sealPrefix)
	if !ok {
		return "", errors.New("not sealed")
	}
	b, err := base64.RawURLEncoding.DecodeString(b64)
	n := s.aead.NonceSize()
	if err != nil || len(b) < n+s.aead.Overhead() {
		return "", errors.New("malformed")
	}
	plain, err := s.aead.Open(nil, b[:n], b[n:], []byte(owner))
	if err != nil {
		return "", errors.New("wrong key, tampered, or another owner's")
	}
	return string(plain), nil
}
