package challenge_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/challenge"
	"wxcas/challenge/challengetest"
	"wxcas/store"
	"wxcas/store/storetest"
)

var testKey = bytes.Repeat([]byte("k"), 32)

const (
	difficulty = 2000
	ttl        = 5 * time.Minute
)

func TestSQLStoreConformance(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		challengetest.Run(t, func(t *testing.T) challenge.Store {
			_, err := db.Exec(`DELETE FROM pow_challenges`)
			require.NoError(t, err)
			return challenge.SQLStore{DB: db}
		})
	})
}

func newService(t *testing.T, db *store.DB) (*challenge.Service, *storetest.Clock) {
	t.Helper()
	clock := storetest.NewClock()
	s, err := challenge.New(testKey, challenge.SQLStore{DB: db}, clock.Now)
	require.NoError(t, err)
	return s, clock
}

// decoded is a payload's JSON, to be altered and re-encoded.
func decoded(t *testing.T, payload string) map[string]any {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(payload)
	require.NoError(t, err)
	m := map[string]any{}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	require.NoError(t, d.Decode(&m))
	return m
}

func encoded(t *testing.T, m map[string]any) string {
	t.Helper()
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(b)
}

func with(t *testing.T, payload, key string, value any) string {
	m := decoded(t, payload)
	m[key] = value
	return encoded(t, m)
}

func number(t *testing.T, payload string) int64 {
	n, err := decoded(t, payload)["number"].(json.Number).Int64()
	require.NoError(t, err)
	return n
}

