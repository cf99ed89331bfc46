package store

import (
	"context"
	"database/sql"
	"sync"

	"github.com/jmoiron/sqlx"
)

// maxPrepared bounds the statements a process keeps prepared. database/sql
// prepares each on every connection that runs it, and MySQL caps the
// prepared statements of the whole server (max_prepared_stmt_count, 16,382
// by default): 96 statements on 64 connections stay well inside it. Past
// the bound a statement simply runs unprepared.
const maxPrepared = 96

// preparedCache holds the prepared statements of one DB.
type preparedCache struct {
	mu    sync.Mutex
	stmts map[string]*sqlx.Stmt
}

// P is Q for the statements every login runs: outside a transaction, each
// query is prepared once per connection and kept (database/sql re-prepares
// it on a new connection by itself), so every later run is one round trip
// that the server does not parse again, in the binary protocol, as the
// bare-SQL floor runs its statements. Inside Atomic it is the transaction,
// as Q. Only fixed query texts belong here: a text built per call (an IN
// list) would take one of the maxPrepared places each.
func (db *DB) P(ctx context.Context) Querier {
	if tx := db.txOf(ctx); tx != nil {
		return tx
	}
	return preparedQuerier{db}
}

// stmt returns query prepared, or nil when maxPrepared are already kept.
func (db *DB) stmt(ctx context.Context, query string) (*sqlx.Stmt, error) {
	c := db.prepared
	if c == nil {
		return nil, nil
	}
	c.mu.Lock()
	s, ok := c.stmts[query]
	full := len(c.stmts) >= maxPrepared
	c.mu.Unlock()
	if ok || full {
		return s, nil
	}
	// Prepared outside the lock: two callers may both prepare it, and the
	// loser's statement is closed.
	s, err := db.PreparexContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if kept, ok := c.stmts[query]; ok {
		_ = s.Close()
		return kept, nil
	}
	if c.stmts == nil {
		c.stmts = map[string]*sqlx.Stmt{}
	}
	c.stmts[query] = s
	return s, nil
}

// preparedQuerier runs each query through its kept statement.
type preparedQuerier struct{ db *DB }

func (p preparedQuerier) DriverName() string     { return p.db.DriverName() }
func (p preparedQuerier) Rebind(q string) string { return p.db.Rebind(q) }
func (p preparedQuerier) BindNamed(q string, a any) (string, []any, error) {
	return p.db.BindNamed(q, a)
}

func (p preparedQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := p.db.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return p.db.DB.ExecContext(ctx, query, args...)
	}
	return s.ExecContext(ctx, args...)
}

func (p preparedQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := p.db.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return p.db.DB.QueryContext(ctx, query, args...)
	}
	return s.QueryContext(ctx, args...)
}

func (p preparedQuerier) QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	s, err := p.db.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return p.db.DB.QueryxContext(ctx, query, args...)
	}
	return s.QueryxContext(ctx, args...)
}

func (p preparedQuerier) QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row {
	s, err := p.db.stmt(ctx, query)
	if err != nil || s == nil {
		// A failed prepare reports itself through the plain query's row.
		return p.db.DB.QueryRowxContext(ctx, query, args...)
	}
	return s.QueryRowxContext(ctx, args...)
}

func (p preparedQuerier) GetContext(ctx context.Context, dest any, query string, args ...any) error {
	return sqlx.GetContext(ctx, p, dest, query, args...)
}

func (p preparedQuerier) SelectContext(ctx context.Context, dest any, query string, args ...any) error {
	return sqlx.SelectContext(ctx, p, dest, query, args...)
}

// NamedExecContext binds the names on every call (sqlx compiles the named
// query each time): hot statements use positional arguments instead.
func (p preparedQuerier) NamedExecContext(ctx context.Context, query string, arg any) (sql.Result, error) {
	return sqlx.NamedExecContext(ctx, p, query, arg)
}
