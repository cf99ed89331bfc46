// Package challengetest has the conformance suite of challenge.Store and a
// solver that answers a challenge as the ALTCHA widget does, for the tests
// of packages that ask for a challenge.
package challengetest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"wxcas/challenge"
	"wxcas/store/storetest"
)

// Solve finds c's number by brute force, as the widget does (0, 1, ... up
// to c.MaxNumber), and returns the payload the widget would put in its form
// field. It panics if there is none: c was not made by challenge.Issue.
func Solve(c challenge.Challenge) string {
	for n := int64(0); n <= c.MaxNumber; n++ {
		sum := sha256.Sum256([]byte(c.Salt + strconv.FormatInt(n, 10)))
		if hex.EncodeToString(sum[:]) == c.Challenge {
			return Payload(c, n)
		}
	}
	panic(fmt.Sprintf("challengetest: no number in [0, %d] solves the challenge", c.MaxNumber))
}

// Payload is the widget's form field for c answered with number (right or
// wrong): base64 (standard, as the browser's btoa) of the JSON it sends, in
// its order.
func Payload(c challenge.Challenge, number int64) string {
	b, err := json.Marshal(struct {
		Algorithm string `json:"algorithm"`
		Challenge string `json:"challenge"`
		Number    int64  `json:"number"`
		Salt      string `json:"salt"`
		Signature string `json:"signature"`
		Took      int64  `json:"took"`
	}{c.Algorithm, c.Challenge, number, c.Salt, c.Signature, 42})
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Run is the conformance suite of a challenge.Store; newStore returns an
// empty store for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) challenge.Store) {
	ctx := context.Background()
	now := storetest.T0
	id := func(name string) string {
		sum := sha256.Sum256([]byte(name))
		return hex.EncodeToString(sum[:])
	}
	alice, bob := id("holder alice"), id("holder bob")
	rec := func(name, holder string, expires time.Time) challenge.Record {
		return challenge.Record{ID: id(name), Holder: holder, CreatedAt: now.Add(-time.Minute), ExpiresAt: expires}
	}
	spend := func(t *testing.T, st challenge.Store, r challenge.Record) bool {
		t.Helper()
		ok, err := st.Spend(ctx, r)
		if err != nil {
			t.Fatalf("Spend: %v", err)
		}
		return ok
	}

	t.Run("SpendOnce", func(t *testing.T) {
		st := newStore(t)
		if !spend(t, st, rec("c1", alice, now.Add(5*time.Minute))) {
			t.Fatal("a first redemption was refused")
		}
		if spend(t, st, rec("c1", alice, now.Add(5*time.Minute))) {
			t.Fatal("a challenge was redeemed twice")
		}
		if spend(t, st, rec("c1", bob, now.Add(5*time.Minute))) {
			t.Fatal("a challenge was redeemed twice under another holder")
		}
		if !spend(t, st, rec("c2", alice, now.Add(5*time.Minute))) {
			t.Fatal("redeeming one challenge used up another")
		}
	})

	t.Run("ConcurrentSpenders", func(t *testing.T) {
		st := newStore(t)
		var won [8]bool
		errs := storetest.Race(len(won), func(i int) error {
			ok, err := st.Spend(ctx, rec("c1", alice, now.Add(5*time.Minute)))
			won[i] = ok
			return err
		})
		winners := 0
		for i, err := range errs {
			if err != nil {
				t.Errorf("spender %d: %v", i, err)
			}
			if won[i] {
				winners++
			}
		}
		if winners != 1 {
			t.Fatalf("%d of %d concurrent spenders won, want exactly 1", winners, len(won))
		}
	})

	t.Run("DeleteExpiredInBatches", func(t *testing.T) {
		st := newStore(t)
		const expired, live = 23, 4
		for i := range expired {
			spend(t, st, rec(fmt.Sprint("old", i), alice, now.Add(-time.Duration(i+1)*time.Second)))
		}
		spend(t, st, rec("at-now", bob, now)) // expires at now: dead, deleted
		// Times in another zone denote the same instant.
		spend(t, st, rec("zoned-old", bob, now.Add(-time.Second).In(storetest.Shanghai)))
		for i := range live {
			spend(t, st, rec(fmt.Sprint("live", i), alice, now.Add(time.Duration(i+1)*time.Second).In(storetest.Shanghai)))
		}
		n, err := st.DeleteExpired(ctx, now, 5)
		if err != nil {
			t.Fatalf("DeleteExpired: %v", err)
		}
		if n != expired+2 {
			t.Fatalf("DeleteExpired deleted %d records, want %d", n, expired+2)
		}
		if n, err := st.DeleteExpired(ctx, now, 5); err != nil || n != 0 {
			t.Fatalf("DeleteExpired again = %d, %v; want 0, nil", n, err)
		}
		for i := range live {
			if spend(t, st, rec(fmt.Sprint("live", i), alice, now.Add(time.Hour))) {
				t.Fatalf("live record %d was deleted: its challenge could be redeemed again", i)
			}
		}
	})
}
