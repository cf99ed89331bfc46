package openid

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"wxcas/store"
)

// SQLStore keeps the provider's state in wxcas's database (MySQL or SQLite,
// tables from migration 00048), where every instance sees it.
//
// How values are kept:
//   - Times are stored in UTC at microsecond precision (store.Time) and come
//     back so. A zero AuthTime is stored as NULL and comes back zero.
//   - Scopes, Prompt and AMR are stored space-joined: an element that is
//     empty or holds white space is refused (it could not come back as
//     written). Attributes are stored as a JSON object.
//   - An empty list or map comes back as nil, whether nil or empty was
//     written.
//   - An AuthRequest's CodeHash "" is stored as NULL (no code yet), so that
//     the unique index on code_hash admits any number of requests without
//     a code.
//   - Reads return expired rows too: the store does not judge expiry, its
//     callers do; Cleanup deletes them.
//
// Every method reads and writes through store.DB.Q, so inside store.Atomic
// it is one step of the caller's transaction.
type SQLStore struct{ db *store.DB }

// NewSQLStore returns the store on db.
func NewSQLStore(db *store.DB) *SQLStore { return &SQLStore{db: db} }

var _ Store = (*SQLStore)(nil)

const authColumns = `id, client_id, redirect_uri, scopes, state, nonce, response_mode, code_challenge, prompt, max_age,
ui_locales, login_hint, hint_subject, done, subject, session_key, auth_time, amr, attributes, code_hash, grant_id, browser_hash, created_at, expires_at, entry_appid`

// authRow is an AuthRequest as oidc_auth_requests holds it.
type authRow struct {
	ID            string         `db:"id"`
	ClientID      string         `db:"client_id"`
	RedirectURI   string         `db:"redirect_uri"`
	Scopes        string         `db:"scopes"`
	State         string         `db:"state"`
	Nonce         string         `db:"nonce"`
	ResponseMode  string         `db:"response_mode"`
	CodeChallenge string         `db:"code_challenge"`
	Prompt        string         `db:"prompt"`
	MaxAge        int            `db:"max_age"`
	UILocales     string         `db:"ui_locales"`
	LoginHint     string         `db:"login_hint"`
	HintSubject   string         `db:"hint_subject"`
	EntryAppID    string         `db:"entry_appid"`
	Done          bool           `db:"done"`
	Subject       string         `db:"subject"`
	SessionKey    string         `db:"session_key"`
	AuthTime      sql.NullTime   `db:"auth_time"`
	AMR           string         `db:"amr"`
	Attributes    string         `db:"attributes"`
	CodeHash      sql.NullString `db:"code_hash"`
	GrantID       string         `db:"grant_id"`
	BrowserHash   string         `db:"browser_hash"`
	CreatedAt     time.Time      `db:"created_at"`
	ExpiresAt     time.Time      `db:"expires_at"`
}

func toAuthRow(a *AuthRequest) (*authRow, error) {
	r := &authRow{
		ID: a.ID, ClientID: a.ClientID, RedirectURI: a.RedirectURI, State: a.State, Nonce: a.Nonce,
		ResponseMode: a.ResponseMode, CodeChallenge: a.CodeChallenge, MaxAge: a.MaxAge,
		UILocales: a.UILocales, LoginHint: a.LoginHint, HintSubject: a.HintSubject, EntryAppID: a.EntryAppID, Done: a.Done, Subject: a.Subject, SessionKey: a.SessionKey,
		AuthTime: nullTime(a.AuthTime), CodeHash: sql.NullString{String: a.CodeHash, Valid: a.CodeHash != ""},
		GrantID: a.GrantID, BrowserHash: a.BrowserHash, CreatedAt: store.Time(a.CreatedAt), ExpiresAt: store.Time(a.ExpiresAt),
	}
	var err error
	if r.Scopes, err = joinList("scopes", a.Scopes); err != nil {
		return nil, err
	}
	if r.Prompt, err = joinList("prompt", a.Prompt); err != nil {
		return nil, err
	}
	if r.AMR, err = joinList("amr", a.AMR); err != nil {
		return nil, err
	}
	if r.Attributes, err = encodeAttributes(a.Attributes); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *authRow) request() (AuthRequest, error) {
	attrs, err := decodeAttributes(r.Attributes)
	if err != nil {
		return AuthRequest{}, fmt.Errorf("openid: authorization request %s: %w", r.ID, err)
	}
	return AuthRequest{
		ID: r.ID, ClientID: r.ClientID, RedirectURI: r.RedirectURI, Scopes: splitList(r.Scopes),
		State: r.State, Nonce: r.Nonce, ResponseMode: r.ResponseMode, CodeChallenge: r.CodeChallenge,
		Prompt: splitList(r.Prompt), MaxAge: r.MaxAge, UILocales: r.UILocales, LoginHint: r.LoginHint, HintSubject: r.HintSubject, EntryAppID: r.EntryAppID,
		Done: r.Done, Subject: r.Subject, SessionKey: r.SessionKey, AuthTime: fromNullTime(r.AuthTime),
		AMR: splitList(r.AMR), Attributes: attrs, CodeHash: r.CodeHash.String, GrantID: r.GrantID, BrowserHash: r.BrowserHash,
		CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(),
	}, nil
}