// Redeem on every backend: one good answer, once, by its holder, in time;
// everything else refused with the right error, which never carries the
// payload.
func TestRedeem(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clock := newService(t, db)
		issue := func(t *testing.T, holder string) (challenge.Challenge, string) {
			c, err := s.Issue(ctx, holder, difficulty, ttl)
			require.NoError(t, err)
			return c, challengetest.Solve(c)
		}
		other, err := challenge.New(bytes.Repeat([]byte("x"), 32), challenge.SQLStore{DB: db}, clock.Now)
		require.NoError(t, err)

		tests := []struct {
			name string
			// do redeems; it returns the payload tried and Redeem's error.
			do   func(t *testing.T) (string, error)
			want error
		}{
			{"good", func(t *testing.T) (string, error) {
				_, p := issue(t, "alice")
				return p, s.Redeem(ctx, "alice", p, difficulty)
			}, nil},
			{"url base64 without padding", func(t *testing.T) (string, error) {
				_, p := issue(t, "alice")
				raw, _ := base64.StdEncoding.DecodeString(p)
				p = base64.RawURLEncoding.EncodeToString(raw)
				return p, s.Redeem(ctx, "alice", p, difficulty)
			}, nil},
			{"reused", func(t *testing.T) (string, error) {
				_, p := issue(t, "alice")
				require.NoError(t, s.Redeem(ctx, "alice", p, difficulty))
				return p, s.Redeem(ctx, "alice", p, difficulty)
			}, challenge.ErrUsed},
			{"wrong holder", func(t *testing.T) (string, error) {
				_, p := issue(t, "alice")
				err := s.Redeem(ctx, "bob", p, difficulty)
				require.NoError(t, s.Redeem(ctx, "alice", p, difficulty), "another holder's attempt used the challenge up")
				return p, err
			}, challenge.ErrInvalid},
			{"empty holder", func(t *testing.T) (string, error) {
				_, p := issue(t, "alice")
				return p, s.Redeem(ctx, "", p, difficulty)
			}, challenge.ErrInvalid},
			{"forged signature", func(t *testing.T) (string, error) {
				c, p := issue(t, "alice")
				sig := []byte(c.Signature)
				sig[0] ^= 1
				p = with(t, p, "signature", string(sig))
				return p, s.Redeem(ctx, "alice", p, difficulty)
			}, challenge.ErrInvalid},
			{"signature not hex", func(t *testing.T) (string, error) {
				_, p := issue(t, "alice")
				p = with(t, p, "signature", "zz")
				return p, s.Redeem(ctx, "alice", p, difficulty)
			}, challenge.ErrInvalid},
			{"another key's challenge", func(t *testing.T) (string, error) {
				c, err := other.Issue(ctx, "alice", difficulty, ttl)
				require.NoError(t, err)
				p := challengetest.Solve(c)
				return p, s.Redeem(ctx, "alice", p, difficulty)
			}, challenge.ErrInvalid},
			{"wrong number", func(t *testing.T) (string, error) {
				_, p := issue(t, "alice")
				p = with(t, p, "number", number(t, p)+1)
				return p, s.Redeem(ctx, "alice", p, difficulty)
			}, challenge.ErrInvalid},
			{"negative number", func(t *testing.T) (string, error) {
				_, p := issue(t, "alice")
				p = with(t, p, "number", -1)
				return p, s.Redeem(ctx, "alice", p, difficulty)
			}, challenge.ErrInvalid},
			{"number not an integer", func(t *testing.T) (string, error) {
				_, p := issue(t, "alice")
				p = with(t, p, "number", json.Number(strconv.FormatInt(number(t, p), 10)+".0"))
				return p, s.Redeem(ctx, "alice", p, difficulty)
			}, challenge.ErrInvalid},
			{"number missing", func(t *testing.T) (string, error) {
				_, p := issue(t, "alice")
				m := decoded(t, p)
				delete(m, "number")
				p = encoded(t, m)
				return p, s.Redeem(ctx, "alice", p, difficulty)
			}, challenge.ErrInvalid},
			{"expired", func(t *testing.T) (string, error) {
				_, p := issue(t, "alice")
				clock.Advance(ttl + time.Second)
				return p, s.Redeem(ctx, "alice", p, difficulty)
			}, challenge.ErrExpired},
			{"issued easier than asked for now", func(t *testing.T) (string, error) {
				_, p := issue(t, "alice")
				err := s.Redeem(ctx, "alice", p, 2*difficulty)
				require.NoError(t, s.Redeem(ctx, "alice", p, difficulty), "not used up: good where its difficulty is enough")
				return p, err
			}, challenge.ErrTooEasy},
			{"difficulty altered in the salt", func(t *testing.T) (string, error) {
				// A solver who raises max= to pass a harder check: the
				// salt's tag covers the difficulty, and the signed
				// challenge is the hash of the salt as issued.
				c, p := issue(t, "alice")
				salt := strings.Replace(c.Salt, fmt.Sprintf("&max=%d&", difficulty), fmt.Sprintf("&max=%d&", 8*difficulty), 1)
				require.NotEqual(t, c.Salt, salt)
				p = with(t, p, "salt", salt)
				return p, s.Redeem(ctx, "alice", p, 8*difficulty)
			}, challenge.ErrInvalid},
			{"salt altered", func(t *testing.T) (string, error) {
				c, p := issue(t, "alice")
				p = with(t, p, "salt", strings.TrimSuffix(c.Salt, "&"))
				return p, s.Redeem(ctx, "alice", p, difficulty)
			}, challenge.ErrInvalid},
			{"malformed base64", func(t *testing.T) (string, error) {
				p := "not base64!"
				return p, s.Redeem(ctx, "alice", p, difficulty)
			}, challenge.ErrInvalid},
			{"malformed JSON", func(t *testing.T) (string, error) {
				p := base64.StdEncoding.EncodeToString([]byte(`{"algorithm":"SHA-256",`))
				return p, s.Redeem(ctx, "alice", p, difficulty)
			}, challenge.ErrInvalid},
			{"JSON not an object", func(t *testing.T) (string, error) {
				p := base64.StdEncoding.EncodeToString([]byte(`[1,2,3]`))
				return p, s.Redeem(ctx, "alice", p, difficulty)
			}, challenge.ErrInvalid},
			{"empty", func(t *testing.T) (string, error) {
				return "", s.Redeem(ctx, "alice", "", difficulty)
			}, challenge.ErrInvalid},
			{"oversized", func(t *testing.T) (string, error) {
				_, p := issue(t, "alice")
				p = with(t, p, "padding", strings.Repeat("x", challenge.MaxPayload))
				err := s.Redeem(ctx, "alice", p, difficulty)
				// The challenge itself is still good.
				require.NoError(t, s.Redeem(ctx, "alice", with(t, p, "padding", ""), difficulty))
				return p, err
			}, challenge.ErrInvalid},
			{"wrong algorithm", func(t *testing.T) (string, error) {
				_, p := issue(t, "alice")
				p = with(t, p, "algorithm", "SHA-512")
				return p, s.Redeem(ctx, "alice", p, difficulty)
			}, challenge.ErrInvalid},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				payload, err := tc.do(t)
				if tc.want == nil {
					require.NoError(t, err)
					return
				}
				require.ErrorIs(t, err, tc.want)
				if payload != "" {
					require.NotContains(t, err.Error(), payload)
				}
			})
		}
	})
}

