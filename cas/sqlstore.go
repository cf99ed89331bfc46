package cas

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"

	"wxcas/store"
)

// SQLStore is the TicketStore on wxcas's database, SQLite or MySQL (tables
// from migrations 00020-00023, 00044, 00050 and 00051).
type SQLStore struct {
	db *store.DB
}

var _ TicketStore = (*SQLStore)(nil)

// NewSQLStore returns a TicketStore on db.
func NewSQLStore(db *store.DB) *SQLStore { return &SQLStore{db: db} }

// tgtColumns are a cas_tgt row, the columns of its first service last
// (migration 00051; tgtRow scans them in this order).
const tgtColumns = `id_hash, principal_id, attributes, authenticated_at, created_at, last_used_at, expires_at, idle_expires_at,
  first_st_id, first_service_id, first_service_url, first_logout_url`

// CreateTGT writes the session and its first service in one INSERT, with
// the service record's guarantee: it is stored before the ticket that names
// it is (the ticket's INSERT comes later and needs the TGT row).
func (s *SQLStore) CreateTGT(ctx context.Context, t TGT) error {
	attrs, err := json.Marshal(nonNilAttrs(t.Attributes))
	if err != nil {
		return fmt.Errorf("cas: encode attributes: %w", err)
	}
	var first [4]sql.NullString // NULL without a first service
	if f := t.FirstService; f != nil {
		for i, v := range []string{f.TicketID, f.ServiceID, f.ServiceURL, f.LogoutURL} {
			first[i] = sql.NullString{String: v, Valid: true}
		}
	}
	_, err = s.db.P(ctx).ExecContext(ctx, s.db.Rebind(`INSERT INTO cas_tgt (`+tgtColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		t.Key, t.PrincipalID, string(attrs), store.Time(t.AuthenticatedAt), store.Time(t.CreatedAt),
		store.Time(t.LastUsedAt), store.Time(t.ExpiresAt), store.Time(t.IdleExpiresAt),
		first[0], first[1], first[2], first[3])
	if err != nil {
		return fmt.Errorf("cas: store TGT: %w", err)
	}
	return nil
}

func (s *SQLStore) GetTGT(ctx context.Context, key string) (TGT, error) {
	return getTGT(ctx, s.db.P(ctx), s.db, key)
}

func getTGT(ctx context.Context, q sqlx.QueryerContext, db *store.DB, key string) (TGT, error) {
	var r tgtRow
	err := q.QueryRowxContext(ctx, db.Rebind(`SELECT `+tgtColumns+` FROM cas_tgt WHERE id_hash = ?`), key).Scan(r.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return TGT{}, store.ErrNotFound
	}
	if err != nil {
		return TGT{}, fmt.Errorf("cas: read TGT: %w", err)
	}
	return r.decode()
}

// SessionsOf uses the index on principal_id (migration 00053).
func (s *SQLStore) SessionsOf(ctx context.Context, principalID string, now time.Time) ([]string, error) {
	var keys []string
	err := s.db.SelectContext(ctx, &keys, s.db.Rebind(`SELECT id_hash FROM cas_tgt
  WHERE principal_id = ? AND expires_at > ? AND idle_expires_at > ?
  ORDER BY created_at DESC LIMIT `+strconv.Itoa(maxSessionsOf)), principalID, store.Time(now), store.Time(now))
	if err != nil {
		return nil, fmt.Errorf("cas: list sessions: %w", err)
	}
	return keys, nil
}

// tgtRow is a cas_tgt row (tgtColumns) as scanned, before decoding: GetTGT,
// DeleteTGT and the clean-up read sessions alike.
type tgtRow struct {
	t     TGT
	attrs string
	first [4]sql.NullString // first_st_id, first_service_id, first_service_url, first_logout_url
}

func (r *tgtRow) dest() []any {
	return []any{&r.t.Key, &r.t.PrincipalID, &r.attrs, &r.t.AuthenticatedAt, &r.t.CreatedAt, &r.t.LastUsedAt,
		&r.t.ExpiresAt, &r.t.IdleExpiresAt, &r.first[0], &r.first[1], &r.first[2], &r.first[3]}
}

func (r *tgtRow) decode() (TGT, error) {
	t := r.t
	if err := json.Unmarshal([]byte(r.attrs), &t.Attributes); err != nil {
		return TGT{}, fmt.Errorf("cas: decode TGT attributes: %w", err)
	}
	t.AuthenticatedAt, t.CreatedAt, t.LastUsedAt = t.AuthenticatedAt.UTC(), t.CreatedAt.UTC(), t.LastUsedAt.UTC()
	t.ExpiresAt, t.IdleExpiresAt = t.ExpiresAt.UTC(), t.IdleExpiresAt.UTC()
	// The four are written together; a row from before migration 00051 has
	// none of them.
	if r.first[0].Valid {
		t.FirstService = &SLOTarget{TicketID: r.first[0].String, ServiceID: r.first[1].String,
			ServiceURL: r.first[2].String, LogoutURL: r.first[3].String}
	}
	return t, nil
}

// endedSession is what ending t reports before its cas_tgt_services rows
// are added: the first service, recorded with the session and so before any
// of them.
func endedSession(t TGT) EndedSession {
	e := EndedSession{TGT: t}
	if t.FirstService != nil {
		e.Services = append(e.Services, *t.FirstService)
	}
	return e
}

func (s *SQLStore) TouchTGT(ctx context.Context, key string, lastUsed, idleExpires time.Time) error {
	_, err := s.db.P(ctx).ExecContext(ctx, s.db.Rebind(`UPDATE cas_tgt SET last_used_at = ?, idle_expires_at = ? WHERE id_hash = ?`),
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
	ended := endedSession(t)
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

const ticketColumns = `id, tgt_hash, service, from_new_login, proxies, created_at, expires_at, principal_id, attributes, authenticated_at`

// sessionExpiry is the expires_at of a row that lives as long as its session
// (a PGT, a service recorded for single logout): the session's hard expiry,
// copied in so the clean-up finds such rows by their own index. Its
// arguments are the TGT key and the fallback (the row's created_at) for a
// session that ended while the row was being written.
const sessionExpiry = `COALESCE((SELECT expires_at FROM cas_tgt WHERE id_hash = ?), ?)`

// ticketExpiry is a ticket's expires_at: the earliest of its own expiry and
// its session's hard and idle expiry, or endedSessionTicketExpiry (the
// fallback) when the session is gone. Its arguments are the ticket's expiry
// three times, the TGT key and the fallback. The lock clause is
// lockSessionRow.
const ticketExpiry = `COALESCE((SELECT CASE
    WHEN expires_at < ? AND expires_at <= idle_expires_at THEN expires_at
    WHEN idle_expires_at < ? THEN idle_expires_at
    ELSE ? END
  FROM cas_tgt WHERE id_hash = ?%s), ?)`

// endedSessionTicketExpiry is the expiry of a ticket written for a session
// that is gone: long past on every clock. Validation reads only the ticket,
// so "expired at its own creation" would be accepted by an instance whose
// clock is behind the one that wrote it.
var endedSessionTicketExpiry = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// lockSessionRow makes the read of the session in ticketExpiry a locking
// read on MySQL. A ticket row is the proof that its session is alive (the
// validator does not read the TGT), so the read must not see a session that
// a concurrent DeleteTGT or clean-up has deleted but not yet committed: with
// the shared lock the INSERT waits for that transaction and then finds the
// session gone, and a session ended after the INSERT deletes the ticket with
// it. InnoDB takes this lock by itself under REPEATABLE READ (MariaDB 10.11
// was seen to under READ COMMITTED too); the clause makes it independent of
// the server's isolation level. SQLite runs one writer at a time.
func (s *SQLStore) lockSessionRow() string {
	if s.db.Dialect == store.MySQL {
		return ` LOCK IN SHARE MODE`
	}
	return ""
}

// CreateTicket writes two rows, each in its own autocommit statement: the
// service record for single logout, then the ticket. No transaction is
// needed, as the bare-SQL floor of issue 15 found (there, wrapping these
// inserts in one cost two more round trips and was slower): each INSERT is
// atomic by itself, neither row needs the other to be correct (each takes
// its expiry from the session in its own statement), and the order leaves
// nothing harmful between them. A failure after the service record leaves
// the record of a ticket never handed out, which at most makes single
// logout send a LogoutRequest the service ignores; a ticket without its
// record, which single logout would miss, cannot happen.
func (s *SQLStore) CreateTicket(ctx context.Context, t Ticket, slo *SLOTarget) error {
	proxies := ""
	if len(t.Proxies) > 0 {
		b, err := json.Marshal(t.Proxies)
		if err != nil {
			return err
		}
		proxies = string(b)
	}
	var principal, attrs sql.NullString
	var authenticated sql.NullTime
	if t.carriesPrincipal() {
		b, err := json.Marshal(nonNilAttrs(t.Principal.Attributes))
		if err != nil {
			return fmt.Errorf("cas: encode attributes: %w", err)
		}
		principal = sql.NullString{String: t.Principal.ID, Valid: true}
		attrs = sql.NullString{String: string(b), Valid: true}
		authenticated = sql.NullTime{Time: store.Time(t.Principal.AuthenticatedAt), Valid: true}
	}
	created, expires := store.Time(t.CreatedAt), store.Time(t.ExpiresAt)
	if slo != nil {
		_, err := s.db.P(ctx).ExecContext(ctx, s.db.Rebind(`INSERT INTO cas_tgt_services (st_id, tgt_hash, service_id, service_url, logout_url, created_at, expires_at)
VALUES (?, ?, ?, ?, ?, ?, `+sessionExpiry+`)`),
			slo.TicketID, t.TGTKey, slo.ServiceID, slo.ServiceURL, slo.LogoutURL, created, t.TGTKey, created)
		if err != nil {
			return fmt.Errorf("cas: record service for logout: %w", err)
		}
	}
	// Written for a session that is gone, the ticket is expired from the
	// start (created_at) and goes at the next clean-up.
	_, err := s.db.P(ctx).ExecContext(ctx, s.db.Rebind(`INSERT INTO cas_tickets (`+ticketColumns+`)
VALUES (?, ?, ?, ?, ?, ?, `+fmt.Sprintf(ticketExpiry, s.lockSessionRow())+`, ?, ?, ?)`),
		t.ID, t.TGTKey, t.Service, t.FromNewLogin, proxies, created,
		expires, expires, expires, t.TGTKey, endedSessionTicketExpiry,
		principal, attrs, authenticated)
	if err != nil {
		return fmt.Errorf("cas: store ticket: %w", err)
	}
	return nil
}

// ConsumeTicket deletes the row and returns what it held: in one statement
// where the server has DELETE ... RETURNING (SQLite, MariaDB), else reading
// the row first. Ticket rows never change, so whoever's DELETE removes the
// row owns what was read.
func (s *SQLStore) ConsumeTicket(ctx context.Context, id string) (Ticket, error) {
	var (
		t             Ticket
		proxies       string
		principal     sql.NullString
		attrs         sql.NullString
		authenticated sql.NullTime
	)
	scan := func(row *sqlx.Row) error {
		return row.Scan(&t.ID, &t.TGTKey, &t.Service, &t.FromNewLogin, &proxies, &t.CreatedAt, &t.ExpiresAt,
			&principal, &attrs, &authenticated)
	}
	if s.db.Returning {
		err := scan(s.db.P(ctx).QueryRowxContext(ctx, s.db.Rebind(`DELETE FROM cas_tickets WHERE id = ? RETURNING `+ticketColumns), id))
		if errors.Is(err, sql.ErrNoRows) {
			return Ticket{}, store.ErrNotFound
		}
		if err != nil {
			return Ticket{}, fmt.Errorf("cas: consume ticket: %w", err)
		}
	} else if err := s.readThenDelete(ctx, id, scan); err != nil {
		return Ticket{}, err
	}
	if proxies != "" {
		if err := json.Unmarshal([]byte(proxies), &t.Proxies); err != nil {
			return Ticket{}, fmt.Errorf("cas: decode proxies: %w", err)
		}
	}
	// A row written before migration 00050 has no principal: it is
	// returned without one, for the caller to read the session.
	if principal.Valid && principal.String != "" {
		t.Principal.ID = principal.String
		if err := json.Unmarshal([]byte(attrs.String), &t.Principal.Attributes); err != nil {
			return Ticket{}, fmt.Errorf("cas: decode ticket attributes: %w", err)
		}
		t.Principal.AuthenticatedAt = authenticated.Time.UTC()
	}
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	return t, nil
}

// readThenDelete is ConsumeTicket without RETURNING (MySQL): two statements.
func (s *SQLStore) readThenDelete(ctx context.Context, id string, scan func(*sqlx.Row) error) error {
	err := scan(s.db.P(ctx).QueryRowxContext(ctx, s.db.Rebind(`SELECT `+ticketColumns+` FROM cas_tickets WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("cas: read ticket: %w", err)
	}
	res, err := s.db.P(ctx).ExecContext(ctx, s.db.Rebind(`DELETE FROM cas_tickets WHERE id = ?`), id)
	if err != nil {
		return fmt.Errorf("cas: consume ticket: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("cas: consume ticket: %w", err)
	} else if n != 1 {
		return store.ErrNotFound
	}
	return nil
}

func (s *SQLStore) CreatePGT(ctx context.Context, p PGT) error {
	proxies, err := json.Marshal(nonNilStrings(p.Proxies))
	if err != nil {
		return err
	}
	created := store.Time(p.CreatedAt)
	_, err = s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO cas_pgt (id_hash, tgt_hash, proxies, created_at, expires_at) VALUES (?, ?, ?, ?, `+sessionExpiry+`)`),
		p.Key, p.TGTKey, string(proxies), created, p.TGTKey, created)
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

// sessionBatch bounds the sessions ended per clean-up transaction: with
// their tickets and service records that is a few thousand row locks, held
// for milliseconds.
const sessionBatch = 200

// Cleanup works in small batches, each found through an index, so it never
// scans a whole table nor holds locks for long, whatever the backlog:
//
//  1. sessions past their hard expiry, then past their idle expiry (one
//     index each), are ended sessionBatch at a time like DeleteTGT, so single
//     logout still learns their services;
//  2. tickets, PGTs and service records go by their own expires_at, which is
//     never later than their session's hard expiry: this also removes rows
//     written for a session that ended meanwhile.
//
// Several instances may run it at once: a session is ended by one of them,
// and the batched deletes are idempotent.
func (s *SQLStore) Cleanup(ctx context.Context, now time.Time, ended func(EndedSession)) error {
	now = store.Time(now)
	for _, col := range []string{"expires_at", "idle_expires_at"} {
		for {
			var keys []string
			err := s.db.SelectContext(ctx, &keys, s.db.Rebind(`SELECT id_hash FROM cas_tgt WHERE `+col+` <= ? ORDER BY `+col+` LIMIT ?`), now, sessionBatch)
			if err != nil {
				return fmt.Errorf("cas: find expired TGTs: %w", err)
			}
			if len(keys) == 0 {
				break
			}
			batch, err := s.endSessions(ctx, keys, now)
			for attempt := 1; attempt < 4 && store.IsDeadlock(err); attempt++ {
				// A ticket issued for a session at the moment it expired
				// locks in the other order; the batch just runs again.
				batch, err = s.endSessions(ctx, keys, now)
			}
			if err != nil {
				return err
			}
			for _, e := range batch {
				ended(e)
			}
			if len(keys) < sessionBatch {
				break
			}
			if err := store.Pause(ctx); err != nil {
				return err
			}
		}
	}
	for _, table := range []string{"cas_tickets", "cas_pgt", "cas_tgt_services"} {
		if _, err := s.db.DeleteBatched(ctx, table, `expires_at <= ?`, store.CleanupBatch, now); err != nil {
			return fmt.Errorf("cas: %w", err)
		}
	}
	return nil
}

// endSessions ends, in one transaction, those of keys' sessions that are
// still there and still expired at now. On MySQL the sessions are read with
// FOR UPDATE (primary-key lookups only, READ COMMITTED so no gap locks): a
// concurrent logout or another instance's clean-up waits and then finds
// nothing, so each ended session is reported once, and a session used
// (touched) since it was selected is seen live and kept. On SQLite the
// IMMEDIATE transaction already excludes every other writer.
func (s *SQLStore) endSessions(ctx context.Context, keys []string, now time.Time) ([]EndedSession, error) {
	var opts *sql.TxOptions
	lock := ""
	if s.db.Dialect == store.MySQL {
		opts, lock = &sql.TxOptions{Isolation: sql.LevelReadCommitted}, ` FOR UPDATE`
	}
	tx, err := s.db.BeginTxx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("cas: cleanup: %w", err)
	}
	defer func() { _ = tx.Rollback() }()

	q, args, err := sqlx.In(`SELECT `+tgtColumns+` FROM cas_tgt WHERE id_hash IN (?) ORDER BY id_hash`+lock, keys)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryxContext(ctx, tx.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("cas: cleanup: read TGTs: %w", err)
	}
	var (
		ended []EndedSession
		dead  []string
		index = map[string]int{}
	)
	for rows.Next() {
		var r tgtRow
		if err := rows.Scan(r.dest()...); err != nil {
			rows.Close()
			return nil, fmt.Errorf("cas: cleanup: read TGTs: %w", err)
		}
		if !r.t.expired(now) {
			continue // used since it was selected
		}
		t, err := r.decode()
		if err != nil {
			rows.Close()
			return nil, err
		}
		index[t.Key] = len(ended)
		ended = append(ended, endedSession(t))
		dead = append(dead, t.Key)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cas: cleanup: read TGTs: %w", err)
	}
	if len(dead) == 0 {
		return nil, nil
	}

	q, args, err = sqlx.In(`SELECT tgt_hash, st_id, service_id, service_url, logout_url FROM cas_tgt_services WHERE tgt_hash IN (?) ORDER BY created_at, st_id`, dead)
	if err != nil {
		return nil, err
	}
	srows, err := tx.QueryxContext(ctx, tx.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("cas: cleanup: read TGT services: %w", err)
	}
	for srows.Next() {
		var (
			key string
			st  SLOTarget
		)
		if err := srows.Scan(&key, &st.TicketID, &st.ServiceID, &st.ServiceURL, &st.LogoutURL); err != nil {
			srows.Close()
			return nil, fmt.Errorf("cas: cleanup: read TGT services: %w", err)
		}
		e := &ended[index[key]]
		e.Services = append(e.Services, st)
	}
	srows.Close()
	if err := srows.Err(); err != nil {
		return nil, fmt.Errorf("cas: cleanup: read TGT services: %w", err)
	}

	for _, d := range []struct{ table, col string }{
		{"cas_tgt_services", "tgt_hash"}, {"cas_tickets", "tgt_hash"}, {"cas_pgt", "tgt_hash"}, {"cas_tgt", "id_hash"},
	} {
		q, args, err := sqlx.In(`DELETE FROM `+d.table+` WHERE `+d.col+` IN (?)`, dead)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(q), args...); err != nil {
			return nil, fmt.Errorf("cas: cleanup: delete from %s: %w", d.table, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("cas: cleanup: %w", err)
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
