// Package challenge issues and redeems the proof-of-work challenges asked of
// a browser before wxcas sends it an SMS code, so that sending codes in bulk
// costs the sender CPU time; the difficulty is the caller's to adapt.
//
// The challenges speak the protocol of the ALTCHA widget (npm package
// "altcha", version 2.3.0, vendored under static/altcha/ by
// scripts/vendor-altcha.sh; see docs/challenge.md), as read in that
// version's own source:
//
//   - The server hands the widget a JSON challenge (Challenge): {"algorithm":
//     "SHA-256", "challenge": hex(sha256(salt + decimal(number))),
//     "maxnumber": N, "salt": salt, "signature": hex(hmac_sha256(key,
//     challenge))}, where number is a secret drawn uniformly from [0, N]. The
//     widget insists on a challenge of at least 40 characters and a salt of
//     at least 10.
//   - The widget (in web workers) tries number = 0, 1, ... up to maxnumber
//     until sha256(salt + number) is the challenge, then puts into a hidden
//     form field (named "altcha" unless its name attribute says otherwise)
//     base64(JSON{"algorithm", "challenge", "number", "salt", "signature",
//     "took"}) — standard base64 of the JSON, as btoa makes it; "took" is the
//     milliseconds it spent, and is ignored here.
//   - The widget reads an expiry from the salt's query part ("?expires=" unix
//     seconds) and shows its "expired" text when it passes. Following
//     ALTCHA's advice against splicing digits between the salt and the
//     number, the parameters end with "&": salts look like
//     "<64 hex>?expires=1700000000&max=50000&" (max: the difficulty, which
//     the widget ignores and wxcas checks: see Redeem).
//
// The page side, as read in 2.3.0: only the package's "external" build
// runs under wxcas's CSP (default-src 'self'; script-src 'self'; style-src
// 'self') — the default build injects a <style> element and starts blob:
// workers. A page loads /static/altcha/altcha.css and, as a module script,
// /static/altcha/altcha.js, which starts /static/altcha/worker.js itself
// (new URL("./worker.js", import.meta.url)); script-src 'self' covers the
// worker, no worker-src is needed. The <altcha-widget> element takes the
// challenge inline in challengejson (then it fetches nothing), auto="onload"
// or "onsubmit" (or "onfocus", "off": on a click), hidefooter and hidelogo
// (booleans), name (of the hidden field, default "altcha"; it exists only
// once solved) and strings, a JSON object of texts, inserted as HTML, with
// the keys ariaLinkLabel, enterCode, enterCodeAria, error, expired, footer,
// getAudioChallenge, label, loading, reload, verificationRequired, verified,
// verify, verifying, waitAlert (the external build has only English built
// in). docs/challenge.md has the details.
//
// On top of the protocol, a challenge is bound to a holder — the login that
// asked for the code: a challenge solved for one login is refused for
// another. The salt's 64 hex characters are a random 16-byte nonce and a
// 16-byte tag, an HMAC over the nonce, the expiry, the difficulty and the
// holder, so a challenge presented for the wrong holder (or with an altered
// expiry or difficulty) is refused as ErrInvalid before the database is
// asked. The salt also names the difficulty it was issued at (max=), which
// Redeem compares with what the redeemer asks for now: the protocol's
// payload has no maxnumber, and without it an easy challenge issued earlier
// would pay for a send that now asks for eight times the work. (The salt
// is bound to the signed challenge string through the hash as well.)
//
// Issuing stores nothing: the signature and the salt's tag make a
// challenge self-verifying, so handing challenges out (on every page view)
// cannot fill a table. Redeem records the redemption (Store.Spend): the
// SHA-256 of the challenge string (never the number, which only the solver
// should find), a keyed hash of the holder and the expiry, in one INSERT the
// primary key decides, so of concurrent redeemers of one solution exactly
// one succeeds and a solution is good once. Cleanup removes the records of
// challenges that have expired (a replay of those is refused as expired).
//
// Payloads are answers: they are never logged, and no error carries one.
package challenge

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"time"
)

// Algorithm is the only hash the challenges use (the widget's default).
const Algorithm = "SHA-256"

// MaxDifficulty bounds Issue's difficulty (the maxnumber the widget counts
// up to). The widget hashes number by number with crypto.subtle, a few
// hundred thousand a second on a phone even with several workers: beyond
// this, a person would wait minutes.
const MaxDifficulty = 10_000_000

// MaxPayload bounds the size of a payload Redeem reads. The widget's are
// about 300 bytes.
const MaxPayload = 4096

// CleanupBatch is how many expired records one clean-up statement deletes.
const CleanupBatch = 500