// Of concurrent redeemers of one solution exactly one wins; the others are
// told it is used.
func TestRedeemRace(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, _ := newService(t, db)
		c, err := s.Issue(ctx, "alice", difficulty, ttl)
		require.NoError(t, err)
		p := challengetest.Solve(c)
		errs := storetest.Race(8, func(int) error { return s.Redeem(ctx, "alice", p, difficulty) })
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
			} else {
				require.ErrorIs(t, err, challenge.ErrUsed)
			}
		}
		require.Equal(t, 1, won)
	})
}

// What Issue hands out is what the widget 2.3.0 accepts; Issue stores
// nothing, and what a redemption stores reveals neither the number nor the
// holder.
func TestIssue(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := context.Background()
	s, clock := newService(t, db)
	c, err := s.Issue(ctx, "+8613800000000", difficulty, ttl)
	require.NoError(t, err)

	b, err := json.Marshal(c)
	require.NoError(t, err)
	var fields map[string]any
	require.NoError(t, json.Unmarshal(b, &fields))
	var names []string
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	require.Equal(t, []string{"algorithm", "challenge", "maxnumber", "salt", "signature"}, names)
	require.Equal(t, "SHA-256", c.Algorithm)
	require.EqualValues(t, difficulty, c.MaxNumber)
	require.GreaterOrEqual(t, len(c.Challenge), 40, "the widget refuses shorter challenges")
	require.GreaterOrEqual(t, len(c.Salt), 10, "the widget refuses shorter salts")

	// The widget reads the expiry as the salt's query does.
	q, err := url.ParseQuery(c.Salt[strings.Index(c.Salt, "?")+1:])
	require.NoError(t, err)
	require.Equal(t, strconv.FormatInt(clock.Now().Add(ttl).Unix(), 10), q.Get("expires"))
	require.True(t, strings.HasSuffix(c.Salt, "&"), "the parameters are terminated")

	var rows []struct {
		ID        string    `db:"id"`
		Holder    string    `db:"holder"`
		ExpiresAt time.Time `db:"expires_at"`
		CreatedAt time.Time `db:"created_at"`
	}
	require.NoError(t, db.Select(&rows, `SELECT id, holder, expires_at, created_at FROM pow_challenges`))
	require.Empty(t, rows, "issuing stores nothing: page views cannot fill the table")
	clock.Advance(time.Second)
	require.NoError(t, s.Redeem(ctx, "+8613800000000", challengetest.Solve(c), 1))
	require.NoError(t, db.Select(&rows, `SELECT id, holder, expires_at, created_at FROM pow_challenges`))
	require.Len(t, rows, 1)
	sum := sha256.Sum256([]byte(c.Challenge))
	require.Equal(t, hex.EncodeToString(sum[:]), rows[0].ID)
	plain := sha256.Sum256([]byte("+8613800000000"))
	require.Len(t, rows[0].Holder, 64)
	require.NotEqual(t, hex.EncodeToString(plain[:]), rows[0].Holder, "the holder is stored keyed")
	require.True(t, rows[0].ExpiresAt.Equal(clock.Now().Add(ttl-time.Second)), "kept until the challenge expires: %v", rows[0].ExpiresAt)
	require.True(t, rows[0].CreatedAt.Equal(clock.Now()), "when it was redeemed")

	// A fractional expiry is rounded up to the second the salt carries.
	clock.Advance(300 * time.Millisecond)
	c2, err := s.Issue(ctx, "alice", difficulty, ttl)
	require.NoError(t, err)
	q, err = url.ParseQuery(c2.Salt[strings.Index(c2.Salt, "?")+1:])
	require.NoError(t, err)
	require.Equal(t, strconv.FormatInt(clock.Now().Add(ttl).Unix()+1, 10), q.Get("expires"))

	for _, bad := range []struct {
		holder     string
		difficulty int64
		ttl        time.Duration
	}{
		{"", difficulty, ttl},
		{"alice", 0, ttl},
		{"alice", -1, ttl},
		{"alice", challenge.MaxDifficulty + 1, ttl},
		{"alice", difficulty, 999 * time.Millisecond},
	} {
		_, err := s.Issue(ctx, bad.holder, bad.difficulty, bad.ttl)
		require.Error(t, err, "Issue(%q, %d, %v)", bad.holder, bad.difficulty, bad.ttl)
	}
	_, err = challenge.New(testKey[:31], challenge.SQLStore{DB: db}, nil)
	require.Error(t, err, "a short key")
	_, err = challenge.New(testKey, nil, nil)
	require.Error(t, err, "no store")
}

