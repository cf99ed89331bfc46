package binding

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"wxcas/store"
)

// SQLStore implements Store and the built-in Directory on wxcas's database.
type SQLStore struct {
	db *store.DB
	// usersDirectory: the users table is the directory in use, so Bind
	// checks (under a lock) that the user still exists; see UseAsDirectory.
	usersDirectory bool
}

// UseAsDirectory says the store's users table is the user directory in use
// (not an organisation's SQL directory). Bind then refuses a user that is
// gone, locking its row: CleanupOrphanUsers, which deletes users without a
// binding, can never remove a user that a concurrent Bind is linking.
func (s *SQLStore) UseAsDirectory() { s.usersDirectory = true }

// NewSQLStore returns the store on db (MySQL or SQLite).
func NewSQLStore(db *store.DB) *SQLStore { return &SQLStore{db: db} }

var (
	_ Store     = (*SQLStore)(nil)
	_ Directory = (*SQLStore)(nil)
)

func (s *SQLStore) upsertAccount(ctx context.Context, tx *sqlx.Tx, a Account, now time.Time) error {
	q := `INSERT INTO wechat_accounts (appid, openid, unionid, nickname, avatar_url, first_seen_at, last_seen_at)
VALUES (?, ?, ?, ?, ?, ?, ?)`
	if s.db.Dialect == store.MySQL {
		q += ` ON DUPLICATE KEY UPDATE
  unionid = COALESCE(unionid, VALUES(unionid)),
  nickname = IF(VALUES(nickname) = '', nickname, VALUES(nickname)),
  avatar_url = IF(VALUES(avatar_url) = '', avatar_url, VALUES(avatar_url)),
  last_seen_at = VALUES(last_seen_at)`
	} else {
		q += ` ON CONFLICT (appid, openid) DO UPDATE SET
  unionid = COALESCE(unionid, excluded.unionid),
  nickname = CASE WHEN excluded.nickname = '' THEN nickname ELSE excluded.nickname END,
  avatar_url = CASE WHEN excluded.avatar_url = '' THEN avatar_url ELSE excluded.avatar_url END,
  last_seen_at = excluded.last_seen_at`
	}
	t := store.Time(now)
	_, err := tx.ExecContext(ctx, q, a.AppID, a.OpenID, nullable(a.UnionID), a.Nickname, a.AvatarURL, t, t)
	return err
}

// storedUnionID returns the unionid recorded for the app account, if any: a
// login that did not reveal it (snsapi_base) still finds the person.
func storedUnionID(ctx context.Context, q sqlx.QueryerContext, a Account) (string, error) {
	var u sql.NullString
	err := sqlx.GetContext(ctx, q, &u, `SELECT unionid FROM wechat_accounts WHERE appid = ? AND openid = ?`, a.AppID, a.OpenID)
	if errors.Is(err, sql.ErrNoRows) {
		return a.UnionID, nil
	}
	if err != nil {
		return "", err
	}
	if a.UnionID != "" {
		return a.UnionID, nil
	}
	return u.String, nil
}

// SeenPrecision is how stale an account's last_seen_at may be left: a
// returning login within it records nothing, so that it costs one read and
// no write (last seen is for people and operators, to the hour).
const SeenPrecision = time.Hour

// SeenUser is Seen for a store that is also the directory in use
// (UseAsDirectory): the user comes back with the sighting, found by the
// same SELECT in the usual case. ok false: not answered here (another
// directory, or a bound user the users table no longer has); ask Seen and
// the directory.
func (s *SQLStore) SeenUser(ctx context.Context, a Account, now time.Time) (u User, ok bool, err error) {
	if !s.usersDirectory || a.AppID == "" || a.OpenID == "" {
		return User{}, false, nil
	}
	seen, ok, err := s.seenBefore(ctx, a, now)
	switch {
	case err != nil:
		return User{}, false, err
	case !ok || seen.userID != "" && !seen.phone.Valid:
		return User{}, false, nil
	case seen.userID == "":
		return User{}, true, ErrNotFound
	}
	return User{ID: seen.userID, Phone: seen.phone.String}, true, nil
}

