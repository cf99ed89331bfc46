package cas

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"wxcas/store"
)

// SQLStore is the TicketStore on wxcas's database, SQLite or MySQL (tables
// from migrations 00020-00023).
type SQLStore struct {
	db *store.DB
}

var _ TicketStore = (*SQLStore)(nil)

// NewSQLStore returns a TicketStore on db.
func NewSQLStore(db *store.DB) *SQLStore { return &SQLStore{db: db} }

const tgtColumns = `id_hash, principal_id, attributes, authenticated_at, created_at, last_used_at, expires_at, idle_expires_at`

func (s *SQLStore) CreateTGT(ctx context.Context, t TGT) error {
	attrs, err := json.Marshal(nonNilAttrs(t.Attributes))
	if err != nil {
		return fmt.Errorf("cas: encode attributes: %w", err)
	}
	_, err = s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO cas_tgt (`+tgtColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		t.Key, t.PrincipalID, string(attrs), store.Time(t.AuthenticatedAt), store.Time(t.CreatedAt),
		store.Time(t.LastUsedAt), store.Time(t.ExpiresAt), store.Time(t.IdleExpiresAt))
	if err != nil {
		return fmt.Errorf("cas: store TGT: %w", err)
	}
	return nil
}

func (s *SQLStore) GetTGT(ctx context.Context, key string) (TGT, error) {
	return getTGT(ctx, s.db.DB, s.db, key)
}

func getTGT(ctx context.Context, q sqlx.QueryerContext, db *store.DB, key string) (TGT, error) {
	var (
		t     TGT
		attrs string
	)
	err := q.QueryRowxContext(ctx, db.Rebind(`SELECT `+tgtColumns+` FROM cas_tgt WHERE id_hash = ?`), key).
		Scan(&t.Key, &t.PrincipalID, &attrs, &t.AuthenticatedAt, &t.CreatedAt, &t.LastUsedAt, &t.ExpiresAt, &t.IdleExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return TGT{}, store.ErrNotFound
	}
	if err != nil {
		return TGT{}, fmt.Errorf("cas: read TGT: %w", err)
	}
	if err := json.Unmarshal([]byte(attrs), &t.Attributes); err != nil {
		return TGT{}, fmt.Errorf("cas: decode TGT attributes: %w", err)
	}
	t.AuthenticatedAt, t.CreatedAt, t.LastUsedAt = t.AuthenticatedAt.UTC(), t.CreatedAt.UTC(), t.LastUsedAt.UTC()
	t.ExpiresAt, t.IdleExpiresAt = t.ExpiresAt.UTC(), t.IdleExpiresAt.UTC()
	return t, nil
}

func (s *SQLStore) TouchTGT(ctx context.Context, key string, lastUsed, idleExpires time.Time) error {
	_, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE cas_tgt SET last_used_at = ?, idle_expires_at = ? WHERE id_hash = ?`),
		store.Time(lastUsed), store.Time(idleExpires), key)
	if err != nil {
		return fmt.Errorf("cas: touch TGT: %w", err)
	}
	return nil
}

func (s *SQLStore) DeleteTGT(ctx context.Context, key string) (EndedSession, error) {
	var ended EndedSession
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		ended, err = deleteTGT(ctx, tx, s.db, key)
		return err
	})
	return ended, err
}

