package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"wxcas/audit"
	"wxcas/binding"
	"wxcas/logx"
)

const usersExportUsage = `usage: wxcas users export [--format csv|jsonl] [--reveal-phones] [--out FILE] [-config FILE]

Writes every WeChat binding, one line each, in identity key order: user id,
CAS principal, phone (masked unless --reveal-phones), whether the directory
still has the user, identity key, unionid, when bound and the person's app
accounts. The bindings are streamed from the database a batch at a time,
so memory stays bounded however many there are. The export is written to
the audit log (kind admin, actor cli:<your OS user>), saying whether
phones were revealed. --out creates FILE readable by you alone and removes
it again if the export fails; it refuses a symbolic link and anything but
a regular file.

`

// exportRecord is one binding as export writes it.
type exportRecord struct {
	UserID      string        `json:"user_id"`
	Principal   string        `json:"principal"`
	Phone       string        `json:"phone"`
	InDirectory bool          `json:"in_directory"`
	IdentityKey string        `json:"identity_key"`
	UnionID     string        `json:"unionid"`
	BoundAt     time.Time     `json:"bound_at"`
	Accounts    []accountView `json:"accounts"`
}

// recordWriter writes export records in one format.
type recordWriter interface {
	Write(r exportRecord) error
	Flush() error
}

type jsonlWriter struct{ enc *json.Encoder }

func (w jsonlWriter) Write(r exportRecord) error { return w.enc.Encode(r) }
func (w jsonlWriter) Flush() error               { return nil }

type csvWriter struct{ w *csv.Writer }

var csvHeader = []string{"user_id", "principal", "phone", "in_directory", "identity_key", "unionid", "bound_at", "accounts"}

// Write writes the accounts as "appid:openid" separated by spaces (neither
// holds a space or a colon).
func (w csvWriter) Write(r exportRecord) error {
	accounts := make([]string, len(r.Accounts))
	for i, a := range r.Accounts {
		accounts[i] = a.AppID + ":" + a.OpenID
	}
	return w.w.Write([]string{r.UserID, r.Principal, r.Phone, strconv.FormatBool(r.InDirectory), r.IdentityKey, r.UnionID,
		r.BoundAt.UTC().Format(time.RFC3339), strings.Join(accounts, " ")})
}

func (w csvWriter) Flush() error {
	w.w.Flush()
	return w.w.Error()
}

func usersExport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, configPath := newFlagSet("users export", stderr)
	format := fs.String("format", "csv", "csv or jsonl (one JSON object per line)")
	reveal := fs.Bool("reveal-phones", false, "write whole phone numbers (recorded in the audit log)")
	outPath := fs.String("out", "", "write to FILE (created mode 0600) instead of standard output")
	if code, ok := parseFlags(fs, usersExportUsage, args, stdout, stderr); !ok {
		return code
	}
	if *format != "csv" && *format != "jsonl" {
		fmt.Fprintf(stderr, "wxcas users export: --format %q: want csv or jsonl\n", *format)
		return exitBadInput
	}
	o, code, ok := loadOperatorDB(ctx, *configPath, stderr)
	if !ok {
		return code
	}
	defer o.Close()

	out, dest := stdout, "standard output"
	if *outPath != "" {
		f, err := createPrivate(*outPath)
		if err != nil {
			fmt.Fprintf(stderr, "wxcas users export: %v\n", err)
			return exitFailure
		}
		out, dest = f, *outPath
		defer f.Close()
	}
	buf := bufio.NewWriterSize(out, 64<<10)
	var w recordWriter
	if *format == "jsonl" {
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		w = jsonlWriter{enc}
	} else {
		cw := csv.NewWriter(buf)
		_ = cw.Write(csvHeader) // buffered; an error is the Flush's
		w = csvWriter{cw}
	}
	n, err := o.export(ctx, w, *reveal)
	if err == nil {
		err = buf.Flush()
	}
	if err != nil && *outPath != "" {
		// A partial file must not pass for the whole export.
		_ = os.Remove(*outPath)
	}

	phones := "phones masked"
	if *reveal {
		phones = "phones revealed"
	}
	e := audit.Event{Kind: audit.KindAdmin, Outcome: audit.OK, Actor: cliActor(),
		Detail: fmt.Sprintf("export bindings (%s, %s): %d binding(s) to %s", phones, *format, n, dest)}
	if err != nil {
		e.Outcome = "export_failed"
	}
	// Recorded even when the command is interrupted: rows may have left.
	if aerr := o.audit.Record(context.WithoutCancel(ctx), e); aerr != nil {
		fmt.Fprintf(stderr, "wxcas users export: the export could not be written to the audit log: %v\n", aerr)
		if err == nil {
			err = aerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "wxcas users export: %v (after %d binding(s))\n", err, n)
		return exitFailure
	}
	if *outPath != "" {
		fmt.Fprintf(stderr, "wxcas users export: %d binding(s) written to %s (%s)\n", n, *outPath, phones)
	}
	return exitOK
}

