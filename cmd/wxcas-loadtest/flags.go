package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// config is the command line.
type config struct {
	base, service, inbox   string
	emulator               string
	people                 int
	prefix                 string
	firstPhone             int64
	load                   string
	workers, pairs         int
	duration, warmup, fill time.Duration
	floor, floorDSN        string
	seed                   int    // sessions (and tickets, services, journeys) to insert before the loads
	seedDSN                string // wxcas's own database, for -seed and -unseed
	unseed                 bool
}

// loads is what -load selects, in order; none for -load none.
func (c config) loads() []string {
	switch c.load {
	case "all":
		return allLoads
	case "none":
		return nil
	}
	return []string{c.load}
}

// mainland mobile numbers: 11 digits, 13x to 19x.
var mobile = regexp.MustCompile(`^1[3-9][0-9]{9}$`)

var namePrefix = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// errUsage is a command-line error already printed.
var errUsage = errors.New("usage")

// parseFlags reads the command line; a usage error is returned for exit
// code 2 (flag.ErrHelp for -h).
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	var phone string
	fs := flag.NewFlagSet("wxcas-loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.base, "base", "http://127.0.0.1:8080", "wxcas's public URL (server.public_url), running in sandbox mode")
	fs.StringVar(&c.service, "service", "", "the registered CAS service the logins are for (default <base>/sandbox/app/, the sandbox demo site)")
	fs.StringVar(&c.inbox, "inbox", "", "the sandbox SMS inbox, read while binding (default <emulator>/sandbox/sms with -emulator, else <base>/sandbox/sms)")
	fs.StringVar(&c.emulator, "emulator", "", "the URL of `wxcas emulator` (wxcas's sandbox.emulator_url) when wxcas uses one; every QR code must then come from it")
	fs.IntVar(&c.people, "people", 16, "test people to bind and log in")
	fs.StringVar(&c.prefix, "prefix", "lt", "the people's emulator user names are <prefix>0, <prefix>1, ...")
	fs.StringVar(&phone, "first-phone", "13700000000", "phone bound to <prefix>0; person i gets this number + i")
	fs.StringVar(&c.load, "load", "all", "returning, sso, validate, all (those three in that order) or none (only -unseed and -seed)")
	fs.IntVar(&c.workers, "workers", 16, "concurrent workers (browsers) in every load, and the floor's -workers")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "measured time of each run (the floor's -duration)")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "unmeasured time before each run's window (the floor's -warmup)")
	fs.DurationVar(&c.fill, "fill", 2*time.Second, "validate load: longest phase of issuing tickets before they are validated; keep it well under cas.service_ticket_ttl")
	fs.IntVar(&c.pairs, "pairs", 3, "runs of each load; with -floor each is followed by a floor run (wxcas, floor, wxcas, floor, ...)")
	fs.StringVar(&c.floor, "floor", "", "path of the built bare-SQL floor binary (../shared/bench-floor); empty: measure wxcas only")
	fs.StringVar(&c.floorDSN, "floor-dsn", "", "the floor's -dsn; the database it names is DROPPED and recreated at every floor run")
	fs.IntVar(&c.seed, "seed", 0, "before the loads, insert this many live SSO sessions into wxcas's database, each with a live service ticket, a service recorded for single logout and a finished login journey (needs -seed-dsn)")
	fs.StringVar(&c.seedDSN, "seed-dsn", "", "wxcas's own MySQL/MariaDB database (its database.dsn, go-sql-driver format), for -seed and -unseed; never the floor's")
	fs.BoolVar(&c.unseed, "unseed", false, "first delete every row -seed inserted (needs -seed-dsn); without -seed, nothing else runs unless -load is given")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, errUsage // the flag package has printed it, with the usage
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	// -unseed on its own is the step back to a smaller seed (or none)
	// between measurements: it measures nothing unless asked to.
	loadGiven := false
	fs.Visit(func(f *flag.Flag) { loadGiven = loadGiven || f.Name == "load" })
	if c.unseed && c.seed == 0 && !loadGiven {
		c.load = "none"
	}
	c.base = strings.TrimSuffix(c.base, "/")
	c.emulator = strings.TrimSuffix(c.emulator, "/")
	if c.service == "" {
		c.service = c.base + "/sandbox/app/"
	}
	if c.inbox == "" {
		// wxcas emulator serves the inbox at the path wxcas serves its own.
		c.inbox = c.base + "/sandbox/sms"
		if c.emulator != "" {
			c.inbox = c.emulator + "/sandbox/sms"
		}
	}
	n, err := strconv.ParseInt(phone, 10, 64)
	if err != nil || !mobile.MatchString(phone) || !mobile.MatchString(strconv.FormatInt(n+int64(max(c.people, 1))-1, 10)) {
		return c, fmt.Errorf("-first-phone %q: the %d phones from it must be mainland mobile numbers (11 digits, 13x-19x)", phone, c.people)
	}
	c.firstPhone = n
	return c, c.check()
}

