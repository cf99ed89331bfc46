package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/store"
	"wxcas/store/storetest"
)

func TestDeleteBatched(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := storetest.NewClock().Now()
		_, err := db.Exec(`CREATE TABLE batch_test (id INTEGER NOT NULL PRIMARY KEY, expires_at DATETIME NOT NULL)`)
		require.NoError(t, err)
		_, err = db.Exec(`CREATE INDEX batch_test_expires_at ON batch_test (expires_at)`)
		require.NoError(t, err)
		var values []string
		for i := range 20 {
			at := now.Add(time.Duration(i-10) * time.Minute) // 10 expired, 10 live
			values = append(values, fmt.Sprintf("(%d, '%s')", i, at.Format("2006-01-02 15:04:05")))
		}
		_, err = db.Exec(`INSERT INTO batch_test (id, expires_at) VALUES ` + strings.Join(values, ", "))
		require.NoError(t, err)

		tests := []struct {
			name  string
			batch int
			want  int64
		}{
			{"several batches, the last one short", 3, 10},
			{"nothing left to delete", 3, 0},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				n, err := db.DeleteBatched(ctx, "batch_test", "expires_at < ?", tc.batch, now.Format("2006-01-02 15:04:05"))
				require.NoError(t, err)
				require.Equal(t, tc.want, n)
				var left int
				require.NoError(t, db.Get(&left, `SELECT COUNT(*) FROM batch_test`))
				require.Equal(t, 10, left, "live rows are kept")
			})
		}
	})
}
