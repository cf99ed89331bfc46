package main

// -seed and -unseed: wxcas's CAS and journey tables filled with N live rows
// before a load, so that the issue's goal "with 1M live tickets and
// sessions, login throughput ≥ 0.9 × the figure with 10k" can be measured,
// and emptied of them again. The tool writes SQL directly, in wxcas's
// formats (cas/sqlstore.go, journey/sqlstore.go, sql/mysql/), instead of
// importing wxcas's stores: it stays a client that measures wxcas from the
// outside (it shares only wxcas's connection settings, store.MySQLConfig).
// seed_test.go reads the rows back through wxcas's own stores.

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"wxcas/store"
)

const (
	// seedMark ends the key of every seeded row. No real key can end so:
	// session keys are 64 lowercase hex digits (the SHA-256 of the TGT id),
	// ticket ids "ST-"/"PT-" and base32 (A-Z, 2-7), journey ids base32, so
	// none holds a "-" past its "ST-"/"PT-".
	// The mark is a suffix, not a prefix, so that seeded keys spread over
	// the whole key space like real ones: with a common prefix the million
	// rows would sit together at one end of each index, and the logins
	// measured would insert into a small, always-cached corner of it, which
	// is not what a table of a million live rows costs.
	seedMark = "-seed"
	// seedBatch rows per INSERT (and per DELETE when unseeding): some
	// hundreds of KB per statement, far under max_allowed_packet.
	seedBatch = 1000
	// seedWorkers insert at once: a few, since the server does the work
	// and shares the machine with whatever else runs there (3 held about
	// 46,000 rows/s on the 2-vCPU test machine).
	seedWorkers = 3
	// Every seeded row expires between seedMinLife and seedMinLife +
	// seedLifeSpread after the seeding: neither validation nor wxcas's
	// clean-up (which reads only rows already expired) touches them during
	// a measurement of an hour or two. Real sessions end after at most
	// cas.tgt_max_lifetime (8h as shipped), so seeded expiries come after
	// theirs in the expiry indexes.
	seedMinLife    = 12 * time.Hour
	seedLifeSpread = 12 * time.Hour
	// seedService is the service the seeded people logged in to: a host
	// under .invalid (RFC 2606), which never resolves.
	seedService   = "https://seed.wxcas-loadtest.invalid/app/"
	seedServiceID = "seed"
	seedAppID     = "wxseed000000000001"
	// maxSeed bounds -seed: stratified's slices stay at least one key
	// wide, its arithmetic far from overflowing.
	maxSeed = 100_000_000
)

// seedTable is a table that -seed fills, -unseed empties of seeded rows,
// and the columns written, as migrations 00020-00050 define them; optional
// columns are written when the table has them (a later migration).
type seedTable struct {
	name, key string
	columns   []string
	optional  []string
}

// firstService are migration 00051's columns of cas_tgt: the service of
// the login that started the session, recorded for single logout in the
// session's row instead of a cas_tgt_services row. A database migrated by
// an older wxcas lacks them, so they are written only where they exist.
var firstService = []string{"first_st_id", "first_service_id", "first_service_url", "first_logout_url"}

var seedTables = []seedTable{
	{"cas_tgt", "id_hash", []string{"id_hash", "principal_id", "attributes", "authenticated_at", "created_at",
		"last_used_at", "expires_at", "idle_expires_at"}, firstService},
	// principal_id, attributes and authenticated_at are migration 00050's:
	// a ticket carries its session's principal, as wxcas writes it now.
	{"cas_tickets", "id", []string{"id", "tgt_hash", "service", "from_new_login", "proxies", "created_at",
		"expires_at", "principal_id", "attributes", "authenticated_at"}, nil},
	{"cas_tgt_services", "st_id", []string{"st_id", "tgt_hash", "service_id", "service_url", "logout_url",
		"created_at", "expires_at"}, nil},
	{"login_journeys", "id", []string{"id", "state", "transport", "channel", "service", "return_to",
		"secret_hash", "wechat_state_hash", "wechat_state_used", "appid", "openid", "unionid", "nickname",
		"avatar_url", "phone", "user_id", "version", "created_at", "step_expires_at", "expires_at",
		"entry_appid", "entry_openid", "wechat_appid"}, nil},
}