// check finds the flags that cannot work together, all at once.
func (c config) check() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for _, u := range []struct{ name, v string }{{"-base", c.base}, {"-service", c.service}, {"-inbox", c.inbox}, {"-emulator", c.emulator}} {
		if u.name == "-emulator" && u.v == "" {
			continue
		}
		if p, err := url.Parse(u.v); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			add("%s %q: want an absolute http(s) URL", u.name, u.v)
		}
	}
	if !namePrefix.MatchString(c.prefix) {
		add("-prefix %q: want 1 to 32 letters, digits, _ or -", c.prefix)
	}
	if c.load != "all" && c.load != "none" && !slices.Contains(allLoads, c.load) {
		add("-load %q: want returning, sso, validate, all or none", c.load)
	}
	if c.load == "none" && c.seed == 0 && !c.unseed {
		add("-load none measures nothing: it is for -seed or -unseed alone")
	}
	if c.load == "none" && c.floor != "" {
		add("-floor with -load none: there is nothing to compare it with")
	}
	if c.people < 1 || c.workers < 1 || c.pairs < 1 {
		add("-people, -workers and -pairs must be at least 1")
	}
	if c.duration <= 0 || c.warmup < 0 || c.fill <= 0 {
		add("-duration and -fill must be positive, -warmup not negative")
	}
	if c.floor != "" {
		if st, err := os.Stat(c.floor); err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
			add("-floor %q: not an executable file (build it as ../shared/bench-floor/README.md says)", c.floor)
		}
		cfg, err := mysql.ParseDSN(c.floorDSN)
		switch {
		case c.floorDSN == "":
			add("-floor needs -floor-dsn (a database of its own: the floor drops and recreates it)")
		case err != nil:
			add("-floor-dsn: %v", err)
		case cfg.DBName == "":
			add("-floor-dsn must name a database (the floor drops and recreates it)")
		}
	} else if c.floorDSN != "" {
		add("-floor-dsn without -floor")
	}
	c.checkSeed(add)
	return errors.Join(errs...)
}

// checkSeed checks -seed, -seed-dsn and -unseed. The seeding writes into
// the database it is given and -unseed deletes from it, so it must be
// wxcas's: never the floor's, which the floor drops at every run (and
// whose tables would make a measurement of wxcas meaningless).
func (c config) checkSeed(add func(string, ...any)) {
	if c.seed < 0 || c.seed > maxSeed {
		add("-seed %d: want 0 to %d sessions", c.seed, maxSeed)
	}
	if (c.seed > 0 || c.unseed) && c.seedDSN == "" {
		add("-seed and -unseed need -seed-dsn, the DSN of wxcas's own database")
		return
	}
	if c.seedDSN == "" {
		return
	}
	if c.seed == 0 && !c.unseed {
		add("-seed-dsn without -seed or -unseed")
	}
	cfg, err := mysql.ParseDSN(c.seedDSN)
	switch {
	case err != nil:
		add("-seed-dsn: %v", err)
		return
	case cfg.DBName == "":
		add("-seed-dsn must name wxcas's database")
		return
	}
	if c.floorDSN == "" {
		return
	}
	// The same database, however the two DSNs are written (user, options).
	floor, err := mysql.ParseDSN(c.floorDSN)
	if c.seedDSN == c.floorDSN || (err == nil && floor.Net == cfg.Net && floor.Addr == cfg.Addr && floor.DBName == cfg.DBName) {
		add("-seed-dsn names the floor's database (-floor-dsn), which the floor drops and recreates: give wxcas's own database")
	}
}