// CreateAuthRequest implements Store.
func (s *SQLStore) CreateAuthRequest(ctx context.Context, a AuthRequest) error {
	r, err := toAuthRow(&a)
	if err != nil {
		return fmt.Errorf("openid: create authorization request: %w", err)
	}
	_, err = s.db.Q(ctx).NamedExecContext(ctx, `INSERT INTO oidc_auth_requests (`+authColumns+`) VALUES (
:id, :client_id, :redirect_uri, :scopes, :state, :nonce, :response_mode, :code_challenge, :prompt, :max_age,
:ui_locales, :login_hint, :hint_subject, :done, :subject, :session_key, :auth_time, :amr, :attributes, :code_hash, :grant_id, :browser_hash, :created_at, :expires_at, :entry_appid)`, r)
	if err != nil {
		return fmt.Errorf("openid: create authorization request: %w", err)
	}
	return nil
}

// AuthRequest implements Store.
func (s *SQLStore) AuthRequest(ctx context.Context, id string) (AuthRequest, error) {
	return s.authRequest(ctx, "id", id)
}

// AuthRequestByCode implements Store.
func (s *SQLStore) AuthRequestByCode(ctx context.Context, codeHash string) (AuthRequest, error) {
	if codeHash == "" {
		return AuthRequest{}, store.ErrNotFound
	}
	return s.authRequest(ctx, "code_hash", codeHash)
}

func (s *SQLStore) authRequest(ctx context.Context, column, value string) (AuthRequest, error) {
	var r authRow
	err := s.db.Q(ctx).GetContext(ctx, &r, `SELECT `+authColumns+` FROM oidc_auth_requests WHERE `+column+` = ?`, value)
	if errors.Is(err, sql.ErrNoRows) {
		return AuthRequest{}, store.ErrNotFound
	}
	if err != nil {
		return AuthRequest{}, fmt.Errorf("openid: read authorization request: %w", err)
	}
	return r.request()
}

// CompleteAuthRequest implements Store. The request becomes done whatever
// done.Done says; only the login's fields are taken from done.
func (s *SQLStore) CompleteAuthRequest(ctx context.Context, id string, done AuthRequest) error {
	amr, err := joinList("amr", done.AMR)
	if err != nil {
		return fmt.Errorf("openid: complete authorization request: %w", err)
	}
	attrs, err := encodeAttributes(done.Attributes)
	if err != nil {
		return fmt.Errorf("openid: complete authorization request: %w", err)
	}
	res, err := s.db.Q(ctx).ExecContext(ctx, `UPDATE oidc_auth_requests
SET done = 1, subject = ?, session_key = ?, auth_time = ?, amr = ?, attributes = ?
WHERE id = ? AND done = 0`,
		done.Subject, done.SessionKey, nullTime(done.AuthTime), amr, attrs, id)
	return s.settle(ctx, "complete authorization request", res, err, "oidc_auth_requests", "id", id, ErrConflict)
}

// SaveCode implements Store. It is a compare-and-set as well: the request
// must be done, without a code yet (ErrConflict otherwise). A request gets
// one code: whoever else asks for one — a reload, or someone who got hold of
// the request — gets none.
func (s *SQLStore) SaveCode(ctx context.Context, id, codeHash string, expiresAt time.Time) error {
	if codeHash == "" {
		return errors.New("openid: save code: empty code hash")
	}
	res, err := s.db.Q(ctx).ExecContext(ctx, `UPDATE oidc_auth_requests SET code_hash = ?, expires_at = ?
WHERE id = ? AND done = 1 AND grant_id = '' AND code_hash IS NULL`, codeHash, store.Time(expiresAt), id)
	return s.settle(ctx, "save code", res, err, "oidc_auth_requests", "id", id, ErrConflict)
}