// openSeedDB connects to wxcas's database with the session settings wxcas
// itself uses (store.MySQLConfig): UTC times, strict mode, binary
// collation, and arguments escaped into the statement, so a batch of 1,000
// rows is one round trip, not a prepare, an execute and a close.
func openSeedDB(ctx context.Context, dsn string, conns int) (*sql.DB, string, error) {
	cfg, err := store.MySQLConfig(dsn)
	if err != nil {
		return nil, "", fmt.Errorf("-seed-dsn: %w", err)
	}
	// The name shown in the output, without the password.
	name := fmt.Sprintf("%s@%s/%s", cfg.User, cfg.Addr, cfg.DBName)
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, name, fmt.Errorf("-seed-dsn: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, name, fmt.Errorf("%s: %w", name, err)
	}
	return db, name, nil
}

// seedPlan is what the seeding writes into this database: each table's
// columns (seedTables order), the optional ones it has included.
type seedPlan struct {
	columns      [4][]string
	firstService bool // cas_tgt has migration 00051's columns
}

// checkSeedSchema makes sure the database is wxcas's, migrated far enough
// for the rows written here, before anything is written or deleted: every
// column the seeding writes must exist. A column it does not know (a later
// migration) is an error when a row cannot be inserted without it, and is
// reported otherwise, since it then takes its default in every seeded row,
// which may not be what wxcas writes.
func checkSeedSchema(ctx context.Context, db *sql.DB, w io.Writer) (seedPlan, error) {
	var plan seedPlan
	rows, err := db.QueryContext(ctx, `SELECT TABLE_NAME, COLUMN_NAME, IS_NULLABLE = 'NO' AND COLUMN_DEFAULT IS NULL AND EXTRA NOT LIKE '%auto_increment%'
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('cas_tgt', 'cas_tickets', 'cas_tgt_services', 'login_journeys')`)
	if err != nil {
		return plan, fmt.Errorf("read the schema: %w", err)
	}
	defer rows.Close()
	have := map[string]map[string]bool{} // table -> column -> required
	for rows.Next() {
		var table, column string
		var required bool
		if err := rows.Scan(&table, &column, &required); err != nil {
			return plan, fmt.Errorf("read the schema: %w", err)
		}
		if have[table] == nil {
			have[table] = map[string]bool{}
		}
		have[table][column] = required
	}
	if err := rows.Err(); err != nil {
		return plan, fmt.Errorf("read the schema: %w", err)
	}
	var errs []error
	for k, t := range seedTables {
		cols := have[t.name]
		if cols == nil {
			errs = append(errs, fmt.Errorf("no table %s: is -seed-dsn wxcas's database, and has wxcas started on it once (migrations)?", t.name))
			continue
		}
		var missing, unknown []string
		for _, c := range t.columns {
			if _, ok := cols[c]; !ok {
				missing = append(missing, c)
			}
		}
		plan.columns[k] = t.columns
		if len(t.optional) > 0 {
			n := 0
			for _, c := range t.optional {
				if _, ok := cols[c]; ok {
					n++
				}
			}
			switch n {
			case len(t.optional):
				plan.columns[k] = slices.Concat(t.columns, t.optional)
				plan.firstService = true
			case 0:
			default:
				errs = append(errs, fmt.Errorf("%s has some of %s but not all: a schema this tool does not know", t.name, strings.Join(t.optional, ", ")))
			}
		}
		for c, required := range cols {
			if slices.Contains(plan.columns[k], c) {
				continue
			}
			if required {
				errs = append(errs, fmt.Errorf("%s.%s: a column the seeding does not know and that has no default (a migration newer than this tool): teach seed.go to write it", t.name, c))
			} else {
				unknown = append(unknown, c)
			}
		}
		if len(missing) > 0 {
			errs = append(errs, fmt.Errorf("%s has no column %s: is -seed-dsn wxcas's database, migrated to 00050 or later?", t.name, strings.Join(missing, ", ")))
		}
		if len(unknown) > 0 {
			slices.Sort(unknown)
			fmt.Fprintf(w, "seed: warning: %s.%s not written by the seeding (a newer migration?): seeded rows take the column's default\n", t.name, strings.Join(unknown, ", "))
		}
	}
	return plan, errors.Join(errs...)
}