// Seen implements Store. The usual case, a returning person whose account
// row already says everything this sighting does, is one SELECT that also
// finds the binding; anything to record (a new account, a unionid, a new
// nickname or avatar, a last sighting older than SeenPrecision, a binding
// still under the openid key) takes the transaction.
func (s *SQLStore) Seen(ctx context.Context, a Account, now time.Time) (string, error) {
	if a.AppID == "" || a.OpenID == "" {
		return "", ErrInvalidAccount
	}
	if seen, ok, err := s.seenBefore(ctx, a, now); err != nil || ok {
		if err == nil && seen.userID == "" {
			err = ErrNotFound
		}
		return seen.userID, err
	}
	var userID string
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.upsertAccount(ctx, tx, a, now); err != nil {
			return fmt.Errorf("record wechat account: %w", err)
		}
		unionid, err := storedUnionID(ctx, tx, a)
		if err != nil {
			return err
		}
		if unionid != "" {
			userID, err = s.promoteKey(ctx, tx, a, unionid)
			return err
		}
		userID, err = boundUser(ctx, tx, identityKey(a.AppID, a.OpenID, ""))
		return err
	})
	if err != nil {
		return "", err
	}
	if userID == "" {
		return "", ErrNotFound
	}
	return userID, nil
}

// sighting is what seenBefore read: the user bound to the person, and
// that user's phone from the users table (null without such a user).
type sighting struct {
	userID string
	phone  sql.NullString
}

// seenBefore answers Seen from one read when the sighting adds nothing to
// the account's row: ok false sends Seen to its transaction.
func (s *SQLStore) seenBefore(ctx context.Context, a Account, now time.Time) (seen sighting, ok bool, err error) {
	unionKey := `CONCAT('u:', acc.unionid)`
	if s.db.Dialect == store.SQLite {
		unionKey = `'u:' || acc.unionid`
	}
	var r struct {
		UnionID   sql.NullString `db:"unionid"`
		Nickname  string         `db:"nickname"`
		AvatarURL string         `db:"avatar_url"`
		LastSeen  time.Time      `db:"last_seen_at"`
		ByUnion   sql.NullString `db:"by_union"`
		ByOpenID  sql.NullString `db:"by_openid"`
		Phone     sql.NullString `db:"phone"`
	}
	// The person's binding is under the unionid key when the row knows the
	// unionid, else under the openid key; the user is the one bound.
	err = sqlx.GetContext(ctx, s.db.P(ctx), &r, `SELECT x.*, u.phone FROM (
  SELECT acc.unionid, acc.nickname, acc.avatar_url, acc.last_seen_at,
    (SELECT user_id FROM wechat_bindings WHERE identity_key = `+unionKey+`) AS by_union,
    (SELECT user_id FROM wechat_bindings WHERE identity_key = ?) AS by_openid
  FROM wechat_accounts acc WHERE acc.appid = ? AND acc.openid = ?) x
LEFT JOIN users u ON u.id = CASE WHEN x.unionid IS NULL THEN x.by_openid ELSE x.by_union END`,
		identityKey(a.AppID, a.OpenID, ""), a.AppID, a.OpenID)
	if errors.Is(err, sql.ErrNoRows) {
		return sighting{}, false, nil // first sighting
	}
	if err != nil {
		return sighting{}, false, err
	}
	switch {
	case a.UnionID != "" && a.UnionID != r.UnionID.String,
		a.Nickname != "" && a.Nickname != r.Nickname,
		a.AvatarURL != "" && a.AvatarURL != r.AvatarURL,
		store.Time(now).Sub(r.LastSeen) >= SeenPrecision,
		r.UnionID.Valid && r.ByOpenID.Valid: // a binding to move to the unionid key
		return sighting{}, false, nil
	case r.UnionID.Valid:
		return sighting{userID: r.ByUnion.String, phone: r.Phone}, true, nil
	}
	return sighting{userID: r.ByOpenID.String, phone: r.Phone}, true, nil
}

