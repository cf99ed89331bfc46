package store

import (
	"context"
	"fmt"
	"time"
)

// CleanupBatch is how many rows one clean-up DELETE removes at most. A batch
// of this size takes a few milliseconds on InnoDB, so the row locks it holds
// never stall logins, however large the backlog.
const CleanupBatch = 1000

// cleanupPause separates two batches, so that on SQLite (one writer at a
// time) the writers queued behind a long clean-up get their turn between
// batches instead of waiting for the whole backlog.
const cleanupPause = 2 * time.Millisecond

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
		res, err := db.ExecContext(ctx, q, args...)
		if err != nil {
			return total, fmt.Errorf("clean up %s: %w", table, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("clean up %s: %w", table, err)
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(cleanupPause):
		}
	}
}