// Errors of Redeem. Only ErrUsed and ErrExpired tell an honest browser
// anything (solve a new challenge); ErrInvalid is everything else.
var (
	// ErrInvalid: the payload is malformed, forged, the wrong answer, or
	// another holder's.
	ErrInvalid = errors.New("challenge: invalid solution")
	// ErrExpired: a genuine challenge whose expiry has passed.
	ErrExpired = errors.New("challenge: expired")
	// ErrUsed: a genuine, solved, unexpired challenge whose redemption is
	// recorded already.
	ErrUsed = errors.New("challenge: already used")
	// ErrTooEasy: a genuine, solved, unexpired challenge issued at a lower
	// difficulty than the redeemer now asks for; it is not used up.
	ErrTooEasy = errors.New("challenge: issued at a lower difficulty than needed now")
)

// Challenge is what the widget is given, as JSON (its challengejson
// attribute, or the body of its challengeurl). The tags are the names the
// widget reads.
type Challenge struct {
	Algorithm string `json:"algorithm"`
	Challenge string `json:"challenge"`
	MaxNumber int64  `json:"maxnumber"`
	Salt      string `json:"salt"`
	Signature string `json:"signature"`
}

// Record is what is stored of a redeemed challenge, until it expires: a
// challenge is single-use because its redemption is recorded. Issuing
// stores nothing (the signature and the salt's tag make a challenge
// self-verifying), so page views that hand out challenges cannot fill the
// table; only solved ones, each of which cost its solver the work, can.
type Record struct {
	// ID is the SHA-256 (hex) of the challenge string.
	ID string
	// Holder is the keyed hash (hex) of the holder.
	Holder    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Store keeps the redeemed challenges.
type Store interface {
	// Spend records r unless a record with its ID is there, and reports
	// whether it did: of concurrent callers with one ID exactly one gets
	// true, and nobody after it.
	Spend(ctx context.Context, r Record) (bool, error)
	// DeleteExpired deletes the records expiring at or before before, at
	// most batch per statement, and returns how many it deleted.
	DeleteExpired(ctx context.Context, before time.Time, batch int) (int64, error)
}

// Service issues and redeems challenges.
type Service struct {
	key []byte
	st  Store
	now func() time.Time
}

// New returns a Service signing with key (at least 32 bytes; in wxcas
// keys.Derive(master, keys.Challenge)) and keeping records in st. now is
// the clock (nil: time.Now).
func New(key []byte, st Store, now func() time.Time) (*Service, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("challenge: key of %d bytes, want at least 32", len(key))
	}
	if st == nil {
		return nil, errors.New("challenge: no store")
	}
	if now == nil {
		now = time.Now
	}
	return &Service{key: bytes.Clone(key), st: st, now: now}, nil
}

// Issue makes a challenge for holder whose secret number is drawn uniformly
// from [0, difficulty] (1 ≤ difficulty ≤ MaxDifficulty; a browser tries
// difficulty/2 numbers on average), valid for ttl (at least a second; the
// expiry is rounded up to a whole second, as the salt carries it), and
// stores its record.
func (s *Service) Issue(ctx context.Context, holder string, difficulty int64, ttl time.Duration) (Challenge, error) {
	if holder == "" {
		return Challenge{}, errors.New("challenge: no holder")
	}
	if difficulty < 1 || difficulty > MaxDifficulty {
		return Challenge{}, fmt.Errorf("challenge: difficulty %d out of [1, %d]", difficulty, MaxDifficulty)
	}
	if ttl < time.Second {
		return Challenge{}, fmt.Errorf("challenge: ttl %v under a second", ttl)
	}
	n, err := rand.Int(rand.Reader, big.NewInt(difficulty+1))
	if err != nil {
		return Challenge{}, fmt.Errorf("challenge: draw number: %w", err)
	}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never fails

	now := s.now()
	expires := now.Add(ttl + time.Second - 1).Unix()
	holderHash := s.holderHash(holder)
	nonceHex := hex.EncodeToString(nonce[:])
	salt := nonceHex + s.saltTag(nonceHex, expires, difficulty, holderHash) +
		"?expires=" + strconv.FormatInt(expires, 10) + "&max=" + strconv.FormatInt(difficulty, 10) + "&"
	c := Challenge{
		Algorithm: Algorithm,
		Challenge: hashHex(salt + strconv.FormatInt(n.Int64(), 10)),
		MaxNumber: difficulty,
		Salt:      salt,
	}
	c.Signature = s.sign(c.Challenge)
	return c, nil
}

// solution is what the widget submits (base64 of this JSON).
type solution struct {
	Algorithm string `json:"algorithm"`
	Challenge string `json:"challenge"`
	Number    *int64 `json:"number"`
	Salt      string `json:"salt"`
	Signature string `json:"signature"`
}

