package journey

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"wxcas/store"
)

// SQLStore keeps journeys in wxcas's database (MySQL or SQLite), where every
// instance sees them.
type SQLStore struct{ db *store.DB }

// NewSQLStore returns the store on db.
func NewSQLStore(db *store.DB) *SQLStore { return &SQLStore{db: db} }

var _ Store = (*SQLStore)(nil)

const columns = `id, state, transport, channel, service, return_to, secret_hash, wechat_state_hash, wechat_state_used,
appid, openid, unionid, nickname, avatar_url, phone, user_id, version, created_at, step_expires_at, expires_at,
entry_appid, entry_openid, wechat_appid`

func normalise(j *Journey) {
	j.CreatedAt, j.StepExpiresAt, j.ExpiresAt = store.Time(j.CreatedAt), store.Time(j.StepExpiresAt), store.Time(j.ExpiresAt)
}

// row is a journey as the table holds it: step_expires_at is NULL when the
// journey has no step deadline (every browser journey, and every journey
// once finished).
type row struct {
	Journey
	StepDeadline sql.NullTime `db:"step_expires_at"`
}

func toRow(j *Journey) *row {
	return &row{Journey: *j, StepDeadline: sql.NullTime{Time: j.StepExpiresAt, Valid: !j.StepExpiresAt.IsZero()}}
}

// Create implements Store.
func (s *SQLStore) Create(ctx context.Context, j *Journey) error {
	j.Version = 0
	normalise(j)
	_, err := s.db.P(ctx).ExecContext(ctx, `INSERT INTO login_journeys (`+columns+`) VALUES (
?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		j.ID, j.State, j.Transport, j.Channel, j.Service, j.Return, j.SecretHash, j.WeChatStateHash, j.WeChatStateUsed,
		j.AppID, j.OpenID, j.UnionID, j.Nickname, j.AvatarURL, j.Phone, j.UserID, j.Version, j.CreatedAt, toRow(j).StepDeadline, j.ExpiresAt,
		j.EntryAppID, j.EntryOpenID, j.WeChatAppID)
	if err != nil {
		return fmt.Errorf("journey: create: %w", err)
	}
	return nil
}

// Get implements Store.
func (s *SQLStore) Get(ctx context.Context, id string) (*Journey, error) {
	return s.get(ctx, s.db.P(ctx), id, "")
}

func (s *SQLStore) get(ctx context.Context, q sqlx.QueryerContext, id, lock string) (*Journey, error) {
	var r row
	err := sqlx.GetContext(ctx, q, &r, `SELECT `+columns+` FROM login_journeys WHERE id = ?`+lock, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("journey: read: %w", err)
	}
	j := r.Journey
	j.CreatedAt, j.ExpiresAt = j.CreatedAt.UTC(), j.ExpiresAt.UTC()
	if r.StepDeadline.Valid {
		j.StepExpiresAt = r.StepDeadline.Time.UTC()
	}
	return &j, nil
}

// Update implements Store. The row is read with a lock inside the
// transaction (SQLite's write transactions are exclusive anyway), so
// concurrent updates queue instead of failing; the version check in the
// UPDATE stays as the compare-and-swap's proof. Inside store.Atomic it is
// part of the caller's transaction.
func (s *SQLStore) Update(ctx context.Context, id string, fn func(*Journey) error) (*Journey, error) {
	var out *Journey
	err := s.db.InTx(ctx, func(tx *sqlx.Tx) error {
		lock := ""
		if s.db.Dialect == store.MySQL {
			lock = " FOR UPDATE"
		}
		j, err := s.get(ctx, tx, id, lock)
		if err != nil {
			return err
		}
		version, created := j.Version, j.CreatedAt
		if err := fn(j); err != nil {
			return err
		}
		// The id, the version and the creation time are the store's: the
		// UPDATE leaves them alone, so the journey returned must too.
		j.ID, j.CreatedAt = id, created
		normalise(j)
		j.Version = version
		if err := s.replace(ctx, tx, j); err != nil {
			if errors.Is(err, ErrConflict) {
				return errors.New("journey: update: changed by another request despite the row lock")
			}
			return err
		}
		out = j
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Replace implements Store: UPDATE ... WHERE id = ? AND version = ?, the
// compare-and-swap on its own. Nothing is read: the caller holds the
// journey as it read it, and whoever changed the row since has bumped the
// version, so the write finds no row.
func (s *SQLStore) Replace(ctx context.Context, j *Journey) error {
	return s.replace(ctx, s.db.P(ctx), j)
}

func (s *SQLStore) replace(ctx context.Context, q sqlx.ExecerContext, j *Journey) error {
	normalise(j)
	res, err := q.ExecContext(ctx, `UPDATE login_journeys SET
state = ?, transport = ?, channel = ?, service = ?, return_to = ?, secret_hash = ?, wechat_state_hash = ?, wechat_state_used = ?,
appid = ?, openid = ?, unionid = ?, nickname = ?, avatar_url = ?, phone = ?, user_id = ?,
entry_appid = ?, entry_openid = ?, wechat_appid = ?, step_expires_at = ?, expires_at = ?, version = version + 1
WHERE id = ? AND version = ?`,
		j.State, j.Transport, j.Channel, j.Service, j.Return, j.SecretHash, j.WeChatStateHash, j.WeChatStateUsed,
		j.AppID, j.OpenID, j.UnionID, j.Nickname, j.AvatarURL, j.Phone, j.UserID,
		j.EntryAppID, j.EntryOpenID, j.WeChatAppID, toRow(j).StepDeadline, j.ExpiresAt, j.ID, j.Version)
	if err != nil {
		return fmt.Errorf("journey: update: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("journey: update: %w", err)
	}
	if n != 1 {
		return ErrConflict
	}
	j.Version++
	return nil
}

// Cleanup implements Store: batched deletes through the expires_at index
// (store.DeleteBatched), so logins never wait on it.
func (s *SQLStore) Cleanup(ctx context.Context, t time.Time) (int64, error) {
	return s.db.DeleteBatched(ctx, "login_journeys", "expires_at <= ?", store.CleanupBatch, store.Time(t))
}
