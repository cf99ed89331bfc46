package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"wxcas/cas"
	"wxcas/journey"
	"wxcas/store"
	"wxcas/store/storetest"
)

// The seeded keys have the lengths and alphabets of real ones, end with the
// mark that no real key can end with, and ascend with the row number (each
// worker inserts in key order).
func TestSeedKeys(t *testing.T) {
	const n = 5000
	g := newSeedGen(seedPlan{}, time.Now(), n)
	formats := []*regexp.Regexp{
		regexp.MustCompile(`^[0-9a-f]{59}-seed$`),    // a session: 64 characters, as the hex SHA-256 of a TGT id
		regexp.MustCompile(`^ST-[A-Z2-7]{21}-seed$`), // a service ticket: 29, as "ST-" + rand.Text()
		regexp.MustCompile(`^[A-Z2-7]{21}-seed$`),    // a journey: 26, as rand.Text()
	}
	var prev [3]string
	for i := range n {
		tgt, st, jid := g.keys(i)
		for k, key := range []string{tgt, st, jid} {
			if !formats[k].MatchString(key) {
				t.Fatalf("row %d: key %q is not %s", i, key, formats[k])
			}
			if key <= prev[k] {
				t.Fatalf("row %d: key %q after %q: not ascending", i, key, prev[k])
			}
			prev[k] = key
		}
	}
	// Real keys never carry the mark.
	sum := sha256.Sum256([]byte("TGT-" + rand.Text()))
	for _, real := range []string{hex.EncodeToString(sum[:]), "ST-" + rand.Text(), rand.Text()} {
		if strings.HasSuffix(real, seedMark) {
			t.Errorf("a real key %q ends with %q", real, seedMark)
		}
	}
	// The first and last keys lie at both ends of the key space.
	first, _, _ := newSeedGen(seedPlan{}, time.Now(), n).keys(0)
	last, _, _ := newSeedGen(seedPlan{}, time.Now(), n).keys(n - 1)
	if first[0] != '0' || last[0] != 'f' {
		t.Errorf("keys of rows 0 and %d: %q, %q", n-1, first, last)
	}
}

