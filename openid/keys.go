package openid

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// keyRing holds the provider's signing keys. They live in the database,
// sealed with a key derived from the master secret, so every instance signs
// with the same key and publishes the same JWKS. Rotation, as the issue
// asks and RFC 7517 deployments do it:
//
//   - a key signs for Config.KeyRotation from its ActiveFrom;
//   - its successor is created KeyPublishAhead before that, and published
//     in JWKS at once, so relying parties that cache JWKS know it before
//     it signs anything;
//   - a key stays published until every token it signed has expired
//     (ExpiresAt = the end of its signing + the longest token lifetime).
//
// Any instance may rotate: the key's Generation is unique in the table, so
// two instances rotating at once make one key (the loser reloads). What was
// read is kept for cacheFor, so signing a token costs no query.
type keyRing struct {
	store    Store
	aead     cipher.AEAD
	alg      jose.SignatureAlgorithm
	rotation time.Duration
	ahead    time.Duration
	// signedTTL: the longest life of a signed token.
	signedTTL time.Duration
	now       func() time.Time
	log       *slog.Logger

	mu       sync.Mutex
	keys     []*ringKey
	loadedAt time.Time
}

// immediateSkew: a key made to sign at once is active from this long ago.
const immediateSkew = time.Minute

// cacheFor bounds how stale an instance's view of the keys may be; it is
// far below any sensible KeyPublishAhead.
const cacheFor = time.Minute

type ringKey struct {
	SigningKey
	private crypto.Signer
}

func newKeyRing(s Store, sealKey []byte, cfg Config, now func() time.Time, log *slog.Logger) (*keyRing, error) {
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, fmt.Errorf("openid: key seal: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("openid: key seal: %w", err)
	}
	return &keyRing{
		store: s, aead: aead, alg: jose.SignatureAlgorithm(cfg.SigningAlgorithm), rotation: cfg.KeyRotation,
		ahead: cfg.KeyPublishAhead, signedTTL: cfg.maxSignedTTL(), now: now, log: log,
	}, nil
}

// signsUntil is when k stops signing: a token it signs must expire before
// k leaves JWKS.
func (r *keyRing) signsUntil(k *ringKey) time.Time { return k.ExpiresAt.Add(-r.signedTTL) }

// current returns the key that signs now, rotating when it is time.
func (r *keyRing) current(ctx context.Context) (*ringKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if k := r.pick(now); k != nil && now.Sub(r.loadedAt) < cacheFor && !r.needsNext(k, now) {
		return k, nil
	}
	for range 3 {
		// The clock is read again each round: a key another instance made
		// a moment ago must sign "now" here too.
		now = r.now()
		if err := r.load(ctx, now); err != nil {
			if k := r.pick(now); k != nil {
				// The database is out of reach: the keys read last still
				// serve (JWKS, verification) until it is back.
				r.log.WarnContext(ctx, "openid: signing keys not reloaded; using those read before", "err", err)
				return k, nil
			}
			return nil, err
		}
		k := r.pick(now)
		switch {
		case k == nil:
			// No key signs now: the first start, a new signing_algorithm,
			// or every instance was down past the current key's end. The
			// new key signs at once.
			if len(r.keys) > 0 {
				r.log.WarnContext(ctx, "openid: no signing key was ready; a new one signs without having been published ahead", "algorithm", r.alg)
			}
			// Active a little in the past, so that an instance whose clock
			// is behind, or which read its clock just before, takes it too.
			if err := r.create(ctx, now, now.Add(-immediateSkew)); err != nil {
				return nil, err
			}
			continue
		case r.needsNext(k, now):
			from := k.ActiveFrom.Add(r.rotation)
			if soonest := now.Add(r.ahead); from.Before(soonest) {
				from = soonest
			}
			if end := r.signsUntil(k); from.After(end) {
				from = end
			}
			if err := r.create(ctx, now, from); err != nil {
				return nil, err
			}
			continue
		}
		return k, nil
	}
	return nil, errors.New("openid: signing keys keep changing under us")
}

// pick is the newest key of the configured algorithm that signs at now.
// After signing_algorithm changed, keys of the old one sign no more (they
// stay published until they expire).
func (r *keyRing) pick(now time.Time) *ringKey {
	for i := len(r.keys) - 1; i >= 0; i-- {
		k := r.keys[i]
		if k.Algorithm == string(r.alg) && !k.ActiveFrom.After(now) && now.Before(r.signsUntil(k)) {
			return k
		}
	}
	return nil
}

// needsNext: k's successor is due to be published and is not there yet.
func (r *keyRing) needsNext(k *ringKey, now time.Time) bool {
	for _, later := range r.keys {
		if later.Generation > k.Generation && later.Algorithm == k.Algorithm {
			return false
		}
	}
	return !now.Before(k.ActiveFrom.Add(r.rotation - r.ahead))
}

