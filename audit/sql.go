package audit

import (
	"context"
	"time"

	"wxcas/store"
)

// SQL stores events in wxcas's database (table audit_events). Record returns
// database errors; wrap it with Best where a failure must not stop a login.
type SQL struct{ db *store.DB }

// NewSQL returns the store on db (MySQL or SQLite).
func NewSQL(db *store.DB) *SQL { return &SQL{db: db} }

var _ Store = (*SQL)(nil)

type row struct {
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
}

const columns = `at, kind, outcome, user_id, appid, openid, unionid, channel, client_ip, service, request_id, phone`

// Record implements Log.
func (s *SQL) Record(ctx context.Context, e Event) error {
	e, err := Normalize(ctx, e)
	if err != nil {
		return err
	}
	// Positional and prepared (store.DB.P): every login writes one.
	_, err = s.db.P(ctx).ExecContext(ctx, `INSERT INTO audit_events (`+columns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		store.Time(e.At), e.Kind, e.Outcome, e.UserID, e.AppID, e.OpenID, e.UnionID, e.Channel, e.ClientIP, e.Service, e.RequestID, e.Phone)
	return err
}

// List implements Store.
func (s *SQL) List(ctx context.Context, f Filter) ([]Event, error) {
	q := `SELECT ` + columns + ` FROM audit_events WHERE 1 = 1`
	var args []any
	if f.UserID != "" {
		q += ` AND user_id = ?`
		args = append(args, f.UserID)
	}
	if !f.Since.IsZero() {
		q += ` AND at >= ?`
		args = append(args, store.Time(f.Since))
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
			At: r.At.UTC(), Kind: r.Kind, Outcome: r.Outcome, UserID: r.UserID,
			AppID: r.AppID, OpenID: r.OpenID, UnionID: r.UnionID, Channel: r.Channel,
			ClientIP: r.ClientIP, Service: r.Service, RequestID: r.RequestID, Phone: r.Phone,
		}
	}
	return out, nil
}

// Cleanup implements Store: batched deletes through the at index
// (store.DeleteBatched), so retention never holds long locks.
func (s *SQL) Cleanup(ctx context.Context, before time.Time) (int64, error) {
	return s.db.DeleteBatched(ctx, "audit_events", "at < ?", store.CleanupBatch, store.Time(before))
}
