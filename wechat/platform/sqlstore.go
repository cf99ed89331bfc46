package platform

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"wxcas/keys"
	"wxcas/store"
)

// SQLStore is the Store on wxcas's database (tables wechat_platform_tickets
// and wechat_platform_authorizers, migration 00049), shared by every
// instance.
//
// Each save is a conditional UPDATE (only a row whose created_at is older),
// then, when no row exists yet, an INSERT; an INSERT that loses a race with
// another instance's falls back to the conditional UPDATE. Every step is one
// statement, so the database decides "newer" atomically and no read-then-
// write window lets an older message overwrite a newer one.
//
// The ticket is a credential (with the platform's secret it buys component
// access tokens): it is stored sealed with AES-256-GCM under a key derived
// from wxcas's master secret, with the component appid as additional data,
// so a database dump or replica does not hand it out and a value copied to
// another platform's row does not open.
type SQLStore struct {
	db     *store.DB
	sealer *keys.Sealer
	now    func() time.Time
	log    *slog.Logger
}

var _ Store = (*SQLStore)(nil)

// saveAttempts bounds how often a save runs again after MySQL picked it as a
// deadlock victim.
const saveAttempts = 3

// NewSQLStore returns a store on db. sealKey is 32 bytes, the same on every
// instance: keys.Derive(master, keys.PlatformSeal). now stamps received_at
// (default time.Now). Warnings go to slog.Default() unless WithLogger says
// otherwise.
func NewSQLStore(db *store.DB, sealKey []byte, now func() time.Time) (*SQLStore, error) {
	if db == nil {
		return nil, errors.New("platform: NewSQLStore needs a database")
	}
	if len(sealKey) != 32 {
		return nil, errors.New("platform: the seal key must be 32 bytes")
	}
	sealer, err := keys.NewSealer(sealKey)
	if err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &SQLStore{db: db, sealer: sealer, now: now, log: slog.Default().With("component", "wechat_platform")}, nil
}

// WithLogger returns a copy of s that logs to l.
func (s *SQLStore) WithLogger(l *slog.Logger) *SQLStore {
	c := *s
	if l != nil {
		c.log = l.With("component", "wechat_platform")
	}
	return &c
}

// SaveTicket implements Store.
func (s *SQLStore) SaveTicket(ctx context.Context, componentAppID, ticket string, created time.Time) (bool, error) {
	if !validAppID(componentAppID) {
		return false, fmt.Errorf("%w: component appid", ErrInvalid)
	}
	if ticket == "" || len(ticket) > MaxTicketLen {
		return false, fmt.Errorf("%w: ticket empty or longer than %d bytes", ErrInvalid, MaxTicketLen)
	}
	if err := checkCreated(created); err != nil {
		return false, err
	}
	sealed := s.sealer.Seal(componentAppID, ticket)
	created, now := store.Time(created), store.Time(s.now())
	ok, err := s.saveNewer(ctx,
		`UPDATE wechat_platform_tickets SET verify_ticket = ?, created_at = ?, received_at = ?
		WHERE component_appid = ? AND created_at < ?`,
		[]any{sealed, created, now, componentAppID, created},
		`INSERT INTO wechat_platform_tickets (component_appid, verify_ticket, created_at, received_at) VALUES (?, ?, ?, ?)`,
		[]any{componentAppID, sealed, created, now})
	if err != nil {
		return false, fmt.Errorf("platform: save ticket: %w", err)
	}
	return ok, nil
}

// Ticket implements Store. A row that does not open (another master
// secret, a tampered or copied value) counts as no ticket, with a warning:
// the next push, at most ten minutes away, replaces it.
func (s *SQLStore) Ticket(ctx context.Context, componentAppID string) (string, time.Time, error) {
	var (
		sealed  string
		created time.Time
	)
	err := s.db.QueryRowxContext(ctx, s.db.Rebind(`SELECT verify_ticket, created_at FROM wechat_platform_tickets WHERE component_appid = ?`), componentAppID).
		Scan(&sealed, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, ErrNoTicket
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("platform: read ticket: %w", err)
	}
	ticket, err := s.sealer.Open(componentAppID, sealed)
	if err != nil {
		s.log.WarnContext(ctx, "stored component_verify_ticket does not open; waiting for the next push", "component_appid", componentAppID, "err", err)
		return "", time.Time{}, ErrNoTicket
	}
	return ticket, created.UTC(), nil
}