// seedRows inserts n sessions, each with one live service ticket, the
// service recorded for its single logout and the finished login journey
// that created it: 4n rows. workers goroutines each fill a contiguous range
// of [0, n) in batches of seedBatch, one transaction per batch (the four
// tables' rows of the batch together, so an interrupted seeding leaves the
// four counts equal). It prints progress every 5 s and returns the rows
// written.
func seedRows(ctx context.Context, db *sql.DB, plan seedPlan, n, workers int, w io.Writer) (int64, error) {
	now := time.Now().UTC()
	var done atomic.Int64 // sessions written
	start := time.Now()
	stopProgress := every(5*time.Second, func() {
		d := done.Load()
		fmt.Fprintf(w, "seed: %d/%d sessions (%.0f%%), %.0f rows/s\n", d, n, 100*float64(d)/float64(n), float64(4*d)/time.Since(start).Seconds())
	})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	workers = max(1, min(workers, (n+seedBatch-1)/seedBatch))
	for k := range workers {
		lo, hi := k*n/workers, (k+1)*n/workers
		wg.Go(func() {
			g := newSeedGen(plan, now, n)
			for a := lo; a < hi && ctx.Err() == nil; a += seedBatch {
				b := min(a+seedBatch, hi)
				if err := g.insertBatch(ctx, db, a, b); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
				done.Add(int64(b - a))
			}
		})
	}
	wg.Wait()
	stopProgress()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return 4 * done.Load(), firstErr
}

// seedGen makes one worker's rows. Its random source need not be secret
// (nobody will ever present a seeded id), only unpredictable enough that
// two seedings never collide: ChaCha8 keyed from crypto/rand.
type seedGen struct {
	plan seedPlan
	now  time.Time
	n    int
	rnd  *rand.Rand
	args [4][]any
}

func newSeedGen(plan seedPlan, now time.Time, n int) *seedGen {
	var key [32]byte
	_, _ = crand.Read(key[:]) // never fails (Go 1.24+)
	return &seedGen{plan: plan, now: now, n: n, rnd: rand.New(rand.NewChaCha8(key))}
}

const (
	hexDigits = "0123456789abcdef"
	// base32 as wxcas's ids use it (rand.Text: A-Z, 2-7), in ASCII order
	// here so that stratified() ascends as the keys sort.
	base32Digits = "234567ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	lowerBase32  = "abcdefghijklmnopqrstuvwxyz234567"
	// WeChat openids and unionids: letters, digits, '-' and '_'.
	openIDChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
)

func (g *seedGen) chars(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.rnd.IntN(len(alphabet))]
	}
	return string(b)
}

// stratified is the leading digits (in alphabet) of row i of n's key: a
// random point of the i-th of n equal slices of the key space, so they
// ascend with i and are spread evenly over it. A key starts with them and
// goes on at random: each worker then inserts in key order through its own
// part of every index (pages are read and written once, not at random all
// over a table larger than the buffer pool), and the keys, once there, lie
// like random ones.
func (g *seedGen) stratified(i, digits int, alphabet string) string {
	base := uint64(len(alphabet))
	space := uint64(1)
	for range digits {
		space *= base
	}
	// space ≤ 2^32 and i < n ≤ maxSeed: no overflow.
	v := (uint64(i)*space + g.rnd.Uint64N(space)) / uint64(g.n)
	b := make([]byte, digits)
	for k := digits - 1; k >= 0; k-- {
		b[k] = alphabet[v%base]
		v /= base
	}
	return string(b)
}