// The secret number covers [0, difficulty], both ends included.
func TestIssueNumberRange(t *testing.T) {
	s, err := challenge.New(testKey, &memStore{}, nil)
	require.NoError(t, err)
	const d = 3
	seen := map[int64]int{}
	for range 400 {
		c, err := s.Issue(context.Background(), "alice", d, ttl)
		require.NoError(t, err)
		seen[number(t, challengetest.Solve(c))]++
	}
	for n := int64(0); n <= d; n++ {
		require.Greater(t, seen[n], 40, "number %d drawn %d times of 400: %v", n, seen[n], seen)
	}
	require.Len(t, seen, d+1)
}

// Cleanup deletes the redemptions whose challenges expired, by the
// service's clock, and keeps the rest: a live one still cannot be replayed.
func TestCleanup(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clock := newService(t, db)
		for range 3 {
			c, err := s.Issue(ctx, "alice", difficulty, time.Minute)
			require.NoError(t, err)
			require.NoError(t, s.Redeem(ctx, "alice", challengetest.Solve(c), 1))
		}
		live, err := s.Issue(ctx, "alice", difficulty, time.Hour)
		require.NoError(t, err)
		solved := challengetest.Solve(live)
		require.NoError(t, s.Redeem(ctx, "alice", solved, 1))
		n, err := s.Cleanup(ctx)
		require.NoError(t, err)
		require.Zero(t, n)
		clock.Advance(2 * time.Minute)
		n, err = s.Cleanup(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 3, n)
		require.ErrorIs(t, s.Redeem(ctx, "alice", solved, 1), challenge.ErrUsed, "the live redemption was kept")
	})
}

// On MariaDB/MySQL the clean-up and the redemption read through indexes,
// never the whole table.
func TestStatementsUseIndexes(t *testing.T) {
	db := storetest.MySQL(t)
	ctx := context.Background()
	st := challenge.SQLStore{DB: db}
	now := storetest.NewClock().Now()
	for i := range 3000 {
		expires := now.Add(time.Hour)
		if i%100 == 0 {
			expires = now.Add(-time.Minute)
		}
		sum := sha256.Sum256([]byte(strconv.Itoa(i)))
		ok, err := st.Spend(ctx, challenge.Record{ID: hex.EncodeToString(sum[:]), Holder: strings.Repeat("a", 64),
			CreatedAt: now, ExpiresAt: expires})
		require.NoError(t, err)
		require.True(t, ok)
	}
	_, err := db.Exec(`ANALYZE TABLE pow_challenges`)
	require.NoError(t, err)
	storetest.RequireIndexed(t, db, `DELETE FROM pow_challenges WHERE expires_at <= ? LIMIT 500`, "pow_challenges_expires", now)
}

// memStore is a Store in memory, for the tests that only need Issue.
type memStore struct{}

func (m *memStore) Spend(context.Context, challenge.Record) (bool, error) {
	return false, errors.New("memStore: not implemented")
}
func (m *memStore) DeleteExpired(context.Context, time.Time, int) (int64, error) { return 0, nil }
