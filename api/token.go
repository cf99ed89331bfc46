package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// A bind token is "BT-", the journey's id, "." and the secret of its current
// step, each 26 characters of crypto/rand base32 (130 bits). The id finds
// the journey; the secret proves the client holds its current step. The
// journey keeps only SHA-256(secret): a database read does not yield a
// usable token. Clients treat the token as opaque.
const (
	bindTokenPrefix = "BT-"
	partLen         = 26
	bindTokenLen    = len(bindTokenPrefix) + 2*partLen + 1
)

type bindToken struct{ journeyID, secret string }

// newBindToken starts a journey's tokens.
func newBindToken() bindToken { return bindToken{journeyID: rand.Text(), secret: rand.Text()} }

// next is the token of the journey's next step.
func (t bindToken) next() bindToken { return bindToken{journeyID: t.journeyID, secret: rand.Text()} }

func (t bindToken) String() string { return bindTokenPrefix + t.journeyID + "." + t.secret }

// secretHash is what the journey stores (Journey.SecretHash).
func (t bindToken) secretHash() string {
	sum := sha256.Sum256([]byte(t.secret))
	return hex.EncodeToString(sum[:])
}

// parseBindToken rejects what cannot be a bind token without a database
// read.
func parseBindToken(s string) (bindToken, bool) {
	rest, ok := strings.CutPrefix(s, bindTokenPrefix)
	if !ok || len(s) != bindTokenLen {
		return bindToken{}, false
	}
	id, secret, ok := strings.Cut(rest, ".")
	if !ok || !base32Part(id) || !base32Part(secret) {
		return bindToken{}, false
	}
	return bindToken{journeyID: id, secret: secret}, true
}

func base32Part(s string) bool {
	if len(s) != partLen {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}