// saltPattern is the salt Issue makes: nonce and tag (hex), then the expiry
// and the difficulty.
var saltPattern = regexp.MustCompile(`^([0-9a-f]{32})([0-9a-f]{32})\?expires=([1-9][0-9]{0,11})&max=([1-9][0-9]{0,9})&$`)

// Redeem checks payload, the widget's form field, as holder's solution of a
// challenge Issue made at a difficulty of at least minDifficulty, and uses
// the challenge up. It returns nil, ErrInvalid, ErrExpired, ErrTooEasy
// (nothing used up), ErrUsed, or a store error.
func (s *Service) Redeem(ctx context.Context, holder, payload string, minDifficulty int64) error {
	p, err := decode(payload)
	if err != nil || holder == "" {
		return ErrInvalid
	}
	if p.Algorithm != Algorithm || p.Number == nil || *p.Number < 0 || *p.Number > MaxDifficulty {
		return ErrInvalid
	}
	sig, err := hex.DecodeString(p.Signature)
	if err != nil || !hmac.Equal(sig, s.mac([]byte(p.Challenge))) {
		return ErrInvalid
	}
	m := saltPattern.FindStringSubmatch(p.Salt)
	if m == nil {
		return ErrInvalid
	}
	expires, err := strconv.ParseInt(m[3], 10, 64)
	if err != nil {
		return ErrInvalid
	}
	difficulty, err := strconv.ParseInt(m[4], 10, 64)
	if err != nil {
		return ErrInvalid
	}
	holderHash := s.holderHash(holder)
	if subtle.ConstantTimeCompare([]byte(m[2]), []byte(s.saltTag(m[1], expires, difficulty, holderHash))) != 1 {
		return ErrInvalid
	}
	now := s.now()
	if !now.Before(time.Unix(expires, 0)) {
		return ErrExpired
	}
	answer := hashHex(p.Salt + strconv.FormatInt(*p.Number, 10))
	if subtle.ConstantTimeCompare([]byte(answer), []byte(p.Challenge)) != 1 {
		return ErrInvalid
	}
	if difficulty < minDifficulty {
		return ErrTooEasy
	}
	ok, err := s.st.Spend(ctx, Record{ID: hashHex(p.Challenge), Holder: holderHash, CreatedAt: now, ExpiresAt: time.Unix(expires, 0).UTC()})
	if err != nil {
		return err
	}
	if !ok {
		return ErrUsed
	}
	return nil
}

// Cleanup deletes the records of challenges that expired unredeemed, in
// batches of CleanupBatch, and returns how many it deleted.
func (s *Service) Cleanup(ctx context.Context) (int64, error) {
	return s.st.DeleteExpired(ctx, s.now(), CleanupBatch)
}

// decode reads the widget's payload: base64 (standard, as btoa makes it, or
// URL-safe; padded or not) of a JSON object.
func decode(payload string) (solution, error) {
	var p solution
	if payload == "" || len(payload) > MaxPayload {
		return p, ErrInvalid
	}
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err = enc.DecodeString(payload); err == nil {
			break
		}
	}
	if err != nil {
		return p, ErrInvalid
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, ErrInvalid
	}
	return p, nil
}

func (s *Service) mac(msg ...[]byte) []byte {
	h := hmac.New(sha256.New, s.key)
	for _, m := range msg {
		h.Write(m)
	}
	return h.Sum(nil)
}

// sign is the challenge's signature, as the widget carries it.
func (s *Service) sign(challenge string) string {
	return hex.EncodeToString(s.mac([]byte(challenge)))
}

// The MACs below start with a label holding "/", which no challenge (hex)
// does: none of them is ever a valid signature of a challenge, nor of one
// another.

// holderHash is the holder as stored: keyed, since logins are phone numbers
// that an unkeyed hash would not hide.
func (s *Service) holderHash(holder string) string {
	return hex.EncodeToString(s.mac([]byte("wxcas/challenge/holder\x00"), []byte(holder)))
}

// saltTag binds a salt's nonce, expiry and difficulty to the holder (hex,
// 16 bytes). The label is v2's: v1 tags had no difficulty.
func (s *Service) saltTag(nonceHex string, expires, difficulty int64, holderHash string) string {
	m := s.mac([]byte("wxcas/challenge/salt/v2\x00"), []byte(nonceHex), []byte{0}, []byte(strconv.FormatInt(expires, 10)),
		[]byte{0}, []byte(strconv.FormatInt(difficulty, 10)), []byte{0}, []byte(holderHash))
	return hex.EncodeToString(m[:16])
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
