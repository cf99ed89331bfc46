package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"wxcas/account"
	"wxcas/audit"
	"wxcas/binding"
	"wxcas/binding/sqldir"
	"wxcas/config"
	"wxcas/doctor"
	"wxcas/logx"
	"wxcas/otp"
	"wxcas/store"
)

func init() { operatorCommands["users"] = runUsers }

// exitNotFound: the user, binding or person asked for does not exist.
const exitNotFound = 3

const usersUsage = `usage: wxcas users <command> [flags]

commands:
  find    --phone P | --user ID | --openid O | --unionid U
          a user, their WeChat binding and every app account of the person
  unbind  --user ID --reason TEXT
          remove the user's WeChat binding and end their SSO sessions
  export  [--format csv|jsonl] [--reveal-phones] [--out FILE]
          every binding, streamed; phone numbers masked unless --reveal-phones

Every command takes -config FILE and --json (find, unbind); -h prints its flags.
Exit codes: 0 done, 1 failure (database, schema not current), 2 bad input,
3 no such user or binding.
`

// runUsers is `wxcas users`.
func runUsers(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usersUsage)
		return exitBadInput
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usersUsage)
		return exitOK
	case "find":
		return usersFind(ctx, args[1:], stdout, stderr)
	case "unbind":
		return usersUnbind(ctx, args[1:], stdout, stderr)
	case "export":
		return usersExport(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "wxcas users: unknown command %q\n\n%s", args[0], usersUsage)
	return exitBadInput
}

// operatorDB is what the operator's commands read: wxcas's database,
// checked to be at this binary's schema, and the user directory in use.
type operatorDB struct {
	cfg       *config.Config
	log       *slog.Logger
	db        *store.DB
	bindings  *binding.SQLStore
	directory binding.Directory
	audit     *audit.SQL
	closers   []func() error
}

func (o *operatorDB) Close() {
	for i := len(o.closers) - 1; i >= 0; i-- {
		_ = o.closers[i]()
	}
}

// openOperatorDB opens the configured database without migrating it: a
// schema behind (or ahead of) this binary is refused with the fix, since
// the commands' queries assume it. ok false: it printed why; return code.
func openOperatorDB(ctx context.Context, cfg *config.Config, stderr io.Writer) (o *operatorDB, code int, ok bool) {
	// Warnings and errors only: a command's own output is on stdout.
	log, err := logx.New(stderr, cfg.Log.Format, "warn")
	if err != nil {
		fmt.Fprintf(stderr, "wxcas: %v\n", err)
		return nil, exitBadInput, false
	}
	db, err := doctor.OpenDatabase(ctx, cfg.Database, log)
	check := doctor.Schema{DB: db, OpenErr: err}.Run(ctx)
	if check.Status != doctor.StatusPass {
		fmt.Fprintf(stderr, "wxcas: %s\n  fix: %s\n", check.Detail, check.Fix)
		if db != nil {
			db.Close()
		}
		return nil, exitFailure, false
	}
	o = &operatorDB{cfg: cfg, log: log, db: db, bindings: binding.NewSQLStore(db), audit: audit.NewSQL(db)}
	o.closers = append(o.closers, db.Close)
	if cfg.Directory.Type == "sql" {
		dir, err := sqldir.Open(ctx, cfg.Directory.SQL, log)
		if err != nil {
			fmt.Fprintf(stderr, "wxcas: %v\n", err)
			o.Close()
			return nil, exitFailure, false
		}
		o.closers = append(o.closers, dir.Close)
		o.directory = dir
	} else {
		o.bindings.UseAsDirectory()
		o.directory = o.bindings
	}
	return o, exitOK, true
}

// loadOperatorDB is openOperatorDB with the configuration at path.
func loadOperatorDB(ctx context.Context, path string, stderr io.Writer) (o *operatorDB, code int, ok bool) {
	cfg, ok := loadConfigFlag(path, stderr)
	if !ok {
		return nil, exitBadInput, false
	}
	return openOperatorDB(ctx, cfg, stderr)
}

// osUser names who runs the command, for the audit log: the OS user, or
// the one who ran sudo when the command runs as root through it.
func osUser() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if sudo := os.Getenv("SUDO_USER"); sudo != "" && os.Geteuid() == 0 {
		return sudo + " via sudo"
	}
	if name == "" {
		return "unknown"
	}
	return name
}

// cliActor is the audit log's actor for a command run by osUser.
func cliActor() string { return "cli:" + osUser() }

