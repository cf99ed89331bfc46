package binding

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"wxcas/store"
)

// ErrPhoneTaken: the phone number belongs to another user.
var ErrPhoneTaken = errors.New("binding: the phone number belongs to another user")

// Binding is a WeChat person's binding with what is stored about it.
type Binding struct {
	IdentityKey string        // 'u:<unionid>' or 'o:<appid>:<openid>'
	UserID      string        // "" when the person is not bound
	BoundAt     time.Time     // zero when not bound
	Accounts    []SeenAccount // every app account of the person, first seen first
}

// Inventory is the view of bindings that people and operators need beyond a
// login: by user, by openid or unionid, removal by user, and a walk over
// all of them.
type Inventory interface {
	// BindingOf returns the user's binding; ErrNotFound when there is none.
	BindingOf(ctx context.Context, userID string) (Binding, error)
	// FindByOpenID returns every person with an account of that openid in
	// any app, bound or not, by identity key; an empty slice when none.
	FindByOpenID(ctx context.Context, openid string) ([]Binding, error)
	// FindByUnionID returns the person with that unionid, bound or not;
	// ErrNotFound when nothing is stored about it.
	FindByUnionID(ctx context.Context, unionid string) (Binding, error)
	// UnbindUser removes the user's binding atomically and returns what was
	// removed; ErrNotFound when there was none.
	UnbindUser(ctx context.Context, userID string) (Binding, error)
	// EachBinding calls fn for every binding, with its accounts, in
	// identity key order; fn's error stops the walk and is returned.
	EachBinding(ctx context.Context, fn func(Binding) error) error
}

// PhoneChanger is a directory where a user's phone number can change.
type PhoneChanger interface {
	// ChangePhone gives the user the phone number (E.164): ErrNotFound for
	// an unknown user, ErrPhoneTaken when another user has the number.
	ChangePhone(ctx context.Context, userID, phone string) error
}

var (
	_ Inventory    = (*SQLStore)(nil)
	_ PhoneChanger = (*SQLStore)(nil)
)

type bindingRow struct {
	Key       string    `db:"identity_key"`
	UserID    string    `db:"user_id"`
	CreatedAt time.Time `db:"created_at"`
}

func (r bindingRow) binding(accounts []SeenAccount) Binding {
	return Binding{IdentityKey: r.Key, UserID: r.UserID, BoundAt: r.CreatedAt.UTC(), Accounts: accounts}
}

// BindingOf implements Inventory.
func (s *SQLStore) BindingOf(ctx context.Context, userID string) (Binding, error) {
	return s.bindingOf(ctx, s.db.Q(ctx), userID, "")
}

// bindingOf reads the user's binding and the person's accounts; lock is
// appended to the binding's SELECT.
func (s *SQLStore) bindingOf(ctx context.Context, q sqlx.QueryerContext, userID, lock string) (Binding, error) {
	var r bindingRow
	err := sqlx.GetContext(ctx, q, &r, `SELECT identity_key, user_id, created_at FROM wechat_bindings WHERE user_id = ?`+lock, userID)
	if errors.Is(err, sql.ErrNoRows) {
		return Binding{}, ErrNotFound
	}
	if err != nil {
		return Binding{}, err
	}
	accounts, err := accountsOf(ctx, q, []string{r.Key})
	if err != nil {
		return Binding{}, err
	}
	return r.binding(accounts[r.Key]), nil
}