// promoteKey returns the user bound under the account's unionid key. A
// binding made before the unionid was known moves to that key, unless the
// person is already bound under it. The usual case, a person bound under
// the unionid, is one SELECT.
func (s *SQLStore) promoteKey(ctx context.Context, tx *sqlx.Tx, a Account, unionid string) (string, error) {
	old, newKey := identityKey(a.AppID, a.OpenID, ""), identityKey(a.AppID, a.OpenID, unionid)
	existing, err := boundUser(ctx, tx, newKey)
	if err != nil || existing != "" {
		return existing, err
	}
	res, err := tx.ExecContext(ctx, `UPDATE wechat_bindings SET identity_key = ? WHERE identity_key = ?`, newKey, old)
	if err != nil {
		return "", err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return "", err // bound under neither key
	}
	return boundUser(ctx, tx, newKey)
}

func boundUser(ctx context.Context, q sqlx.QueryerContext, key string) (string, error) {
	var id string
	err := sqlx.GetContext(ctx, q, &id, `SELECT user_id FROM wechat_bindings WHERE identity_key = ?`, key)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// Bind implements Store.
func (s *SQLStore) Bind(ctx context.Context, a Account, userID string, replace bool, now time.Time) error {
	if a.AppID == "" || a.OpenID == "" || userID == "" {
		return ErrInvalidAccount
	}
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.upsertAccount(ctx, tx, a, now); err != nil {
			return err
		}
		unionid, err := storedUnionID(ctx, tx, a)
		if err != nil {
			return err
		}
		key := identityKey(a.AppID, a.OpenID, unionid)
		switch current, err := boundUser(ctx, tx, key); {
		case err != nil:
			return err
		case current == userID:
			return nil
		case current != "":
			return ErrPersonBound
		}
		var otherKey string
		err = sqlx.GetContext(ctx, tx, &otherKey, `SELECT identity_key FROM wechat_bindings WHERE user_id = ?`, userID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case !replace:
			return ErrUserBound
		default:
			if _, err := tx.ExecContext(ctx, `DELETE FROM wechat_bindings WHERE identity_key = ?`, otherKey); err != nil {
				return err
			}
		}
		if s.usersDirectory {
			// The shared lock waits for a clean-up deleting this user and
			// keeps it from starting until the binding is committed.
			var wasBound []bool
			lock := ""
			if s.db.Dialect == store.MySQL {
				lock = " LOCK IN SHARE MODE"
			}
			if err := sqlx.SelectContext(ctx, tx, &wasBound, `SELECT was_bound FROM users WHERE id = ?`+lock, userID); err != nil {
				return err
			}
			if len(wasBound) == 0 {
				return fmt.Errorf("user %s no longer exists: %w", userID, ErrNotFound)
			}
			if !wasBound[0] {
				// A user once bound is a person, kept when unbound later
				// (the account page, an operator): the orphan clean-up
				// is only for users a failed first login left behind.
				if _, err := tx.ExecContext(ctx, `UPDATE users SET was_bound = 1 WHERE id = ?`, userID); err != nil {
					return err
				}
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO wechat_bindings (identity_key, user_id, created_at) VALUES (?, ?, ?)`, key, userID, store.Time(now))
		return err
	})
	if store.IsDuplicate(err) && !s.db.InAtomic(ctx) {
		// Another instance bound one side between our checks and our insert:
		// report which side is taken now. (Inside store.Atomic the whole
		// change runs again on fresh data instead, which finds out the same.)
		return s.conflict(ctx, a, userID)
	}
	return err
}

func (s *SQLStore) conflict(ctx context.Context, a Account, userID string) error {
	unionid, err := storedUnionID(ctx, s.db, a)
	if err != nil {
		return err
	}
	current, err := boundUser(ctx, s.db, identityKey(a.AppID, a.OpenID, unionid))
	switch {
	case err != nil:
		return err
	case current == userID:
		return nil
	case current != "":
		return ErrPersonBound
	}
	return ErrUserBound
}

// Unbind implements Store.
func (s *SQLStore) Unbind(ctx context.Context, a Account) error {
	unionid, err := storedUnionID(ctx, s.db, a)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `DELETE FROM wechat_bindings WHERE identity_key = ?`, identityKey(a.AppID, a.OpenID, unionid))
	return err
}

type accountRow struct {
	AppID     string         `db:"appid"`
	OpenID    string         `db:"openid"`
	UnionID   sql.NullString `db:"unionid"`
	Nickname  string         `db:"nickname"`
	AvatarURL string         `db:"avatar_url"`
	FirstSeen time.Time      `db:"first_seen_at"`
	LastSeen  time.Time      `db:"last_seen_at"`
}

const accountColumns = `SELECT appid, openid, unionid, nickname, avatar_url, first_seen_at, last_seen_at FROM wechat_accounts `

func (r accountRow) seen() SeenAccount {
	return SeenAccount{
		Account:   Account{AppID: r.AppID, OpenID: r.OpenID, UnionID: r.UnionID.String, Nickname: r.Nickname, AvatarURL: r.AvatarURL},
		FirstSeen: r.FirstSeen, LastSeen: r.LastSeen,
	}
}

// Accounts implements Store.
func (s *SQLStore) Accounts(ctx context.Context, a Account) ([]SeenAccount, error) {
	unionid, err := storedUnionID(ctx, s.db, a)
	if err != nil {
		return nil, err
	}
	var rows []accountRow
	if unionid != "" {
		err = s.db.SelectContext(ctx, &rows, accountColumns+`WHERE unionid = ? OR (appid = ? AND openid = ?) ORDER BY first_seen_at, appid`, unionid, a.AppID, a.OpenID)
	} else {
		err = s.db.SelectContext(ctx, &rows, accountColumns+`WHERE appid = ? AND openid = ?`, a.AppID, a.OpenID)
	}
	if err != nil {
		return nil, err
	}
	out := make([]SeenAccount, len(rows))
	for i, r := range rows {
		out[i] = r.seen()
	}
	return out, nil
}

// FindByPhone implements Directory.
func (s *SQLStore) FindByPhone(ctx context.Context, phone string) (User, error) {
	return s.findUser(ctx, `SELECT id, phone FROM users WHERE phone = ?`, phone)
}

// FindByID implements Directory.
func (s *SQLStore) FindByID(ctx context.Context, id string) (User, error) {
	return s.findUser(ctx, `SELECT id, phone FROM users WHERE id = ?`, id)
}

func (s *SQLStore) findUser(ctx context.Context, q, arg string) (User, error) {
	var u User
	err := s.db.P(ctx).QueryRowxContext(ctx, q, arg).Scan(&u.ID, &u.Phone)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	return u, err
}

// Create implements Directory. User ids are random ("u" + 16 base32
// characters): they are released to sites as the CAS principal, so they must
// not reveal the phone number or the order of sign-ups.
func (s *SQLStore) Create(ctx context.Context, phone string, now time.Time) (User, error) {
	if phone == "" {
		return User{}, errors.New("binding: phone required")
	}
	u := User{ID: newUserID(), Phone: phone}
	_, err := s.db.Q(ctx).ExecContext(ctx, `INSERT INTO users (id, phone, created_at) VALUES (?, ?, ?)`, u.ID, u.Phone, store.Time(now))
	if store.IsDuplicate(err) && !s.db.InAtomic(ctx) {
		// Inside store.Atomic the duplicate goes back to it: the
		// transaction's snapshot may not show the other request's user yet,
		// and the fresh run that follows does.
		return s.FindByPhone(ctx, phone)
	}
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// newUserID is "u" and 16 characters (80 bits) of rand.Text, the one
// source of random ids.
func newUserID() string { return "u" + strings.ToLower(rand.Text()[:16]) }

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