// Views of users, bindings and accounts as the commands print them (JSON
// names are the output's interface; phones are masked by the caller).
type (
	userView struct {
		ID        string `json:"id"`
		Phone     string `json:"phone,omitempty"`
		Principal string `json:"principal,omitempty"`
		// NotInDirectory: bound, but the directory no longer has the user.
		NotInDirectory bool `json:"not_in_directory,omitempty"`
	}
	bindingView struct {
		IdentityKey string    `json:"identity_key"`
		BoundAt     time.Time `json:"bound_at"`
	}
	accountView struct {
		AppID     string    `json:"appid"`
		OpenID    string    `json:"openid"`
		UnionID   string    `json:"unionid,omitempty"`
		Nickname  string    `json:"nickname,omitempty"`
		FirstSeen time.Time `json:"first_seen"`
		LastSeen  time.Time `json:"last_seen"`
	}
	// personView is one answer of users find: a user, a binding, or both,
	// with the WeChat person's accounts.
	personView struct {
		User     *userView     `json:"user"`    // null: a WeChat person bound to nobody
		Binding  *bindingView  `json:"binding"` // null: not bound
		Accounts []accountView `json:"accounts"`
	}
)

func newUserView(u binding.User) *userView {
	principal := u.Principal
	if principal == "" {
		principal = u.ID
	}
	return &userView{ID: u.ID, Phone: logx.MaskPhone(u.Phone), Principal: principal}
}

func accountViews(accts []binding.SeenAccount) []accountView {
	out := []accountView{}
	for _, a := range accts {
		out = append(out, accountView{
			AppID: a.AppID, OpenID: a.OpenID, UnionID: a.UnionID, Nickname: a.Nickname,
			FirstSeen: a.FirstSeen.UTC(), LastSeen: a.LastSeen.UTC(),
		})
	}
	return out
}

// printable replaces control characters (a terminal escape in a WeChat
// nickname or a reason typed in the admin console, a tab that would break
// the columns) and the bidirectional controls that reorder what the
// operator reads, before text reaches their terminal (logx.Printable).
func printable(s string) string { return logx.Printable(s) }

// orDash is s, or "-" for an empty column.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return printable(s)
}

// textTime is how the text output writes a time: UTC, to the second.
func textTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

const usersFindUsage = `usage: wxcas users find --phone P | --user ID | --openid O | --unionid U [--json] [-config FILE]

Shows the user (id, masked phone, CAS principal), the WeChat binding
(identity key, when bound) and every app account of the WeChat person
(appid, openid, unionid, nickname, first and last seen). A phone or user
id is looked up in the configured directory; an openid can name several
persons (one per app that gave it out). Exit 3 when nothing is found.

`

func usersFind(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, configPath := newFlagSet("users find", stderr)
	phone := fs.String("phone", "", "the user's phone number (without a country code: otp.default_region)")
	userID := fs.String("user", "", "the user's directory id")
	openid := fs.String("openid", "", "an openid of the person in any app")
	unionid := fs.String("unionid", "", "the person's unionid")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := parseFlags(fs, usersFindUsage, args, stdout, stderr); !ok {
		return code
	}
	given := 0
	for _, v := range []string{*phone, *userID, *openid, *unionid} {
		if v != "" {
			given++
		}
	}
	if given != 1 {
		fmt.Fprint(stderr, "wxcas users find: give exactly one of --phone, --user, --openid, --unionid\n")
		return exitBadInput
	}
	cfg, ok := loadConfigFlag(*configPath, stderr)
	if !ok {
		return exitBadInput
	}
	var e164 otp.Phone
	if *phone != "" {
		var err error
		if e164, err = otp.ParsePhone(*phone, cfg.OTP.DefaultRegion); err != nil {
			fmt.Fprintf(stderr, "wxcas users find: --phone: %v\n", err)
			return exitBadInput
		}
	}
	o, code, ok := openOperatorDB(ctx, cfg, stderr)
	if !ok {
		return code
	}
	defer o.Close()

	var found []personView
	var err error
	switch {
	case e164 != "":
		found, err = o.findByPhone(ctx, string(e164))
	case *userID != "":
		found, err = o.findByUser(ctx, *userID)
	case *openid != "":
		found, err = o.findByOpenID(ctx, *openid)
	default:
		found, err = o.findByUnionID(ctx, *unionid)
	}
	if err != nil {
		fmt.Fprintf(stderr, "wxcas users find: %v\n", err)
		return exitFailure
	}
	if *asJSON {
		if err := writeJSON(stdout, map[string]any{"results": found}); err != nil {
			return exitFailure
		}
	} else {
		printPersons(stdout, found)
	}
	if len(found) == 0 {
		if !*asJSON {
			fmt.Fprintln(stderr, "wxcas users find: not found")
		}
		return exitNotFound
	}
	return exitOK
}