// BindBrowser implements Store: a compare-and-set on an empty
// browser_hash.
func (s *SQLStore) BindBrowser(ctx context.Context, id, hash string) error {
	if hash == "" {
		return errors.New("openid: bind browser: empty hash")
	}
	res, err := s.db.Q(ctx).ExecContext(ctx, `UPDATE oidc_auth_requests SET browser_hash = ? WHERE id = ? AND browser_hash = ''`, hash, id)
	return s.settle(ctx, "bind browser", res, err, "oidc_auth_requests", "id", id, ErrConflict)
}

// RedeemCode implements Store: a compare-and-set on an empty grant_id,
// which one UPDATE of concurrent ones wins.
func (s *SQLStore) RedeemCode(ctx context.Context, id, grantID string) error {
	if grantID == "" {
		return errors.New("openid: redeem code: empty grant id")
	}
	res, err := s.db.Q(ctx).ExecContext(ctx, `UPDATE oidc_auth_requests SET grant_id = ? WHERE id = ? AND grant_id = ''`, grantID, id)
	return s.settle(ctx, "redeem code", res, err, "oidc_auth_requests", "id", id, ErrCodeUsed)
}

const grantColumns = `id, client_id, subject, session_key, scopes, auth_time, amr, attributes, revoked, created_at, expires_at`

// grantRow is a Grant as oidc_grants holds it.
type grantRow struct {
	ID         string       `db:"id"`
	ClientID   string       `db:"client_id"`
	Subject    string       `db:"subject"`
	SessionKey string       `db:"session_key"`
	Scopes     string       `db:"scopes"`
	AuthTime   sql.NullTime `db:"auth_time"`
	AMR        string       `db:"amr"`
	Attributes string       `db:"attributes"`
	Revoked    bool         `db:"revoked"`
	CreatedAt  time.Time    `db:"created_at"`
	ExpiresAt  time.Time    `db:"expires_at"`
}

func (r *grantRow) grant() (Grant, error) {
	attrs, err := decodeAttributes(r.Attributes)
	if err != nil {
		return Grant{}, fmt.Errorf("openid: grant %s: %w", r.ID, err)
	}
	return Grant{
		ID: r.ID, ClientID: r.ClientID, Subject: r.Subject, SessionKey: r.SessionKey, Scopes: splitList(r.Scopes),
		AuthTime: fromNullTime(r.AuthTime), AMR: splitList(r.AMR), Attributes: attrs, Revoked: r.Revoked,
		CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(),
	}, nil
}

// CreateGrant implements Store.
func (s *SQLStore) CreateGrant(ctx context.Context, g Grant) error {
	r := grantRow{ID: g.ID, ClientID: g.ClientID, Subject: g.Subject, SessionKey: g.SessionKey,
		AuthTime: nullTime(g.AuthTime), Revoked: g.Revoked, CreatedAt: store.Time(g.CreatedAt), ExpiresAt: store.Time(g.ExpiresAt)}
	var err error
	if r.Scopes, err = joinList("scopes", g.Scopes); err == nil {
		if r.AMR, err = joinList("amr", g.AMR); err == nil {
			r.Attributes, err = encodeAttributes(g.Attributes)
		}
	}
	if err != nil {
		return fmt.Errorf("openid: create grant: %w", err)
	}
	_, err = s.db.Q(ctx).NamedExecContext(ctx, `INSERT INTO oidc_grants (`+grantColumns+`) VALUES (
:id, :client_id, :subject, :session_key, :scopes, :auth_time, :amr, :attributes, :revoked, :created_at, :expires_at)`, &r)
	if err != nil {
		return fmt.Errorf("openid: create grant: %w", err)
	}
	return nil
}

