package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"wxcas/audit"
	"wxcas/logx"
	"wxcas/otp"
)

func init() {
	operatorCommands["audit"] = func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		return runAudit(ctx, args, stdout, stderr, time.Now)
	}
}

const auditUsage = `usage: wxcas audit [flags]

Lists audit events, newest first: logins, binds, unbinds, refusals, phone
changes and operators' actions. Every filter given must match. Times are
RFC 3339 (2026-11-21T08:00:00+08:00), a date (2026-11-21, midnight UTC), or
a duration back from now (24h, 90m). When there may be more, the last line
names the --before-id that continues the listing. Phones are matched by
their masked form (+86138****8000), the only form the log keeps, so another
number with the same first and last digits matches too.
Exit codes: 0 (also when nothing matches), 1 failure, 2 bad input.

`

// auditKinds are the kinds --kind accepts.
var auditKinds = []string{audit.KindLogin, audit.KindBind, audit.KindUnbind, audit.KindRefusal, audit.KindLink, audit.KindPhoneChange, audit.KindAdmin}

// eventView is an event as --json prints it.
type eventView struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Kind      string    `json:"kind"`
	Outcome   string    `json:"outcome"`
	UserID    string    `json:"user_id,omitempty"`
	Phone     string    `json:"phone,omitempty"`
	AppID     string    `json:"appid,omitempty"`
	OpenID    string    `json:"openid,omitempty"`
	UnionID   string    `json:"unionid,omitempty"`
	Channel   string    `json:"channel,omitempty"`
	ClientIP  string    `json:"client_ip,omitempty"`
	Service   string    `json:"service,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	Actor     string    `json:"actor,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

// runAudit is `wxcas audit`; now is the clock durations count back from.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer, now func() time.Time) int {
	fs, configPath := newFlagSet("audit", stderr)
	since := fs.String("since", "", "only events at or after this time")
	until := fs.String("until", "", "only events before this time")
	var f audit.Filter
	fs.StringVar(&f.UserID, "user", "", "only this user id")
	phone := fs.String("phone", "", "only this phone number (matched masked)")
	fs.StringVar(&f.Kind, "kind", "", "only this kind: "+strings.Join(auditKinds, ", "))
	fs.StringVar(&f.Outcome, "outcome", "", "only this outcome: ok, or a reason such as wrong_code")
	fs.StringVar(&f.Channel, "channel", "", "only this channel: qr_inline, qr_redirect, oa, mini_program, mobile_app, api, ...")
	fs.StringVar(&f.Service, "service", "", "only this service URL, exactly as recorded")
	fs.StringVar(&f.Actor, "actor", "", `only this actor: "admin:<principal>" or "cli:<os user>"`)
	fs.IntVar(&f.Limit, "limit", audit.DefaultLimit, fmt.Sprintf("at most this many events (1 to %d)", audit.MaxLimit))
	fs.Int64Var(&f.BeforeID, "before-id", 0, "continue a listing: only events after this one (the id its last line names)")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := parseFlags(fs, auditUsage, args, stdout, stderr); !ok {
		return code
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "wxcas audit: "+format+"\n", a...)
		return exitBadInput
	}
	var err error
	if f.Since, err = parseWhen(*since, now()); err != nil {
		return bad("--since: %v", err)
	}
	if f.Until, err = parseWhen(*until, now()); err != nil {
		return bad("--until: %v", err)
	}
	switch {
	case f.Limit < 1 || f.Limit > audit.MaxLimit:
		return bad("--limit must be between 1 and %d", audit.MaxLimit)
	case f.BeforeID < 0:
		return bad("--before-id must be positive")
	case f.Kind != "" && !slices.Contains(auditKinds, f.Kind):
		return bad("--kind %q: want one of %s", f.Kind, strings.Join(auditKinds, ", "))
	case !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until):
		return bad("--since must be before --until")
	}
	cfg, ok := loadConfigFlag(*configPath, stderr)
	if !ok {
		return exitBadInput
	}
	if f.Phone, err = phoneFilter(*phone, cfg.OTP.DefaultRegion); err != nil {
		return bad("--phone: %v", err)
	}

	o, code, ok := openOperatorDB(ctx, cfg, stderr)
	if !ok {
		return code
	}
	defer o.Close()
	// One more than asked says whether there is a next page (at the
	// largest limit, a full page may have one).
	limit := f.Limit
	f.Limit++
	events, err := o.audit.List(ctx, f)
	if err != nil {
		fmt.Fprintf(stderr, "wxcas audit: %v\n", err)
		return exitFailure
	}
	var next int64
	if len(events) > limit || len(events) == audit.MaxLimit {
		events = events[:limit]
		next = events[limit-1].ID
	}
	if *asJSON {
		views := make([]eventView, len(events))
		for i, e := range events {
			views[i] = eventView{e.ID, e.At.UTC(), e.Kind, e.Outcome, e.UserID, e.Phone, e.AppID, e.OpenID, e.UnionID,
				e.Channel, e.ClientIP, e.Service, e.RequestID, e.Actor, e.Detail}
		}
		out := struct {
			Events       []eventView `json:"events"`
			NextBeforeID int64       `json:"next_before_id,omitempty"`
		}{views, next}
		if err := writeJSON(stdout, out); err != nil {
			return exitFailure
		}
		return exitOK
	}
	printEvents(stdout, events)
	if next != 0 {
		fmt.Fprintf(stdout, "more: add --before-id %d\n", next)
	}
	return exitOK
}

func printEvents(w io.Writer, events []audit.Event) {
	if len(events) == 0 {
		fmt.Fprintln(w, "no matching events")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tKIND\tOUTCOME\tUSER\tPHONE\tCHANNEL\tCLIENT IP\tSERVICE\tACTOR\tDETAIL")
	for _, e := range events {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, textTime(e.At), orDash(e.Kind), orDash(e.Outcome),
			orDash(e.UserID), orDash(e.Phone), orDash(e.Channel), orDash(e.ClientIP), orDash(e.Service), orDash(e.Actor), orDash(e.Detail))
	}
	tw.Flush()
}

// parseWhen reads a time flag: RFC 3339, a date (midnight UTC), or a
// duration back from now. Empty is the zero time (no bound).
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time (2026-11-21T08:00:00Z), a date (2026-11-21) or a duration back from now (24h)", s)
	}
	return now.Add(-d), nil
}

// phoneFilter is the masked form of a phone flag: a number is parsed as a
// login would (without a country code: region), a masked one taken as is.
func phoneFilter(s, region string) (string, error) {
	if s == "" || strings.Contains(s, "*") {
		return s, nil
	}
	p, err := otp.ParsePhone(s, region)
	if err != nil {
		return "", err
	}
	return logx.MaskPhone(string(p)), nil
}