// algorithms are those of the published keys, the configured one first:
// during a change of signing_algorithm tokens of both verify.
func (r *keyRing) algorithms(ctx context.Context) ([]jose.SignatureAlgorithm, error) {
	keys, err := r.published(ctx)
	if err != nil {
		return nil, err
	}
	out := []jose.SignatureAlgorithm{r.alg}
	for _, k := range keys {
		if a := jose.SignatureAlgorithm(k.Algorithm); !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// refresh reloads the keys when a token names a kid this instance has not
// seen (another instance made a key since the last load), at most once
// every few seconds.
func (r *keyRing) refresh(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if now.Sub(r.loadedAt) < 5*time.Second {
		return
	}
	if err := r.load(ctx, now); err != nil {
		r.log.WarnContext(ctx, "openid: signing keys not reloaded", "err", err)
	}
}

// published returns the keys for JWKS: every key not expired, the next one
// included.
func (r *keyRing) published(ctx context.Context) ([]*ringKey, error) {
	if _, err := r.current(ctx); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	var out []*ringKey
	for _, k := range r.keys {
		if now.Before(k.ExpiresAt) {
			out = append(out, k)
		}
	}
	return out, nil
}

func (r *keyRing) load(ctx context.Context, now time.Time) error {
	stored, err := r.store.SigningKeys(ctx, now)
	if err != nil {
		return err
	}
	keys := make([]*ringKey, 0, len(stored))
	for _, s := range stored {
		priv, err := r.unseal(s)
		if err != nil {
			return fmt.Errorf("openid: signing key %s: %w", s.ID, err)
		}
		keys = append(keys, &ringKey{SigningKey: s, private: priv})
	}
	r.keys, r.loadedAt = keys, now
	return nil
}

// create makes the key of the next generation, signing from activeFrom.
// Another instance making it first is not an error: the caller reloads.
func (r *keyRing) create(ctx context.Context, now, activeFrom time.Time) error {
	gen := 1
	if n := len(r.keys); n > 0 {
		gen = r.keys[n-1].Generation + 1
	}
	priv, err := r.generate()
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	k := SigningKey{
		ID: rand.Text()[:16], Generation: gen, Algorithm: string(r.alg), CreatedAt: now, ActiveFrom: activeFrom,
		ExpiresAt: activeFrom.Add(r.rotation + r.ahead + r.signedTTL),
	}
	nonce := make([]byte, r.aead.NonceSize())
	_, _ = rand.Read(nonce)
	k.Sealed = r.aead.Seal(nonce, nonce, der, []byte(k.ID))
	err = r.store.AddSigningKey(ctx, k)
	if errors.Is(err, ErrConflict) {
		return nil
	}
	if err == nil {
		r.log.InfoContext(ctx, "openid: signing key created", "kid", k.ID, "generation", gen, "signs_from", activeFrom.UTC().Format(time.RFC3339))
	}
	return err
}

func (r *keyRing) generate() (crypto.Signer, error) {
	if r.alg == jose.ES256 {
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	return rsa.GenerateKey(rand.Reader, 2048)
}

func (r *keyRing) unseal(k SigningKey) (crypto.Signer, error) {
	n := r.aead.NonceSize()
	if len(k.Sealed) < n {
		return nil, errors.New("sealed key too short")
	}
	der, err := r.aead.Open(nil, k.Sealed[:n], k.Sealed[n:], []byte(k.ID))
	if err != nil {
		return nil, errors.New("cannot unseal it with secrets.key: was secrets.key changed? Put the old key back, or (every token wxcas issued becomes invalid) delete the rows of oidc_signing_keys")
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("not a signing key")
	}
	return signer, nil
}

// sign makes a compact JWS of claims with header typ (JWT, at+jwt,
// logout+jwt).
func (k *ringKey) sign(claims any, typ string) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(k.Algorithm),
		Key:       jose.JSONWebKey{Key: k.private, KeyID: k.ID},
	}, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// signingKey is the op.SigningKey view of a ring key, publicKey the op.Key
// view.
type signingKey struct{ *ringKey }

func (k signingKey) ID() string { return k.SigningKey.ID }
func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm {
	return jose.SignatureAlgorithm(k.Algorithm)
}
func (k signingKey) Key() any { return k.private }

type publicKey struct{ *ringKey }

func (k publicKey) ID() string { return k.SigningKey.ID }
func (k publicKey) Algorithm() jose.SignatureAlgorithm {
	return jose.SignatureAlgorithm(k.SigningKey.Algorithm)
}
func (k publicKey) Use() string { return "sig" }
func (k publicKey) Key() any    { return k.private.Public() }