// Grant implements Store.
func (s *SQLStore) Grant(ctx context.Context, id string) (Grant, error) {
	var r grantRow
	err := s.db.Q(ctx).GetContext(ctx, &r, `SELECT `+grantColumns+` FROM oidc_grants WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Grant{}, store.ErrNotFound
	}
	if err != nil {
		return Grant{}, fmt.Errorf("openid: read grant: %w", err)
	}
	return r.grant()
}

// RevokeGrant implements Store.
func (s *SQLStore) RevokeGrant(ctx context.Context, id string) error {
	if _, err := s.db.Q(ctx).ExecContext(ctx, `UPDATE oidc_grants SET revoked = 1 WHERE id = ?`, id); err != nil {
		return fmt.Errorf("openid: revoke grant: %w", err)
	}
	return nil
}

// RevokeSessionGrants implements Store. It reads the session's live grants
// (oldest first) and revokes each by a compare-and-set on revoked = 0,
// returning (as revoked) only those its own UPDATE revoked: of concurrent
// callers for one session, each grant is returned by exactly one, though
// several callers may each return some. A grant created in the session
// while this runs may be missed; the caller that ends a session must keep
// new grants from being made in it. An empty sessionKey names no session:
// nothing is revoked (not the grants made without one).
func (s *SQLStore) RevokeSessionGrants(ctx context.Context, sessionKey string) ([]Grant, error) {
	if sessionKey == "" {
		return nil, nil
	}
	var out []Grant
	err := s.db.Atomic(ctx, func(ctx context.Context) error {
		out = nil
		q := s.db.Q(ctx)
		if _, err := q.ExecContext(ctx, `UPDATE oidc_grants SET revoked = 1 WHERE session_key = ? AND revoked = 0`, sessionKey); err != nil {
			return fmt.Errorf("openid: revoke session grants: %w", err)
		}
		var rows []grantRow
		if err := q.SelectContext(ctx, &rows, `SELECT `+grantColumns+` FROM oidc_grants
WHERE session_key = ? ORDER BY created_at, id`, sessionKey); err != nil {
			return fmt.Errorf("openid: read session grants: %w", err)
		}
		for i := range rows {
			g, err := rows[i].grant()
			if err != nil {
				return err
			}
			out = append(out, g)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

const refreshColumns = `hash, grant_id, used, created_at, expires_at`

// CreateRefreshToken implements Store.
func (s *SQLStore) CreateRefreshToken(ctx context.Context, t RefreshToken) error {
	if err := s.insertRefreshToken(ctx, t); err != nil {
		return fmt.Errorf("openid: create refresh token: %w", err)
	}
	return nil
}

func (s *SQLStore) insertRefreshToken(ctx context.Context, t RefreshToken) error {
	_, err := s.db.Q(ctx).ExecContext(ctx, `INSERT INTO oidc_refresh_tokens (`+refreshColumns+`) VALUES (?, ?, ?, ?, ?)`,
		t.Hash, t.GrantID, t.Used, store.Time(t.CreatedAt), store.Time(t.ExpiresAt))
	return err
}

// RefreshToken implements Store.
func (s *SQLStore) RefreshToken(ctx context.Context, hash string) (RefreshToken, error) {
	var t RefreshToken
	err := s.db.Q(ctx).QueryRowxContext(ctx, `SELECT `+refreshColumns+` FROM oidc_refresh_tokens WHERE hash = ?`, hash).
		Scan(&t.Hash, &t.GrantID, &t.Used, &t.CreatedAt, &t.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return RefreshToken{}, store.ErrNotFound
	}
	if err != nil {
		return RefreshToken{}, fmt.Errorf("openid: read refresh token: %w", err)
	}
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	return t, nil
}

// RotateRefreshToken implements Store: a compare-and-set on used = 0 and the
// insert of next in one transaction (store.Atomic, so it joins the
// caller's), so that a failed insert leaves the old token unused.
func (s *SQLStore) RotateRefreshToken(ctx context.Context, oldHash string, next RefreshToken) error {
	return s.db.Atomic(ctx, func(ctx context.Context) error {
		res, err := s.db.Q(ctx).ExecContext(ctx, `UPDATE oidc_refresh_tokens SET used = 1 WHERE hash = ? AND used = 0`, oldHash)
		if err := s.settle(ctx, "rotate refresh token", res, err, "oidc_refresh_tokens", "hash", oldHash, ErrTokenReused); err != nil {
			return err
		}
		if err := s.insertRefreshToken(ctx, next); err != nil {
			return fmt.Errorf("openid: rotate refresh token: store the next: %w", err)
		}
		return nil
	})
}

const keyColumns = `id, generation, algorithm, sealed, created_at, active_from, expires_at`

// AddSigningKey implements Store. A key whose id or generation exists is
// ErrConflict.
func (s *SQLStore) AddSigningKey(ctx context.Context, k SigningKey) error {
	sealed := k.Sealed
	if sealed == nil {
		sealed = []byte{} // nil would be NULL
	}
	_, err := s.db.Q(ctx).ExecContext(ctx, `INSERT INTO oidc_signing_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Generation, k.Algorithm, sealed, store.Time(k.CreatedAt), store.Time(k.ActiveFrom), store.Time(k.ExpiresAt))
	if store.IsDuplicate(err) {
		// Not wrapping the driver's error: store.Atomic would take the
		// duplicate for a race to retry, and the key exists either way.
		return fmt.Errorf("openid: add signing key %s of generation %d: %w", k.ID, k.Generation, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("openid: add signing key: %w", err)
	}
	return nil
}

// SigningKeys implements Store.
func (s *SQLStore) SigningKeys(ctx context.Context, now time.Time) ([]SigningKey, error) {
	rows, err := s.db.Q(ctx).QueryxContext(ctx, `SELECT `+keyColumns+` FROM oidc_signing_keys
WHERE expires_at > ? ORDER BY generation`, store.Time(now))
	if err != nil {
		return nil, fmt.Errorf("openid: read signing keys: %w", err)
	}
	defer rows.Close()
	var keys []SigningKey
	for rows.Next() {
		var k SigningKey
		if err := rows.Scan(&k.ID, &k.Generation, &k.Algorithm, &k.Sealed, &k.CreatedAt, &k.ActiveFrom, &k.ExpiresAt); err != nil {
			return nil, fmt.Errorf("openid: read signing keys: %w", err)
		}
		k.CreatedAt, k.ActiveFrom, k.ExpiresAt = k.CreatedAt.UTC(), k.ActiveFrom.UTC(), k.ExpiresAt.UTC()
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("openid: read signing keys: %w", err)
	}
	return keys, nil
}

// cleanupTables are the tables Cleanup empties of expired rows. No refresh
// token outlives its grant, so deleting by each row's own expiry leaves
// no token without its grant.
var cleanupTables = []string{"oidc_auth_requests", "oidc_refresh_tokens", "oidc_grants", "oidc_signing_keys"}

// Cleanup implements Store: batched deletes through each table's expires_at
// index (store.DeleteBatched), so that logins never wait on it. The rate
// counters in oidc_rate_counters are ratelimit.Limiter.Cleanup's.
func (s *SQLStore) Cleanup(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for _, table := range cleanupTables {
		n, err := s.db.DeleteBatched(ctx, table, "expires_at <= ?", store.CleanupBatch, store.Time(now))
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// settle turns the result of a compare-and-set UPDATE of the row whose key
// column is key into the method's answer: nil when the UPDATE changed the
// row, lost when the row exists but was not in the state the UPDATE asked
// for, store.ErrNotFound when there is no such row.
func (s *SQLStore) settle(ctx context.Context, what string, res sql.Result, err error, table, column, key string, lost error) error {
	if err != nil {
		return fmt.Errorf("openid: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("openid: %s: %w", what, err)
	}
	if n > 0 {
		return nil
	}
	// A locking read on MySQL: inside a caller's transaction a plain read
	// would see the transaction's snapshot, which may predate the row that
	// the UPDATE, reading the latest version, found in the wrong state.
	lock := ""
	if s.db.Dialect == store.MySQL {
		lock = " LOCK IN SHARE MODE"
	}
	var one int
	err = s.db.Q(ctx).GetContext(ctx, &one, `SELECT 1 FROM `+table+` WHERE `+column+` = ?`+lock, key)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("openid: %s: %w", what, err)
	}
	return lost
}

// joinList stores a list as its elements joined by spaces. An element that
// is empty or holds white space is refused: it would not come back as it
// went in.
func joinList(name string, l []string) (string, error) {
	for _, e := range l {
		if e == "" || strings.ContainsFunc(e, unicode.IsSpace) {
			return "", fmt.Errorf("%s: element %q is empty or holds white space", name, e)
		}
	}
	return strings.Join(l, " "), nil
}

// splitList reads a list back; the empty list is nil.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Fields(s)
}

// encodeAttributes stores attributes as a JSON object ("{}" for none).
func encodeAttributes(m map[string][]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode attributes: %w", err)
	}
	return string(b), nil
}

// decodeAttributes reads attributes back; no attributes is nil.
func decodeAttributes(s string) (map[string][]string, error) {
	var m map[string][]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decode attributes: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// nullTime stores a zero time as NULL.
func nullTime(t time.Time) sql.NullTime {
	if t.IsZero() {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: store.Time(t), Valid: true}
}

func fromNullTime(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}
