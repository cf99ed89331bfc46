package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
)

// CleanupBatch is how many rows one clean-up DELETE removes at most. A batch
// of this size takes a few milliseconds on InnoDB, so the row locks it holds
// never stall logins, however large the backlog.
const CleanupBatch = 1000

// cleanupPause separates two batches, so that on SQLite (one writer at a
// time) the writers queued behind a long clean-up get their turn between
// batches instead of waiting for the whole backlog.
const cleanupPause = 2 * time.Millisecond

// Pause waits between two clean-up batches (see cleanupPause).
func Pause(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(cleanupPause):
		return nil
	}
}

// DeleteBatched deletes the rows of table matching where (a condition that
// an index must serve, e.g. "expires_at < ?"), batch rows per statement, and
// repeats until a statement removes fewer than batch rows. Each statement is
// its own transaction, so no lock is held across batches, and several
// instances running the same clean-up only share the work. It returns the
// number of rows deleted.
//
// MySQL has DELETE … LIMIT; SQLite (built without
// SQLITE_ENABLE_UPDATE_DELETE_LIMIT) selects the batch's rowids instead.
func (db *DB) DeleteBatched(ctx context.Context, table, where string, batch int, args ...any) (int64, error) {
	if batch <= 0 {
		batch = CleanupBatch
	}
	var q string
	if db.Dialect == MySQL {
		q = fmt.Sprintf(`DELETE FROM %s WHERE %s LIMIT %d`, table, where, batch)
	} else {
		q = fmt.Sprintf(`DELETE FROM %s WHERE rowid IN (SELECT rowid FROM %s WHERE %s LIMIT %d)`, table, table, where, batch)
	}
	q = db.Rebind(q)
	var total int64
	for {
		n, err := db.deleteBatch(ctx, q, args)
		if err != nil {
			return total, fmt.Errorf("clean up %s: %w", table, err)
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
		if err := Pause(ctx); err != nil {
			return total, err
		}
	}
}

// deleteBatch runs one batch. On MySQL it runs under READ COMMITTED: at the
// default REPEATABLE READ the range delete would also lock the gap after the
// last expired row, which is exactly where new rows (tickets, flows, codes)
// are inserted and the next-key lock on the first live row that logins are
// consuming, and InnoDB deadlocked logins against the clean-up. A deadlock
// that remains possible (a row deleted by its key at the moment it is
// cleaned up) is retried: the clean-up yields rather than fails.
func (db *DB) deleteBatch(ctx context.Context, q string, args []any) (int64, error) {
	if db.Dialect != MySQL {
		res, err := db.ExecContext(ctx, q, args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	for attempt := 1; ; attempt++ {
		var n int64
		tx, err := db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
		if err != nil {
			return 0, err
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err == nil {
			n, err = res.RowsAffected()
		}
		if err == nil {
			err = tx.Commit()
		} else {
			_ = tx.Rollback()
		}
		if attempt < 5 && IsDeadlock(err) {
			time.Sleep(time.Duration(attempt) * 5 * time.Millisecond)
			continue
		}
		return n, err
	}
}

// IsDeadlock reports whether InnoDB rolled the transaction back as a
// deadlock victim (error 1213); the transaction can simply be run again.
func IsDeadlock(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1213
}