// The keys of session i, each as long as a real one and ending with seedMark:
// the session key (64 hex digits, as a SHA-256), the service ticket ("ST-" +
// 26 base32 digits) and the journey id (26 base32 digits).
func (g *seedGen) keys(i int) (tgt, st, journey string) {
	tgt = g.stratified(i, 8, hexDigits) + g.chars(hexDigits, 64-8-len(seedMark)) + seedMark
	st = "ST-" + g.stratified(i, 6, base32Digits) + g.chars(base32Digits, 26-6-len(seedMark)) + seedMark
	journey = g.stratified(i, 6, base32Digits) + g.chars(base32Digits, 26-6-len(seedMark)) + seedMark
	return tgt, st, journey
}

// insertBatch writes sessions [a, b) into the four tables in one
// transaction.
func (g *seedGen) insertBatch(ctx context.Context, db *sql.DB, a, b int) error {
	for k := range g.args {
		g.args[k] = g.args[k][:0]
	}
	for i := a; i < b; i++ {
		g.row(i)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for k, t := range seedTables {
		if _, err := tx.ExecContext(ctx, insertStatement(t.name, g.plan.columns[k], b-a), g.args[k]...); err != nil {
			return fmt.Errorf("seed %s: %w", t.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}

func insertStatement(table string, columns []string, rows int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(columns)), ", ") + ")"
	return "INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(one+", ", rows), ", ")
}

// row appends session i's four rows to the batch's arguments: a person who
// logged in in the last two hours and is still logged in (a WeChat login to
// the seed service), the service ticket of their last visit, not yet
// validated, the service recorded for single logout, and the finished
// journey of their login. Values have the lengths real ones have, so the
// rows take the room real ones take.
func (g *seedGen) row(i int) {
	tgt, st, jid := g.keys(i)
	// Expiries ascend with i, as the keys do, so that each worker also
	// fills the expiry indexes in order; they are all hours ahead.
	hard := g.now.Add(seedMinLife + time.Hour + time.Duration(float64(seedLifeSpread-time.Hour)*float64(i)/float64(g.n))).Truncate(time.Microsecond)
	idle := hard.Add(-time.Hour) // at least seedMinLife ahead
	created := g.now.Add(-time.Duration(g.rnd.Int64N(int64(2 * time.Hour)))).Truncate(time.Microsecond)
	authenticated := created.Add(-time.Duration(g.rnd.Int64N(int64(20 * time.Millisecond)))).Truncate(time.Microsecond)
	lastUsed := g.now.Add(-time.Duration(g.rnd.Int64N(int64(g.now.Sub(created)) + 1))).Truncate(time.Microsecond)
	issued := g.now.Add(-time.Duration(g.rnd.Int64N(int64(5 * time.Second)))).Truncate(time.Microsecond)

	user := "u" + g.chars(lowerBase32, 16)
	phone := fmt.Sprintf("+861%d%09d", 3+g.rnd.IntN(7), g.rnd.IntN(1_000_000_000))
	unionid := "o" + g.chars(openIDChars, 27)
	openid := "o" + g.chars(openIDChars, 27)
	nickname := fmt.Sprintf("seed %d", i)
	// The attributes as wxcas's login puts them in a session (JSON of a
	// map, keys sorted, as encoding/json writes it).
	attrs, _ := json.Marshal(map[string][]string{
		"loginChannel": {"wechat"}, "nickname": {nickname}, "phone": {phone}, "userId": {user}, "wechatUnionId": {unionid},
	})

	g.args[0] = append(g.args[0], tgt, user, string(attrs), authenticated, created, lastUsed, hard, idle)
	if g.plan.firstService {
		// The login's own ticket, validated long ago; its service is the
		// session's first, kept in the row (migration 00051). The
		// cas_tgt_services row below is then a later visit's, as it is
		// in wxcas since that migration.
		first := "ST-" + g.chars(base32Digits, 26-len(seedMark)) + seedMark
		g.args[0] = append(g.args[0], first, seedServiceID, seedService, "")
	}
	// A ticket never outlives its session (cas.ticketExpiry); the real
	// ones live seconds, these hours. logout_url is empty: if seeded rows
	// are forgotten until they expire, the clean-up ends their sessions
	// without sending a million logout requests.
	g.args[1] = append(g.args[1], st, tgt, seedService, false, "", issued, idle, user, string(attrs), authenticated)
	g.args[2] = append(g.args[2], st, tgt, seedServiceID, seedService, "", issued, hard)

	returnTo := `{"service_url":"` + seedService + `","service_id":"` + seedServiceID + `","service_name":"wxcas-loadtest -seed","method":"GET"}`
	avatar := "https://seed.wxcas-loadtest.invalid/mmopen/vi_32/" + g.chars(openIDChars, 22) + "/132"
	journeyCreated := authenticated.Add(-time.Duration(5+g.rnd.IntN(25)) * time.Second)
	// A finished journey stays journey.FinishGrace (30 s) in wxcas; these
	// stay hours, like the sessions.
	journeyExpires := g.now.Add(seedMinLife + time.Duration(float64(seedLifeSpread)*float64(i)/float64(g.n))).Truncate(time.Microsecond)
	// secret_hash and wechat_state_hash: SHA-256s and HMACs in hex. No
	// step deadline (step_expires_at NULL), as in every finished journey.
	g.args[3] = append(g.args[3], jid, "finished", "browser", "qr_inline", seedServiceID, returnTo,
		g.chars(hexDigits, 64), g.chars(hexDigits, 64), true, seedAppID, openid, unionid, nickname,
		avatar, phone, user, 4, journeyCreated, nil, journeyExpires, seedAppID, "", seedAppID)
}

// unseedRows deletes every seeded row, table by table at once (one
// goroutine each). Each walks its table's primary key in order, a window
// of seedBatch keys at a time, and deletes the window's seeded rows by
// their keys: every statement reads or locks at most seedBatch rows of the
// primary key, so logins running meanwhile wait for nothing long. (Seeded
// keys are spread over the key space, see seedMark, so no index range
// holds them alone.) It returns the rows deleted per table.
func unseedRows(ctx context.Context, db *sql.DB, w io.Writer) (map[string]int64, error) {
	deleted := make([]atomic.Int64, len(seedTables))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	stopProgress := every(5*time.Second, func() {
		var parts []string
		for k, t := range seedTables {
			parts = append(parts, fmt.Sprintf("%s=%d", t.name, deleted[k].Load()))
		}
		fmt.Fprintf(w, "unseed: deleted so far %s (%s)\n", strings.Join(parts, " "), time.Since(start).Round(time.Second))
	})
	errs := make([]error, len(seedTables))
	var wg sync.WaitGroup
	for k, t := range seedTables {
		wg.Go(func() {
			errs[k] = unseedTable(ctx, db, t, &deleted[k])
			if errs[k] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	stopProgress()
	out := map[string]int64{}
	for k, t := range seedTables {
		out[t.name] = deleted[k].Load()
	}
	return out, errors.Join(errs...)
}

func unseedTable(ctx context.Context, db *sql.DB, t seedTable, deleted *atomic.Int64) error {
	next := fmt.Sprintf(`SELECT %s FROM %s WHERE %s > ? ORDER BY %s LIMIT %d`, t.key, t.name, t.key, t.key, seedBatch)
	after := ""
	for {
		keys, err := queryStrings(ctx, db, next, after)
		if err != nil {
			return fmt.Errorf("unseed %s: %w", t.name, err)
		}
		var seeded []any
		for _, k := range keys {
			if strings.HasSuffix(k, seedMark) {
				seeded = append(seeded, k)
			}
		}
		if len(seeded) > 0 {
			// The mark is checked again by the server: whatever the
			// window held, only seeded rows can go.
			q := fmt.Sprintf(`DELETE FROM %s WHERE %s IN (%s) AND %s LIKE '%%%s'`, t.name, t.key,
				strings.TrimSuffix(strings.Repeat("?, ", len(seeded)), ", "), t.key, seedMark)
			res, err := db.ExecContext(ctx, q, seeded...)
			if err != nil {
				return fmt.Errorf("unseed %s: %w", t.name, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("unseed %s: %w", t.name, err)
			}
			deleted.Add(n)
		}
		if len(keys) < seedBatch {
			return nil
		}
		after = keys[len(keys)-1]
	}
}

func queryStrings(ctx context.Context, db *sql.DB, q string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// tableCount is a table's rows, all of them and the seeded ones.
type tableCount struct {
	table       string
	all, seeded int64
}

// seedCounts counts the four tables (each a scan of one index: about a
// second per million rows), so that the output records what a measurement
// ran against.
func seedCounts(ctx context.Context, db *sql.DB) ([]tableCount, error) {
	var out []tableCount
	for _, t := range seedTables {
		c := tableCount{table: t.name}
		q := fmt.Sprintf(`SELECT COUNT(*), COALESCE(SUM(%s LIKE '%%%s'), 0) FROM %s`, t.key, seedMark, t.name)
		if err := db.QueryRowContext(ctx, q).Scan(&c.all, &c.seeded); err != nil {
			return nil, fmt.Errorf("count %s: %w", t.name, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func formatCounts(cs []tableCount) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s=%d/%d", c.table, c.seeded, c.all))
	}
	return strings.Join(parts, " ")
}

// seedStep runs -unseed then -seed, as the command line asks, and prints
// what it did and the tables' counts after.
func seedStep(ctx context.Context, c config, w io.Writer) error {
	db, name, err := openSeedDB(ctx, c.seedDSN, max(seedWorkers, len(seedTables))+1)
	if err != nil {
		return err
	}
	defer db.Close()
	plan, err := checkSeedSchema(ctx, db, w)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if c.unseed {
		start := time.Now()
		n, err := unseedRows(ctx, db, w)
		var total int64
		var parts []string
		for _, t := range seedTables {
			total += n[t.name]
			parts = append(parts, fmt.Sprintf("%s=%d", t.name, n[t.name]))
		}
		took := time.Since(start)
		fmt.Fprintf(w, "unseed: %s: deleted %s (%d rows) in %s, %.0f rows/s\n", name, strings.Join(parts, " "), total,
			took.Round(time.Millisecond), float64(total)/took.Seconds())
		if err != nil {
			return err
		}
	}
	if c.seed > 0 {
		fmt.Fprintf(w, "seed: %s: %d sessions, each with a service ticket, a service recorded for single logout and a finished journey, live %.0fh to %.0fh from now\n",
			name, c.seed, seedMinLife.Hours(), (seedMinLife + seedLifeSpread).Hours())
		start := time.Now()
		rows, err := seedRows(ctx, db, plan, c.seed, seedWorkers, w)
		took := time.Since(start)
		fmt.Fprintf(w, "seed: wrote %d rows in %s, %.0f rows/s\n", rows, took.Round(time.Millisecond), float64(rows)/took.Seconds())
		if err != nil {
			return err
		}
	}
	start := time.Now()
	counts, err := seedCounts(ctx, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "seed: rows now (seeded/all): %s (counted in %s)\n", formatCounts(counts), time.Since(start).Round(time.Millisecond))
	return nil
}

// every runs report every period until the returned function is called,
// which waits for a report under way: the progress lines of seeding and
// unseeding.
func every(period time.Duration, report func()) (stop func()) {
	done := make(chan struct{})
	var running sync.WaitGroup
	running.Go(func() {
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				report()
			}
		}
	})
	return func() {
		close(done)
		running.Wait()
	}
}