// deleteTGT removes one session inside tx. The DELETE of the TGT row comes
// first: it locks the row (MySQL) or the database (SQLite), so of two
// transactions ending the same session the second finds nothing.
func deleteTGT(ctx context.Context, tx *sqlx.Tx, db *store.DB, key string) (EndedSession, error) {
	t, err := getTGT(ctx, tx, db, key)
	if err != nil {
		return EndedSession{}, err
	}
	res, err := tx.ExecContext(ctx, db.Rebind(`DELETE FROM cas_tgt WHERE id_hash = ?`), key)
	if err != nil {
		return EndedSession{}, fmt.Errorf("cas: delete TGT: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return EndedSession{}, err
	} else if n == 0 {
		return EndedSession{}, store.ErrNotFound
	}
	ended := EndedSession{TGT: t}
	rows, err := tx.QueryxContext(ctx, db.Rebind(`SELECT st_id, service_id, service_url, logout_url FROM cas_tgt_services WHERE tgt_hash = ? ORDER BY created_at, st_id`), key)
	if err != nil {
		return EndedSession{}, fmt.Errorf("cas: read TGT services: %w", err)
	}
	for rows.Next() {
		var st SLOTarget
		if err := rows.Scan(&st.TicketID, &st.ServiceID, &st.ServiceURL, &st.LogoutURL); err != nil {
			rows.Close()
			return EndedSession{}, fmt.Errorf("cas: read TGT services: %w", err)
		}
		ended.Services = append(ended.Services, st)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return EndedSession{}, fmt.Errorf("cas: read TGT services: %w", err)
	}
	for _, table := range []string{"cas_tgt_services", "cas_tickets", "cas_pgt"} {
		if _, err := tx.ExecContext(ctx, db.Rebind(`DELETE FROM `+table+` WHERE tgt_hash = ?`), key); err != nil {
			return EndedSession{}, fmt.Errorf("cas: delete from %s: %w", table, err)
		}
	}
	return ended, nil
}

const ticketColumns = `id, tgt_hash, service, from_new_login, proxies, created_at, expires_at`

func (s *SQLStore) CreateTicket(ctx context.Context, t Ticket, slo *SLOTarget) error {
	proxies := ""
	if len(t.Proxies) > 0 {
		b, err := json.Marshal(t.Proxies)
		if err != nil {
			return err
		}
		proxies = string(b)
	}
	return s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO cas_tickets (`+ticketColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			t.ID, t.TGTKey, t.Service, t.FromNewLogin, proxies, store.Time(t.CreatedAt), store.Time(t.ExpiresAt))
		if err != nil {
			return fmt.Errorf("cas: store ticket: %w", err)
		}
		if slo == nil {
			return nil
		}
		_, err = tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO cas_tgt_services (st_id, tgt_hash, service_id, service_url, logout_url, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
			slo.TicketID, t.TGTKey, slo.ServiceID, slo.ServiceURL, slo.LogoutURL, store.Time(t.CreatedAt))
		if err != nil {
			return fmt.Errorf("cas: record service for logout: %w", err)
		}
		return nil
	})
}

// ConsumeTicket reads the row, then deletes it: ticket rows never change, so
// whoever's DELETE removes the row owns what was read.
func (s *SQLStore) ConsumeTicket(ctx context.Context, id string) (Ticket, error) {
	var (
		t       Ticket
		proxies string
	)
	err := s.db.QueryRowxContext(ctx, s.db.Rebind(`SELECT `+ticketColumns+` FROM cas_tickets WHERE id = ?`), id).
		Scan(&t.ID, &t.TGTKey, &t.Service, &t.FromNewLogin, &proxies, &t.CreatedAt, &t.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Ticket{}, store.ErrNotFound
	}
	if err != nil {
		return Ticket{}, fmt.Errorf("cas: read ticket: %w", err)
	}
	res, err := s.db.ExecContext(ctx, s.db.Rebind(`DELETE FROM cas_tickets WHERE id = ?`), id)
	if err != nil {
		return Ticket{}, fmt.Errorf("cas: consume ticket: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Ticket{}, fmt.Errorf("cas: consume ticket: %w", err)
	} else if n != 1 {
		return Ticket{}, store.ErrNotFound
	}
	if proxies != "" {
		if err := json.Unmarshal([]byte(proxies), &t.Proxies); err != nil {
			return Ticket{}, fmt.Errorf("cas: decode proxies: %w", err)
		}
	}
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	return t, nil
}

func (s *SQLStore) CreatePGT(ctx context.Context, p PGT) error {
	proxies, err := json.Marshal(nonNilStrings(p.Proxies))
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO cas_pgt (id_hash, tgt_hash, proxies, created_at) VALUES (?, ?, ?, ?)`),
		p.Key, p.TGTKey, string(proxies), store.Time(p.CreatedAt))
	if err != nil {
		return fmt.Errorf("cas: store PGT: %w", err)
	}
	return nil
}

func (s *SQLStore) GetPGT(ctx context.Context, key string) (PGT, error) {
	var (
		p       PGT
		proxies string
	)
	err := s.db.QueryRowxContext(ctx, s.db.Rebind(`SELECT id_hash, tgt_hash, proxies, created_at FROM cas_pgt WHERE id_hash = ?`), key).
		Scan(&p.Key, &p.TGTKey, &proxies, &p.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return PGT{}, store.ErrNotFound
	}
	if err != nil {
		return PGT{}, fmt.Errorf("cas: read PGT: %w", err)
	}
	if err := json.Unmarshal([]byte(proxies), &p.Proxies); err != nil {
		return PGT{}, fmt.Errorf("cas: decode proxies: %w", err)
	}
	p.CreatedAt = p.CreatedAt.UTC()
	return p, nil
}

// cleanupBatch bounds the sessions ended per transaction.
const cleanupBatch = 200

func (s *SQLStore) Cleanup(ctx context.Context, now time.Time) ([]EndedSession, error) {
	now = store.Time(now)
	var ended []EndedSession
	for {
		var keys []string
		err := s.db.SelectContext(ctx, &keys, s.db.Rebind(`SELECT id_hash FROM cas_tgt WHERE expires_at <= ? OR idle_expires_at <= ? ORDER BY id_hash LIMIT ?`), now, now, cleanupBatch)
		if err != nil {
			return ended, fmt.Errorf("cas: find expired TGTs: %w", err)
		}
		for _, key := range keys {
			var e EndedSession
			err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
				var err error
				e, err = deleteTGT(ctx, tx, s.db, key)
				return err
			})
			switch {
			case errors.Is(err, store.ErrNotFound):
				// ended meanwhile by a logout or another instance's janitor
			case err != nil:
				return ended, err
			default:
				ended = append(ended, e)
			}
		}
		if len(keys) < cleanupBatch {
			break
		}
	}
	stmts := []string{
		`DELETE FROM cas_tickets WHERE expires_at <= ?`,
		// Rows whose session vanished while they were being written.
		`DELETE FROM cas_tickets WHERE tgt_hash NOT IN (SELECT id_hash FROM cas_tgt)`,
		`DELETE FROM cas_pgt WHERE tgt_hash NOT IN (SELECT id_hash FROM cas_tgt)`,
		`DELETE FROM cas_tgt_services WHERE tgt_hash NOT IN (SELECT id_hash FROM cas_tgt)`,
	}
	for i, q := range stmts {
		var args []any
		if i == 0 {
			args = append(args, now)
		}
		if _, err := s.db.ExecContext(ctx, s.db.Rebind(q), args...); err != nil {
			return ended, fmt.Errorf("cas: cleanup: %w", err)
		}
	}
	return ended, nil
}

func nonNilAttrs(m map[string][]string) map[string][]string {
	if m == nil {
		return map[string][]string{}
	}
	return m
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