// withUser is the person with their binding's user from the directory.
func (o *operatorDB) withUser(ctx context.Context, b binding.Binding) (personView, error) {
	p := personView{Accounts: accountViews(b.Accounts)}
	if b.UserID == "" {
		return p, nil
	}
	p.Binding = &bindingView{IdentityKey: b.IdentityKey, BoundAt: b.BoundAt.UTC()}
	u, err := o.directory.FindByID(ctx, b.UserID)
	switch {
	case errors.Is(err, binding.ErrNotFound):
		p.User = &userView{ID: b.UserID, NotInDirectory: true}
	case err != nil:
		return personView{}, err
	default:
		p.User = newUserView(u)
	}
	return p, nil
}

// ofUser is the user with their binding, if any.
func (o *operatorDB) ofUser(ctx context.Context, u binding.User) ([]personView, error) {
	b, err := o.bindings.BindingOf(ctx, u.ID)
	if errors.Is(err, binding.ErrNotFound) {
		return []personView{{User: newUserView(u), Accounts: []accountView{}}}, nil
	}
	if err != nil {
		return nil, err
	}
	p := personView{User: newUserView(u), Binding: &bindingView{IdentityKey: b.IdentityKey, BoundAt: b.BoundAt.UTC()}, Accounts: accountViews(b.Accounts)}
	return []personView{p}, nil
}

func (o *operatorDB) findByPhone(ctx context.Context, phone string) ([]personView, error) {
	u, err := o.directory.FindByPhone(ctx, phone)
	if errors.Is(err, binding.ErrNotFound) {
		return []personView{}, nil
	}
	if err != nil {
		return nil, err
	}
	return o.ofUser(ctx, u)
}

// findByUser finds the user in the directory, or only their binding when
// the directory no longer has them.
func (o *operatorDB) findByUser(ctx context.Context, id string) ([]personView, error) {
	u, err := o.directory.FindByID(ctx, id)
	if err == nil {
		return o.ofUser(ctx, u)
	}
	if !errors.Is(err, binding.ErrNotFound) {
		return nil, err
	}
	b, err := o.bindings.BindingOf(ctx, id)
	return o.onePerson(ctx, b, err)
}

// onePerson answers a lookup of one binding: nothing found, or the
// person with their user.
func (o *operatorDB) onePerson(ctx context.Context, b binding.Binding, err error) ([]personView, error) {
	if errors.Is(err, binding.ErrNotFound) {
		return []personView{}, nil
	}
	if err != nil {
		return nil, err
	}
	p, err := o.withUser(ctx, b)
	return []personView{p}, err
}