// createPrivate creates (or empties) the file an export is written to,
// readable by its owner alone: an export holds phone numbers. It refuses a
// symbolic link, never following it (run as root in a shared directory
// such as /tmp, a link planted there would have the export truncate and
// chmod whatever it points at), and anything but a regular file with no
// other hard link: a device or a pipe, or another name of someone's file.
func createPrivate(path string) (*os.File, error) {
	// Not O_TRUNC: nothing is emptied before it is known to be the export's.
	// O_NONBLOCK: a pipe nobody reads is refused, not waited on.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|openNoFollow|openNonBlock, 0o600)
	if err != nil {
		// Why, when it is what is there.
		if fi, lerr := os.Lstat(path); lerr == nil {
			err = notRegular(path, fi, err)
		}
		return nil, err
	}
	fail := func(err error) (*os.File, error) {
		f.Close()
		return nil, err
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
		return fail(err)
	case !fi.Mode().IsRegular():
		return fail(notRegular(path, fi, nil))
	case hardLinks(fi) > 1:
		return fail(fmt.Errorf("--out %s has other hard links: give a new file's path", path))
	}
	// The mode is set on the file opened, never through a path.
	if err := f.Truncate(0); err != nil {
		return fail(err)
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	return f, nil
}

// notRegular says why createPrivate refuses fi, found at path: a symbolic
// link, or another kind of file; err otherwise.
func notRegular(path string, fi os.FileInfo, err error) error {
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("--out %s is a symbolic link: give the path of the file itself", path)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("--out %s is not a regular file (mode %s)", path, fi.Mode().Type())
	}
	return err
}

// exportBatch is how many bindings export looks up users for at once.
const exportBatch = 500

// export writes every binding through EachBinding, with each binding's
// user from the directory, and returns how many it wrote. Bindings are
// held exportBatch at a time, for one directory query each where the
// directory can (binding.BatchDirectory).
func (o *operatorDB) export(ctx context.Context, w recordWriter, reveal bool) (int, error) {
	n := 0
	pending := make([]binding.Binding, 0, exportBatch)
	flush := func() error {
		ids := make([]string, len(pending))
		for i, b := range pending {
			ids[i] = b.UserID
		}
		users, err := o.usersByID(ctx, ids)
		if err != nil {
			return fmt.Errorf("directory: %w", err)
		}
		for _, b := range pending {
			r := exportRecord{UserID: b.UserID, IdentityKey: b.IdentityKey, UnionID: unionIDOf(b), BoundAt: b.BoundAt, Accounts: accountViews(b.Accounts)}
			if u, ok := users[b.UserID]; ok {
				r.InDirectory, r.Principal, r.Phone = true, u.Principal, u.Phone
				if r.Principal == "" {
					r.Principal = u.ID
				}
				if !reveal {
					r.Phone = logx.MaskPhone(r.Phone)
				}
			}
			if err := w.Write(r); err != nil {
				return err
			}
			n++
		}
		pending = pending[:0]
		return ctx.Err()
	}
	err := o.bindings.EachBinding(ctx, func(b binding.Binding) error {
		pending = append(pending, b)
		if len(pending) < exportBatch {
			return nil
		}
		return flush()
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return n, err
	}
	return n, w.Flush()
}

// usersByID finds the users of ids in the directory: in one query where it
// can, else one by one. Users it does not have are absent.
func (o *operatorDB) usersByID(ctx context.Context, ids []string) (map[string]binding.User, error) {
	if batch, ok := o.directory.(binding.BatchDirectory); ok {
		return batch.FindByIDs(ctx, ids)
	}
	out := make(map[string]binding.User, len(ids))
	for _, id := range ids {
		u, err := o.directory.FindByID(ctx, id)
		switch {
		case errors.Is(err, binding.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			out[id] = u
		}
	}
	return out, nil
}

// unionIDOf is the person's unionid: from a unionid key, else from an
// account that learnt it.
func unionIDOf(b binding.Binding) string {
	if u, ok := strings.CutPrefix(b.IdentityKey, "u:"); ok {
		return u
	}
	for _, a := range b.Accounts {
		if a.UnionID != "" {
			return a.UnionID
		}
	}
	return ""
}