// TestSeedAndUnseed seeds a fresh wxcas database on the test MySQL server
// through the command line, reads the seeded rows back through wxcas's own
// stores, runs wxcas's clean-ups (which must leave them alone), seeds more,
// and unseeds: every seeded row goes, and the rows wxcas wrote stay as they
// were. Skipped without a MySQL server, except under CI=true (storetest).
func TestSeedAndUnseed(t *testing.T) {
	dsn := storetest.NewMySQLDatabase(t)
	db := storetest.OpenMySQL(t, dsn) // migrated, as wxcas does at start-up
	ctx := context.Background()
	now := time.Now().UTC()

	// One real login's rows, written by wxcas's stores.
	cs, js := cas.NewSQLStore(db), journey.NewSQLStore(db)
	sum := sha256.Sum256([]byte("TGT-" + rand.Text()))
	realTGT, realST, realJourney := hex.EncodeToString(sum[:]), "ST-"+rand.Text(), rand.Text()
	p := cas.Principal{ID: "ureal", Attributes: map[string][]string{"userId": {"ureal"}}, AuthenticatedAt: now}
	if err := cs.CreateTGT(ctx, cas.TGT{Key: realTGT, PrincipalID: p.ID, Attributes: p.Attributes, AuthenticatedAt: now,
		CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(48 * time.Hour), IdleExpiresAt: now.Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CreateTicket(ctx, cas.Ticket{ID: realST, TGTKey: realTGT, Service: "https://app.example/", CreatedAt: now,
		ExpiresAt: now.Add(48 * time.Hour), Principal: p},
		&cas.SLOTarget{TicketID: realST, ServiceID: "app", ServiceURL: "https://app.example/", LogoutURL: "https://app.example/slo"}); err != nil {
		t.Fatal(err)
	}
	if err := js.Create(ctx, &journey.Journey{ID: realJourney, State: journey.Finished, Transport: journey.Browser, Return: "{}",
		SecretHash: "x", CreatedAt: now, ExpiresAt: now.Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	realRows := snapshotUnseeded(t, db)

	// Seed through the command line; 2,500 is not a multiple of the batch.
	const n = 2500
	out := runOK(t, "-seed", fmt.Sprint(n), "-seed-dsn", dsn, "-load", "none")
	want := fmt.Sprintf("seed: rows now (seeded/all): cas_tgt=%d/%d cas_tickets=%d/%d cas_tgt_services=%d/%d login_journeys=%d/%d", n, n+1, n, n+1, n, n+1, n, n+1)
	if !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf("seed: wrote %d rows in", 4*n)) {
		t.Fatalf("output:\n%s\nwant %q", out, want)
	}
	firstService := hasColumn(t, db, "cas_tgt", "first_st_id") // migration 00051
	t.Logf("cas_tgt has migration 00051's first service: %t", firstService)
	if firstService {
		var c int
		if err := db.GetContext(ctx, &c, `SELECT COUNT(*) FROM cas_tgt WHERE first_st_id LIKE '%-seed' AND first_service_id = 'seed'`); err != nil || c != n {
			t.Errorf("seeded sessions with their first service (00051): %d, %v; want %d", c, err, n)
		}
	}

	// The seeded rows are rows wxcas reads, live for hours.
	var tgts, tickets, journeys []string
	for _, q := range []struct {
		dst *[]string
		sql string
	}{
		{&tgts, `SELECT id_hash FROM cas_tgt WHERE id_hash LIKE '%-seed' ORDER BY id_hash LIMIT 3`},
		{&tickets, `SELECT id FROM cas_tickets WHERE id LIKE '%-seed' ORDER BY id DESC LIMIT 3`},
		{&journeys, `SELECT id FROM login_journeys WHERE id LIKE '%-seed' LIMIT 3`},
	} {
		if err := db.SelectContext(ctx, q.dst, q.sql); err != nil || len(*q.dst) != 3 {
			t.Fatalf("%s: %v, %v", q.sql, *q.dst, err)
		}
	}
	live := now.Add(seedMinLife - time.Minute)
	for _, key := range tgts {
		s, err := cs.GetTGT(ctx, key)
		if err != nil {
			t.Fatalf("GetTGT(%s): %v", key, err)
		}
		if !strings.HasPrefix(s.PrincipalID, "u") || !slices.Equal(s.Attributes["userId"], []string{s.PrincipalID}) ||
			s.ExpiresAt.Before(live) || s.IdleExpiresAt.Before(live) || s.IdleExpiresAt.After(s.ExpiresAt) ||
			s.CreatedAt.After(now) || s.LastUsedAt.Before(s.CreatedAt) {
			t.Errorf("seeded session %+v", s)
		}
	}
	var consumed []string
	for _, id := range tickets {
		tk, err := cs.ConsumeTicket(ctx, id) // as validating it would
		if err != nil {
			t.Fatalf("ConsumeTicket(%s): %v", id, err)
		}
		s, err := cs.GetTGT(ctx, tk.TGTKey)
		if err != nil || tk.Principal.ID != s.PrincipalID || tk.ExpiresAt.Before(live) || tk.ExpiresAt.After(s.IdleExpiresAt) ||
			tk.Service != seedService || tk.FromNewLogin {
			t.Errorf("seeded ticket %+v of session %+v (%v)", tk, s, err)
		}
		consumed = append(consumed, id)
	}
	for _, id := range journeys {
		j, err := js.Get(ctx, id)
		if err != nil {
			t.Fatalf("journey Get(%s): %v", id, err)
		}
		if j.State != journey.Finished || j.UserID == "" || j.ExpiresAt.Before(live) || !j.StepExpiresAt.IsZero() {
			t.Errorf("seeded journey %+v", j)
		}
	}

	// wxcas's clean-ups, even an hour early, find nothing to end.
	ended := 0
	if err := cs.Cleanup(ctx, now.Add(seedMinLife-time.Hour), func(cas.EndedSession) { ended++ }); err != nil {
		t.Fatal(err)
	}
	if gone, err := js.Cleanup(ctx, now.Add(seedMinLife-time.Hour)); err != nil || gone != 0 || ended != 0 {
		t.Errorf("clean-up ended %d sessions and %d journeys (%v), want none", ended, gone, err)
	}

	// A second seeding adds to the first, with other keys.
	runOK(t, "-seed", "700", "-seed-dsn", dsn, "-load", "none")
	counts := countsOf(t, dsn)
	wantSeeded := map[string]int64{"cas_tgt": n + 700, "cas_tickets": n + 700 - int64(len(consumed)), "cas_tgt_services": n + 700, "login_journeys": n + 700}
	for _, c := range counts {
		if c.seeded != wantSeeded[c.table] || c.all != c.seeded+1 {
			t.Errorf("after two seedings %s has %d seeded of %d, want %d of %d", c.table, c.seeded, c.all, wantSeeded[c.table], wantSeeded[c.table]+1)
		}
	}

	// -unseed alone deletes exactly the seeded rows and runs no load.
	out = runOK(t, "-unseed", "-seed-dsn", dsn)
	want = fmt.Sprintf("deleted cas_tgt=%d cas_tickets=%d cas_tgt_services=%d login_journeys=%d",
		wantSeeded["cas_tgt"], wantSeeded["cas_tickets"], wantSeeded["cas_tgt_services"], wantSeeded["login_journeys"])
	if !strings.Contains(out, want) || strings.Contains(out, "wxcas-loadtest: base=") {
		t.Errorf("unseed output:\n%s\nwant %q and no load", out, want)
	}
	if got := snapshotUnseeded(t, db); got != realRows {
		t.Errorf("wxcas's own rows changed:\n%s\nwere\n%s", got, realRows)
	}
	for _, c := range countsOf(t, dsn) {
		if c.seeded != 0 || c.all != 1 {
			t.Errorf("after -unseed %s has %d seeded of %d rows", c.table, c.seeded, c.all)
		}
	}
	if tk, err := cs.ConsumeTicket(ctx, realST); err != nil || tk.Principal.ID != "ureal" {
		t.Errorf("the real ticket after -unseed: %+v, %v", tk, err)
	}
}

// A database that is not a migrated wxcas one is refused before anything
// is written or deleted.
func TestSeedRefusesAnotherDatabase(t *testing.T) {
	dsn := storetest.NewMySQLDatabase(t) // empty: no migrations
	for _, args := range [][]string{{"-seed", "10", "-load", "none"}, {"-unseed"}} {
		var out, errs bytes.Buffer
		code := run(context.Background(), append(args, "-seed-dsn", dsn), &out, &errs)
		if code != 1 || !strings.Contains(errs.String(), "no table cas_tgt") || strings.Contains(out.String(), "wrote") {
			t.Errorf("%q on an empty database: exit %d, stdout %q, stderr %q", args, code, out.String(), errs.String())
		}
	}
}

func runOK(t *testing.T, args ...string) string {
	t.Helper()
	var out, errs bytes.Buffer
	if code := run(context.Background(), args, &out, &errs); code != 0 {
		t.Fatalf("%q: exit %d\n%s\n%s", args, code, out.String(), errs.String())
	}
	return out.String()
}

func countsOf(t *testing.T, dsn string) []tableCount {
	t.Helper()
	sdb, _, err := openSeedDB(context.Background(), dsn, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	cs, err := seedCounts(context.Background(), sdb)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func hasColumn(t *testing.T, db *store.DB, table, column string) bool {
	t.Helper()
	var n int
	err := db.Get(&n, `SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?`, table, column)
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// snapshotUnseeded is every unseeded row of the four tables, every column,
// as text.
func snapshotUnseeded(t *testing.T, db *store.DB) string {
	t.Helper()
	var b strings.Builder
	for _, st := range seedTables {
		rows, err := db.Query(fmt.Sprintf(`SELECT * FROM %s WHERE %s NOT LIKE '%%-seed' ORDER BY %s`, st.name, st.key, st.key))
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]sql.RawBytes, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s: %q\n", st.name, vals)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return b.String()
}