func (o *operatorDB) findByOpenID(ctx context.Context, openid string) ([]personView, error) {
	persons, err := o.bindings.FindByOpenID(ctx, openid)
	if err != nil {
		return nil, err
	}
	out := []personView{}
	for _, b := range persons {
		p, err := o.withUser(ctx, b)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (o *operatorDB) findByUnionID(ctx context.Context, unionid string) ([]personView, error) {
	b, err := o.bindings.FindByUnionID(ctx, unionid)
	return o.onePerson(ctx, b, err)
}

func printPersons(w io.Writer, found []personView) {
	for i, p := range found {
		if i > 0 {
			fmt.Fprintln(w)
		}
		switch u := p.User; {
		case u == nil:
			fmt.Fprintln(w, "user:     (none: this WeChat person is not bound)")
		case u.NotInDirectory:
			fmt.Fprintf(w, "user:     %s (bound, but not in the directory)\n", printable(u.ID))
		default:
			fmt.Fprintf(w, "user:     %s  phone %s  principal %s\n", printable(u.ID), orDash(u.Phone), printable(u.Principal))
		}
		if b := p.Binding; b != nil {
			fmt.Fprintf(w, "binding:  %s  bound %s\n", printable(b.IdentityKey), textTime(b.BoundAt))
		} else {
			fmt.Fprintln(w, "binding:  (none)")
		}
		if len(p.Accounts) == 0 {
			fmt.Fprintln(w, "accounts: (none)")
			continue
		}
		fmt.Fprintln(w, "accounts:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  APPID\tOPENID\tUNIONID\tNICKNAME\tFIRST SEEN\tLAST SEEN")
		for _, a := range p.Accounts {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", printable(a.AppID), printable(a.OpenID), orDash(a.UnionID),
				orDash(a.Nickname), textTime(a.FirstSeen), textTime(a.LastSeen))
		}
		tw.Flush()
	}
}

// writeJSON prints v as indented JSON, HTML characters as they are.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

const usersUnbindUsage = `usage: wxcas users unbind --user ID --reason TEXT [--json] [-config FILE]

Removes the user's WeChat binding, ends every SSO session of the user (with
single logout to the services) and writes an unbind event to the audit log
with the reason and "cli:<your OS user>" as the actor. The person can bind a
WeChat account again at their next login. Exit 3 when the user does not
exist or has no binding; exit 1 when the binding was removed but some
sessions could not be ended (the output says so).

`

// maxReason is the longest reason the audit log keeps whole.
const maxReason = 256

func usersUnbind(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, configPath := newFlagSet("users unbind", stderr)
	userID := fs.String("user", "", "the user's directory id (required)")
	reason := fs.String("reason", "", "why, for the audit log (required, at most 256 characters)")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := parseFlags(fs, usersUnbindUsage, args, stdout, stderr); !ok {
		return code
	}
	*reason = strings.TrimSpace(*reason)
	switch {
	case *userID == "":
		fmt.Fprintln(stderr, "wxcas users unbind: --user is required")
		return exitBadInput
	case *reason == "":
		fmt.Fprintln(stderr, "wxcas users unbind: --reason is required (it goes to the audit log)")
		return exitBadInput
	case utf8.RuneCountInString(*reason) > maxReason:
		fmt.Fprintf(stderr, "wxcas users unbind: --reason is longer than %d characters\n", maxReason)
		return exitBadInput
	}
	// The schema is checked before the service is assembled, which would
	// otherwise migrate it.
	o, code, ok := loadOperatorDB(ctx, *configPath, stderr)
	if !ok {
		return code
	}
	cfg, log := o.cfg, o.log
	o.Close()
	// The libraries that log through slog's default (the OpenID provider
	// logs each route it registers at INFO) log as the command does:
	// warnings and errors only.
	prev := slog.Default()
	slog.SetDefault(log.With("component", "library"))
	defer slog.SetDefault(prev)
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "wxcas users unbind: %v\n", err)
		return exitFailure
	}
	defer closeApp(a)

	res, err := a.accounts.Unbind(ctx, *userID, account.Actor{Kind: account.ActorCLI, Name: osUser()}, *reason)
	switch {
	case errors.Is(err, account.ErrNoUser):
		fmt.Fprintf(stderr, "wxcas users unbind: no user %s in the directory\n", printable(*userID))
		return exitNotFound
	case errors.Is(err, account.ErrNotBound):
		fmt.Fprintf(stderr, "wxcas users unbind: user %s has no WeChat binding\n", printable(*userID))
		return exitNotFound
	case err != nil && !errors.Is(err, account.ErrSessionsRemain):
		fmt.Fprintf(stderr, "wxcas users unbind: %v\n", err)
		return exitFailure
	}
	removed := res.Removed
	if *asJSON {
		out := struct {
			UserID        string        `json:"user_id"`
			Removed       bindingView   `json:"removed"`
			Accounts      []accountView `json:"accounts"`
			EndedSessions int           `json:"ended_sessions"`
			SessionsLeft  bool          `json:"sessions_left,omitempty"`
		}{*userID, bindingView{removed.IdentityKey, removed.BoundAt.UTC()}, accountViews(removed.Accounts), res.EndedSessions, err != nil}
		if werr := writeJSON(stdout, out); werr != nil {
			return exitFailure
		}
	} else {
		fmt.Fprintf(stdout, "user %s: WeChat binding %s (bound %s, %d account(s)) removed; %d SSO session(s) ended\n",
			printable(*userID), printable(removed.IdentityKey), textTime(removed.BoundAt), len(removed.Accounts), res.EndedSessions)
	}
	if err != nil {
		fmt.Fprintf(stderr, "wxcas users unbind: %v (they end when they expire or the user logs out)\n", err)
		return exitFailure
	}
	return exitOK
}

// closeApp releases what newApp opened, after the single logouts an
// ended session started have been delivered (within the shutdown timeout).
func closeApp(a *app) {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := a.cas.Close(ctx); err != nil {
		a.log.Warn("single-logout requests still pending", "err", err)
	}
	for _, c := range a.closers {
		_ = c()
	}
	a.db.Close()
}
