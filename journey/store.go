package journey

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Store persists journeys. journeytest.Run is the contract every
// implementation passes: the SQL store on SQLite and MySQL, and MemStore.
type Store interface {
	// Create stores a new journey (Version 0). An existing id is an error.
	Create(ctx context.Context, j *Journey) error
	// Get returns the journey, expired or not (an expired one still tells
	// which service to start again for), or ErrNotFound.
	Get(ctx context.Context, id string) (*Journey, error)
	// Update loads the journey, applies fn to it and saves it with its
	// Version bumped, as one compare-and-swap: concurrent Updates of one
	// journey apply one after the other, each fn seeing the previous one's
	// result. An error from fn saves nothing and is returned as is. It
	// returns the journey as saved; ErrNotFound if there is none.
	Update(ctx context.Context, id string, fn func(*Journey) error) (*Journey, error)
	// Replace saves j over the stored journey if that is still at
	// j.Version (the version j was read at), bumping the version in j too:
	// one conditional write, no read, for a journey the caller has just
	// loaded. ErrConflict if the stored journey changed or went away
	// meanwhile; nothing is saved then. Like Update it never changes the
	// id or the creation time.
	Replace(ctx context.Context, j *Journey) error
	// Cleanup deletes journeys that expired before t.
	Cleanup(ctx context.Context, t time.Time) (int64, error)
}

// ErrNotFound: no such journey (never started, or cleaned up).
var ErrNotFound = errors.New("journey: not found")

// ErrConflict: Replace found the journey changed (or gone) since it was
// read.
var ErrConflict = errors.New("journey: changed since it was read")

// MemStore keeps journeys in process memory: for unit tests of the engine
// and the transports, never for a running service (journeys must survive a
// restart and be shared by every instance).
type MemStore struct {
	mu sync.Mutex
	m  map[string]Journey
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{m: map[string]Journey{}} }

var _ Store = (*MemStore)(nil)

// Create implements Store.
func (s *MemStore) Create(_ context.Context, j *Journey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[j.ID]; ok {
		return errors.New("journey: duplicate id")
	}
	j.Version = 0
	// Stored as the SQL store stores it (UTC, microseconds), so that unit
	// tests on MemStore see the times production sees.
	normalise(j)
	s.m[j.ID] = *j
	return nil
}

// Get implements Store.
func (s *MemStore) Get(_ context.Context, id string) (*Journey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.m[id]
	if !ok {
		return nil, ErrNotFound
	}
	return &j, nil
}

// Update implements Store.
func (s *MemStore) Update(_ context.Context, id string, fn func(*Journey) error) (*Journey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.m[id]
	if !ok {
		return nil, ErrNotFound
	}
	version, created := j.Version, j.CreatedAt
	if err := fn(&j); err != nil {
		return nil, err
	}
	// As the SQL store: fn cannot change the id, the version or the
	// creation time, and times are kept as the database keeps them.
	j.ID, j.Version, j.CreatedAt = id, version+1, created
	normalise(&j)
	s.m[id] = j
	return &j, nil
}

// Replace implements Store.
func (s *MemStore) Replace(_ context.Context, j *Journey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.m[j.ID]
	if !ok || cur.Version != j.Version {
		return ErrConflict
	}
	j.Version, j.CreatedAt = cur.Version+1, cur.CreatedAt
	normalise(j)
	s.m[j.ID] = *j
	return nil
}

// Cleanup implements Store.
func (s *MemStore) Cleanup(_ context.Context, t time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for id, j := range s.m {
		if !j.ExpiresAt.After(t) {
			delete(s.m, id)
			n++
		}
	}
	return n, nil
}
