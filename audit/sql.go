package audit

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"wxcas/logx"
	"wxcas/store"
)

// SQL stores events in wxcas's database (table audit_events). Record returns
// database errors; wrap it with Best where a failure must not stop a login.
type SQL struct{ db *store.DB }

// NewSQL returns the store on db (MySQL or SQLite).
func NewSQL(db *store.DB) *SQL { return &SQL{db: db} }

var _ Store = (*SQL)(nil)

type row struct {
	ID        int64     `db:"id"`
	At        time.Time `db:"at"`
	Kind      string    `db:"kind"`
	Outcome   string    `db:"outcome"`
	UserID    string    `db:"user_id"`
	AppID     string    `db:"appid"`
	OpenID    string    `db:"openid"`
	UnionID   string    `db:"unionid"`
	Channel   string    `db:"channel"`
	ClientIP  string    `db:"client_ip"`
	Service   string    `db:"service"`
	RequestID string    `db:"request_id"`
	Phone     string    `db:"phone"`
	Actor     string    `db:"actor"`
	Detail    string    `db:"detail"`
}

const columns = `at, kind, outcome, user_id, appid, openid, unionid, channel, client_ip, service, request_id, phone, actor, detail`

// Record implements Log.
func (s *SQL) Record(ctx context.Context, e Event) error {
	e, err := Normalize(ctx, e)
	if err != nil {
		return err
	}
	// Positional and prepared (store.DB.P): every login writes one.
	_, err = s.db.P(ctx).ExecContext(ctx, `INSERT INTO audit_events (`+columns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		store.Time(e.At), e.Kind, e.Outcome, e.UserID, e.AppID, e.OpenID, e.UnionID, e.Channel, e.ClientIP, e.Service, e.RequestID, e.Phone,
		e.Actor, e.Detail)
	return err
}

// List implements Store. The order, time then id, is the one the indexes
// (at), (user_id, at), (kind, at) and (phone, at) keep (InnoDB and SQLite
// append the id to each), so a page reads about Limit rows through one of
// them; BeforeID continues from its event in that order (keyset paging).
func (s *SQL) List(ctx context.Context, f Filter) ([]Event, error) {
	q := `SELECT id, ` + columns + ` FROM audit_events WHERE 1 = 1`
	var args []any
	for _, c := range []struct{ col, val string }{
		{"user_id", f.UserID}, {"phone", logx.MaskPhone(f.Phone)}, {"kind", f.Kind}, {"outcome", f.Outcome},
		{"channel", f.Channel}, {"service", f.Service}, {"actor", f.Actor},
	} {
		if c.val != "" {
			q += ` AND ` + c.col + ` = ?`
			args = append(args, c.val)
		}
	}
	if !f.Since.IsZero() {
		q += ` AND at >= ?`
		args = append(args, store.Time(f.Since))
	}
	if !f.Until.IsZero() {
		q += ` AND at < ?`
		args = append(args, store.Time(f.Until))
	}
	if f.BeforeID > 0 {
		var at time.Time
		err := s.db.GetContext(ctx, &at, `SELECT at FROM audit_events WHERE id = ?`, f.BeforeID)
		if errors.Is(err, sql.ErrNoRows) {
			return []Event{}, nil
		}
		if err != nil {
			return nil, err
		}
		q += ` AND (at < ? OR at = ? AND id < ?)`
		args = append(args, store.Time(at), store.Time(at), f.BeforeID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	q += ` ORDER BY at DESC, id DESC LIMIT ?`
	args = append(args, min(limit, MaxLimit))

	var rows []row
	if err := s.db.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, err
	}
	out := make([]Event, len(rows))
	for i, r := range rows {
		out[i] = Event{
			ID: r.ID, At: r.At.UTC(), Kind: r.Kind, Outcome: r.Outcome, UserID: r.UserID,
			AppID: r.AppID, OpenID: r.OpenID, UnionID: r.UnionID, Channel: r.Channel,
			ClientIP: r.ClientIP, Service: r.Service, RequestID: r.RequestID, Phone: r.Phone,
			Actor: r.Actor, Detail: r.Detail,
		}
	}
	return out, nil
}

// Cleanup implements Store: batched deletes through the at index
// (store.DeleteBatched), so retention never holds long locks.
func (s *SQL) Cleanup(ctx context.Context, before time.Time) (int64, error) {
	return s.db.DeleteBatched(ctx, "audit_events", "at < ?", store.CleanupBatch, store.Time(before))
}