// UnbindUser implements Inventory. It joins the transaction of a
// store.Atomic the context carries, so that the removal commits with its
// audit event.
func (s *SQLStore) UnbindUser(ctx context.Context, userID string) (Binding, error) {
	lock := ""
	if s.db.Dialect == store.MySQL {
		// SQLite's transactions hold the write lock from BEGIN already.
		lock = " FOR UPDATE"
	}
	var removed Binding
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		b, err := s.bindingOf(ctx, tx, userID, lock)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM wechat_bindings WHERE user_id = ?`, userID); err != nil {
			return err
		}
		removed = b
		return nil
	})
	return removed, err
}

// FindByUnionID implements Inventory.
func (s *SQLStore) FindByUnionID(ctx context.Context, unionid string) (Binding, error) {
	if unionid == "" {
		return Binding{}, ErrNotFound
	}
	persons, err := s.persons(ctx, []string{identityKey("", "", unionid)})
	if err != nil {
		return Binding{}, err
	}
	if len(persons) == 0 {
		return Binding{}, ErrNotFound
	}
	return persons[0], nil
}

// FindByOpenID implements Inventory. An openid is unique to its app, so
// two apps' accounts of one openid are two persons unless a unionid joins
// them.
func (s *SQLStore) FindByOpenID(ctx context.Context, openid string) ([]Binding, error) {
	var rows []accountRow
	if err := sqlx.SelectContext(ctx, s.db.Q(ctx), &rows, accountColumns+`WHERE openid = ?`, openid); err != nil {
		return nil, err
	}
	var keys []string
	for _, r := range rows {
		keys = append(keys, identityKey(r.AppID, r.OpenID, r.UnionID.String))
	}
	slices.Sort(keys)
	return s.persons(ctx, slices.Compact(keys))
}

// persons returns the persons of the identity keys (sorted, distinct),
// bound or not, leaving out those nothing is stored about.
func (s *SQLStore) persons(ctx context.Context, keys []string) ([]Binding, error) {
	q := s.db.Q(ctx)
	accounts, err := accountsOf(ctx, q, keys)
	if err != nil {
		return nil, err
	}
	// A person's binding is under its unionid key or, made before the
	// unionid was known and not moved yet, under one of its accounts'
	// openid keys (Seen moves it at the next sighting).
	var candidates []string
	for _, k := range keys {
		candidates = append(candidates, k)
		for _, a := range accounts[k] {
			candidates = append(candidates, identityKey(a.AppID, a.OpenID, ""))
		}
	}
	bound, err := bindingsAt(ctx, q, candidates)
	if err != nil {
		return nil, err
	}
	out := []Binding{}
	for _, k := range keys {
		r, ok := bound[k]
		for _, a := range accounts[k] {
			if ok {
				break
			}
			r, ok = bound[identityKey(a.AppID, a.OpenID, "")]
		}
		switch {
		case ok:
			out = append(out, r.binding(accounts[k]))
		case len(accounts[k]) > 0:
			out = append(out, Binding{IdentityKey: k, Accounts: accounts[k]})
		}
	}
	return out, nil
}

// bindingsAt returns the bindings under any of the keys, by key.
func bindingsAt(ctx context.Context, q sqlx.QueryerContext, keys []string) (map[string]bindingRow, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	query, args, err := sqlx.In(`SELECT identity_key, user_id, created_at FROM wechat_bindings WHERE identity_key IN (?)`, keys)
	if err != nil {
		return nil, err
	}
	var rows []bindingRow
	if err := sqlx.SelectContext(ctx, q, &rows, query, args...); err != nil {
		return nil, err
	}
	out := make(map[string]bindingRow, len(rows))
	for _, r := range rows {
		out[r.Key] = r
	}
	return out, nil
}

// accountsOf returns the app accounts of the persons behind identity keys,
// by key, each first seen first: a unionid key's accounts share the
// unionid; an openid key's are its own account and, when that account has
// learnt a unionid since (its binding not moved yet), the accounts sharing
// it. At most three SELECTs, whatever the number of keys.
func accountsOf(ctx context.Context, q sqlx.QueryerContext, keys []string) (map[string][]SeenAccount, error) {
	var unionids []string
	var pairs []string
	var pairArgs []any
	for _, k := range keys {
		switch appid, openid, unionid := splitKey(k); {
		case unionid != "":
			unionids = append(unionids, unionid)
		case appid != "":
			pairs = append(pairs, `(appid = ? AND openid = ?)`)
			pairArgs = append(pairArgs, appid, openid)
		}
	}
	var rows []accountRow
	if len(pairs) > 0 {
		if err := sqlx.SelectContext(ctx, q, &rows, accountColumns+`WHERE `+strings.Join(pairs, " OR "), pairArgs...); err != nil {
			return nil, err
		}
		for _, r := range rows {
			if r.UnionID.Valid && !slices.Contains(unionids, r.UnionID.String) {
				unionids = append(unionids, r.UnionID.String)
			}
		}
	}
	byPair := map[[2]string]accountRow{}
	byUnion := map[string][]SeenAccount{}
	add := func(r accountRow) {
		k := [2]string{r.AppID, r.OpenID}
		if _, dup := byPair[k]; dup {
			return
		}
		byPair[k] = r
		if r.UnionID.Valid {
			byUnion[r.UnionID.String] = append(byUnion[r.UnionID.String], r.seen())
		}
	}
	for _, r := range rows {
		add(r)
	}
	if len(unionids) > 0 {
		query, args, err := sqlx.In(accountColumns+`WHERE unionid IN (?)`, unionids)
		if err != nil {
			return nil, err
		}
		var more []accountRow
		if err := sqlx.SelectContext(ctx, q, &more, query, args...); err != nil {
			return nil, err
		}
		for _, r := range more {
			add(r)
		}
	}
	out := make(map[string][]SeenAccount, len(keys))
	for _, k := range keys {
		appid, openid, unionid := splitKey(k)
		if r, ok := byPair[[2]string{appid, openid}]; ok && unionid == "" {
			if !r.UnionID.Valid {
				out[k] = []SeenAccount{r.seen()}
				continue
			}
			unionid = r.UnionID.String
		}
		accounts := slices.Clone(byUnion[unionid])
		slices.SortFunc(accounts, func(a, b SeenAccount) int {
			return cmp.Or(a.FirstSeen.Compare(b.FirstSeen), cmp.Compare(a.AppID, b.AppID), cmp.Compare(a.OpenID, b.OpenID))
		})
		out[k] = accounts
	}
	return out, nil
}

// splitKey is identityKey's inverse: an openid key gives appid and openid,
// a unionid key the unionid. (appids never hold a colon.)
func splitKey(key string) (appid, openid, unionid string) {
	if u, ok := strings.CutPrefix(key, "u:"); ok {
		return "", "", u
	}
	if rest, ok := strings.CutPrefix(key, "o:"); ok {
		appid, openid, _ = strings.Cut(rest, ":")
	}
	return appid, openid, ""
}

// eachBatch is how many bindings EachBinding reads at a time.
const eachBatch = 500

// EachBinding implements Inventory. Bindings are read eachBatch at a time
// by identity key (keyset pagination on the primary key), with their
// accounts, and fn is called after the batch's reads are done: fn may use
// the database, and at most one batch is held in memory. Each batch is read
// on its own, so a binding made or removed during the walk may or may not
// be seen.
func (s *SQLStore) EachBinding(ctx context.Context, fn func(Binding) error) error {
	after := ""
	for {
		var rows []bindingRow
		err := s.db.SelectContext(ctx, &rows, `SELECT identity_key, user_id, created_at FROM wechat_bindings
WHERE identity_key > ? ORDER BY identity_key LIMIT ?`, after, eachBatch)
		if err != nil {
			return fmt.Errorf("binding: read bindings: %w", err)
		}
		keys := make([]string, len(rows))
		for i, r := range rows {
			keys[i] = r.Key
		}
		accounts, err := accountsOf(ctx, s.db, keys)
		if err != nil {
			return fmt.Errorf("binding: read accounts: %w", err)
		}
		for _, r := range rows {
			if err := fn(r.binding(accounts[r.Key])); err != nil {
				return err
			}
		}
		if len(rows) < eachBatch {
			return nil
		}
		after = rows[len(rows)-1].Key
	}
}

// ChangePhone implements PhoneChanger on the built-in users table. The
// users_phone unique key decides a race between two users for one number.
// It joins the transaction of a store.Atomic the context carries.
func (s *SQLStore) ChangePhone(ctx context.Context, userID, phone string) error {
	if phone == "" {
		return errors.New("binding: phone required")
	}
	q := s.db.Q(ctx)
	res, err := q.ExecContext(ctx, `UPDATE users SET phone = ? WHERE id = ?`, phone, userID)
	if store.IsDuplicate(err) {
		return ErrPhoneTaken
	}
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	// MySQL counts changed rows: the user may already have the number.
	var n int
	if err := sqlx.GetContext(ctx, q, &n, `SELECT COUNT(*) FROM users WHERE id = ?`, userID); err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// BatchDirectory is a directory that finds many users with one query: an
// export of every binding asks for each binding's user.
type BatchDirectory interface {
	// FindByIDs returns the users of the ids it has, by id; ids it does
	// not have are absent.
	FindByIDs(ctx context.Context, ids []string) (map[string]User, error)
}

var _ BatchDirectory = (*SQLStore)(nil)

// FindByIDs implements BatchDirectory on the built-in users table.
func (s *SQLStore) FindByIDs(ctx context.Context, ids []string) (map[string]User, error) {
	out := make(map[string]User, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	query, args, err := sqlx.In(`SELECT id, phone FROM users WHERE id IN (?)`, ids)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		ID    string `db:"id"`
		Phone string `db:"phone"`
	}
	if err := sqlx.SelectContext(ctx, s.db.Q(ctx), &rows, query, args...); err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.ID] = User{ID: r.ID, Phone: r.Phone}
	}
	return out, nil
}