// SaveAuthorization implements Store.
func (s *SQLStore) SaveAuthorization(ctx context.Context, componentAppID, authorizerAppID string, authorized bool, infoType string, created time.Time) (bool, error) {
	if !validAppID(componentAppID) {
		return false, fmt.Errorf("%w: component appid", ErrInvalid)
	}
	if !validAppID(authorizerAppID) {
		return false, fmt.Errorf("%w: authorizer appid", ErrInvalid)
	}
	if infoType == "" || len(infoType) > MaxInfoTypeLen {
		return false, fmt.Errorf("%w: info type empty or longer than %d bytes", ErrInvalid, MaxInfoTypeLen)
	}
	if err := checkCreated(created); err != nil {
		return false, err
	}
	flag := 0
	if authorized {
		flag = 1
	}
	created, now := store.Time(created), store.Time(s.now())
	ok, err := s.saveNewer(ctx,
		`UPDATE wechat_platform_authorizers SET authorized = ?, info_type = ?, created_at = ?, received_at = ?
		WHERE component_appid = ? AND authorizer_appid = ? AND created_at < ?`,
		[]any{flag, infoType, created, now, componentAppID, authorizerAppID, created},
		`INSERT INTO wechat_platform_authorizers (component_appid, authorizer_appid, authorized, info_type, created_at, received_at)
		VALUES (?, ?, ?, ?, ?, ?)`,
		[]any{componentAppID, authorizerAppID, flag, infoType, created, now})
	if err != nil {
		return false, fmt.Errorf("platform: save authorization: %w", err)
	}
	return ok, nil
}

// Authorization implements Store.
func (s *SQLStore) Authorization(ctx context.Context, componentAppID, authorizerAppID string) (Status, error) {
	var flag int
	err := s.db.QueryRowxContext(ctx, s.db.Rebind(`SELECT authorized FROM wechat_platform_authorizers WHERE component_appid = ? AND authorizer_appid = ?`),
		componentAppID, authorizerAppID).Scan(&flag)
	if errors.Is(err, sql.ErrNoRows) {
		return StatusUnknown, nil
	}
	if err != nil {
		return StatusUnknown, fmt.Errorf("platform: read authorization: %w", err)
	}
	if flag != 0 {
		return StatusAuthorized, nil
	}
	return StatusUnauthorized, nil
}

// saveNewer runs update (conditional on an older created_at); when it
// changes nothing, either no row exists (insert it) or the stored row is as
// new or newer (leave it). An insert beaten by another instance's means the
// row now exists: the conditional update decides. It reports whether this
// call's values were stored.
func (s *SQLStore) saveNewer(ctx context.Context, update string, updateArgs []any, insert string, insertArgs []any) (bool, error) {
	for attempt := 1; ; attempt++ {
		ok, err := s.tryUpdate(ctx, update, updateArgs)
		if err == nil && !ok {
			_, err = s.db.ExecContext(ctx, s.db.Rebind(insert), insertArgs...)
			if err == nil {
				return true, nil
			}
			if store.IsDuplicate(err) {
				ok, err = s.tryUpdate(ctx, update, updateArgs)
			}
		}
		if err != nil && store.IsDeadlock(err) && attempt < saveAttempts {
			continue
		}
		return ok, err
	}
}

func (s *SQLStore) tryUpdate(ctx context.Context, update string, args []any) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.db.Rebind(update), args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// checkCreated refuses times a DATETIME column cannot hold and that no
// CreateTime (Unix seconds) can be.
func checkCreated(t time.Time) error {
	if t.Unix() <= 0 || t.Year() > 9999 {
		return fmt.Errorf("%w: created must be after 1970 and before the year 10000", ErrInvalid)
	}
	return nil
}
