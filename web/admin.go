package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"wxcas/account"
	"wxcas/audit"
	"wxcas/binding"
	"wxcas/cas"
	"wxcas/finish"
	"wxcas/logx"
	"wxcas/otp"
	"wxcas/ratelimit"
)

// Admin is the operators' console at /admin: find a person by phone, user
// id, openid or unionid; unbind their WeChat account with a reason; read
// the audit log. Operators sign in through wxcas's own CAS server (CASGate)
// and only the principals listed in admin.principals get in.
//
// Every search, every page of the audit log and every unbind is an action
// written to the audit log with the operator's principal: reading who
// someone is, is as much an operator's act as changing it. That is why
// they are all form posts carrying the session's CSRF token: a link on
// another site cannot make an operator's browser run a search in their
// name, and the phone numbers searched never land in a URL (browser
// history, a front proxy's access log).
type Admin struct {
	o          AdminOptions
	principals map[string]bool
}

// AdminOptions are the console's parts.
type AdminOptions struct {
	// Gate signs operators in (Path "/admin"). NewAdmin wraps its
	// Sessions to learn whom a ticket it redeems signs in.
	Gate *CASGate
	// ServiceID is the console's CAS service (web.GateService), the
	// service of its audit events as logins record theirs.
	ServiceID string
	// Principals may use the console (config admin.principals).
	Principals []string
	Bindings   AdminBindings
	Users      AdminUsers
	Accounts   AdminAccounts
	// Events reads the audit log; Audit records the console's own actions.
	Events AuditReader
	Audit  audit.Log
	Pages  *Pages
	// PhoneRegion reads numbers typed without a country code.
	PhoneRegion string
	// Zone is the time zone times are shown and typed in (default China's).
	Zone *time.Location
	// Refusals counts the audited refusals of a session (in the database,
	// so one row per session whichever instance refuses it).
	Refusals account.Counters
	Now      func() time.Time
	Log      *slog.Logger
}

// AdminBindings is what the console reads of the binding store.
type AdminBindings interface {
	BindingOf(ctx context.Context, userID string) (binding.Binding, error)
	FindByOpenID(ctx context.Context, openid string) ([]binding.Binding, error)
	FindByUnionID(ctx context.Context, unionid string) (binding.Binding, error)
}

// AdminUsers finds directory users.
type AdminUsers interface {
	FindByPhone(ctx context.Context, phone string) (binding.User, error)
	FindByID(ctx context.Context, id string) (binding.User, error)
}

// AdminAccounts unbinds (account.Service): it writes the unbind's audit
// event and ends the person's sessions.
type AdminAccounts interface {
	Unbind(ctx context.Context, userID string, by account.Actor, reason string) (account.Result, error)
}

// AuditReader reads the audit log.
type AuditReader interface {
	List(ctx context.Context, f audit.Filter) ([]audit.Event, error)
}

// NewAdmin checks the options.
func NewAdmin(o AdminOptions) (*Admin, error) {
	if o.Gate == nil || o.ServiceID == "" || o.Bindings == nil || o.Users == nil || o.Accounts == nil || o.Events == nil || o.Audit == nil || o.Pages == nil || o.Refusals == nil {
		return nil, errors.New("web: the admin console needs Gate, ServiceID, Bindings, Users, Accounts, Events, Audit, Pages and Refusals")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.Principals) == 0 {
		return nil, errors.New("web: the admin console needs at least one principal")
	}
	if o.Zone == nil {
		o.Zone = chinaTime
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	h := &Admin{o: o, principals: map[string]bool{}}
	for _, p := range o.Principals {
		h.principals[p] = true
	}
	// The console sees the sessions its gate signs in (see operator).
	o.Gate.Sessions = noteRedeemed{o.Gate.Sessions}
	return h, nil
}

// refusalAudited bounds the audited refusals of one SSO session: CAS gives
// a signed-in person a new console ticket at every visit without the
// console's cookie, and each would otherwise be a row.
var refusalAudited = ratelimit.Limit{Max: 1, Window: 24 * time.Hour}

// firstRefusal reports whether the session's refusal is to be audited (the
// first in the window, on any instance). When the count cannot be read the
// refusal is audited: better a row too many than none.
func (h *Admin) firstRefusal(ctx context.Context, sessionKey string) bool {
	wait, err := h.o.Refusals.Hit(ctx, ratelimit.Key("admin_refusal", sessionKey), refusalAudited, h.o.Now())
	return err != nil || wait == 0
}

// noteRedeemed is a gate's sessions that tell the request redeeming a
// ticket which session it signed in (the gate itself answers that request
// with a redirect and no session).
type noteRedeemed struct{ GateSessions }

// redeemedKey holds, in a request's context, the *cas.Session a ticket
// redeemed by that request fills in.
type redeemedKey struct{}

func (n noteRedeemed) RedeemTicket(ctx context.Context, serviceURL, ticket string) (cas.Session, error) {
	s, err := n.GateSessions.RedeemTicket(ctx, serviceURL, ticket)
	if p, ok := ctx.Value(redeemedKey{}).(*cas.Session); ok && err == nil {
		*p = s
	}
	return s, err
}

// Console paths, under the gate's path.
const (
	adminSearchPath  = "/search"
	adminConfirmPath = "/unbind/confirm"
	adminUnbindPath  = "/unbind"
	adminAuditPath   = "/audit"
)

// Register adds the console's routes. Each path answers its methods, HEAD
// as GET, and any other method 405 with an Allow header (the group's
// middleware would otherwise make it a 404).
func (h *Admin) Register(e *echo.Echo) {
	g := e.Group(h.o.Gate.Path, postsLangPageOn(h.o.Gate.cookiePath()), sameOrigin(h.o.Gate.PublicURL, h.o.Pages))
	for _, rt := range []struct {
		path      string
		get, post echo.HandlerFunc
	}{
		{"", func(c echo.Context) error { return c.Redirect(http.StatusMovedPermanently, h.o.Gate.cookiePath()) }, nil},
		{"/", h.operator(h.home), nil},
		{adminSearchPath, nil, h.operator(h.search)},
		{adminConfirmPath, nil, h.operator(h.confirm)},
		{adminUnbindPath, nil, h.operator(h.unbind)},
		{adminAuditPath, h.operator(h.auditForm), h.operator(h.auditList)},
	} {
		g.Any(rt.path, byMethod(rt.get, rt.post))
	}
}

// byMethod runs get for GET and HEAD, post for POST (either may be nil),
// answers OPTIONS with the methods allowed and any other method 405.
//
// A HEAD is answered as the GET would be (the server sends no body), except
// that it never redeems a CAS ticket: a link checker's HEAD must not spend
// the ticket the browser's GET then brings.
func byMethod(get, post echo.HandlerFunc) echo.HandlerFunc {
	var allowed []string
	if get != nil {
		allowed = append(allowed, http.MethodGet, http.MethodHead)
	}
	if post != nil {
		allowed = append(allowed, http.MethodPost)
	}
	allow := strings.Join(append(allowed, http.MethodOptions), ", ")
	return func(c echo.Context) error {
		r := c.Request()
		switch {
		case r.Method == http.MethodGet && get != nil:
			return get(c)
		case r.Method == http.MethodHead && get != nil:
			g := r.Clone(r.Context())
			g.Method = http.MethodGet
			q := g.URL.Query()
			if q.Has("ticket") {
				q.Del("ticket")
				g.URL.RawQuery = q.Encode()
			}
			c.SetRequest(g)
			defer c.SetRequest(r)
			return get(c)
		case r.Method == http.MethodPost && post != nil:
			return post(c)
		}
		c.Response().Header().Set("Allow", allow)
		if r.Method == http.MethodOptions {
			return c.NoContent(http.StatusNoContent)
		}
		return echo.ErrMethodNotAllowed
	}
}

// operator runs next for a signed-in operator: anyone else signed in is
// refused; a post must carry the CSRF token.
//
// A refusal is audited once per sign-in, on the request that redeemed the
// CAS ticket, and once per SSO session (firstRefusal), not on every
// page the refused person loads: one signed in could otherwise fill the
// audit log at the rate they send requests. The 403 page is shown every
// time.
func (h *Admin) operator(next func(echo.Context, GateSession) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		var redeemed cas.Session
		r := c.Request()
		c.SetRequest(r.WithContext(context.WithValue(r.Context(), redeemedKey{}, &redeemed)))
		s, ok := h.o.Gate.Session(c)
		c.SetRequest(r)
		if !ok {
			if redeemed.Key != "" && !h.principals[redeemed.Principal.ID] && h.firstRefusal(r.Context(), redeemed.Key) {
				h.record(c, audit.Event{Kind: audit.KindRefusal, Outcome: "not_admin", UserID: finish.UserID(redeemed.Principal),
					Detail: "admin console: principal " + redeemed.Principal.ID + " is not in admin.principals"})
			}
			return nil
		}
		if !h.principals[s.Principal.ID] {
			return h.o.Pages.AdminForbidden(c.Response(), r, AdminForbiddenPage{Principal: logx.Printable(s.Principal.ID)})
		}
		if r.Method == http.MethodPost && !s.CheckCSRF(r) {
			return h.o.Pages.Error(c.Response(), r, http.StatusForbidden, "error_title", "error_forbidden", h.o.Gate.cookiePath())
		}
		return next(c, s)
	}
}

// record writes one of the console's audit events; the operator's actions
// carry their principal as the actor.
func (h *Admin) record(c echo.Context, e audit.Event) {
	ctx := c.Request().Context()
	e.ClientIP, e.Service = c.RealIP(), h.o.ServiceID
	if err := h.o.Audit.Record(ctx, e); err != nil {
		h.o.Log.ErrorContext(ctx, "admin: audit event not recorded", "kind", e.Kind, "err", err)
	}
}

func actorOf(s GateSession) string { return account.ActorAdmin + ":" + s.Principal.ID }

// failed answers an internal error (logged, not shown).
func (h *Admin) failed(c echo.Context, err error) error {
	r := c.Request()
	h.o.Log.ErrorContext(r.Context(), "admin console failed", "err", err)
	return h.o.Pages.Error(c.Response(), r, http.StatusServiceUnavailable, "error_title", "error_unavailable", h.o.Gate.cookiePath())
}

// The ways to search.
const (
	byPhone   = "phone"
	byUser    = "user"
	byOpenID  = "openid"
	byUnionID = "unionid"
)

func (h *Admin) home(c echo.Context, s GateSession) error {
	return h.o.Pages.AdminSearch(c.Response(), c.Request(), http.StatusOK, AdminSearchPage{Operator: s.Principal.ID, CSRF: s.CSRF, By: byPhone})
}

func (h *Admin) search(c echo.Context, s GateSession) error {
	r := c.Request()
	d := AdminSearchPage{Operator: s.Principal.ID, CSRF: s.CSRF, By: r.PostFormValue("by"), Query: strings.TrimSpace(r.PostFormValue("q"))}
	q := d.Query
	var phone otp.Phone
	switch d.By {
	case byPhone:
		var err error
		if phone, err = otp.ParsePhone(q, h.o.PhoneRegion); err != nil {
			d.ErrorKey = "invalid_phone"
		}
		q = phone.String()
	case byUser, byOpenID, byUnionID:
		if q == "" {
			d.ErrorKey = "admin_query_required"
		}
	default:
		d.By, d.ErrorKey = byPhone, "admin_query_required"
	}
	if d.ErrorKey != "" {
		return h.o.Pages.AdminSearch(c.Response(), r, http.StatusBadRequest, d)
	}
	persons, err := h.find(r.Context(), d.By, q)
	if err != nil {
		return h.failed(c, err)
	}
	d.Searched, d.Persons = true, persons
	e := audit.Event{Kind: audit.KindAdmin, Outcome: audit.OK, Actor: actorOf(s), Phone: phone.String(),
		Detail: fmt.Sprintf("search: %d found by %s %s", len(persons), d.By, searched(d.By, q))}
	if len(persons) == 0 {
		e.Outcome = "not_found"
	}
	if len(persons) == 1 {
		e.UserID = persons[0].UserID
	}
	h.record(c, e)
	return h.o.Pages.AdminSearch(c.Response(), r, http.StatusOK, d)
}

// searched is a search's query as the audit log keeps it: a phone masked.
func searched(by, q string) string {
	if by == byPhone {
		return logx.MaskPhone(q)
	}
	return q
}

// find returns the persons a search names; a phone search shows the
// number it was given.
func (h *Admin) find(ctx context.Context, by, q string) ([]AdminPerson, error) {
	var bindings []binding.Binding
	switch by {
	case byPhone:
		u, err := h.o.Users.FindByPhone(ctx, q)
		if errors.Is(err, binding.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		p, _, err := h.person(ctx, u.ID, true)
		return []AdminPerson{p}, err
	case byUser:
		p, found, err := h.person(ctx, q, false)
		if err != nil || !found {
			return nil, err
		}
		return []AdminPerson{p}, nil
	case byOpenID:
		var err error
		if bindings, err = h.o.Bindings.FindByOpenID(ctx, q); err != nil {
			return nil, err
		}
	case byUnionID:
		b, err := h.o.Bindings.FindByUnionID(ctx, q)
		if err != nil && !errors.Is(err, binding.ErrNotFound) {
			return nil, err
		}
		if err == nil {
			bindings = append(bindings, b)
		}
	}
	var out []AdminPerson
	for _, b := range bindings {
		p := AdminPerson{}
		if b.UserID != "" {
			u, err := h.o.Users.FindByID(ctx, b.UserID)
			if err != nil && !errors.Is(err, binding.ErrNotFound) {
				return nil, err
			}
			p.user(u, b.UserID, err == nil, false)
		}
		p.binding(b, h.o.Zone)
		out = append(out, p)
	}
	return out, nil
}

// person is the directory user userID with their binding; found is false
// when neither the directory nor the bindings know the id. reveal shows the
// whole phone number (the operator searched by it).
func (h *Admin) person(ctx context.Context, userID string, reveal bool) (p AdminPerson, found bool, err error) {
	u, uerr := h.o.Users.FindByID(ctx, userID)
	if uerr != nil && !errors.Is(uerr, binding.ErrNotFound) {
		return p, false, uerr
	}
	b, berr := h.o.Bindings.BindingOf(ctx, userID)
	if berr != nil && !errors.Is(berr, binding.ErrNotFound) {
		return p, false, berr
	}
	p.user(u, userID, uerr == nil, reveal)
	if berr == nil {
		p.binding(b, h.o.Zone)
	}
	return p, uerr == nil || berr == nil, nil
}

// confirm asks for the reason of an unbind, showing what it removes.
func (h *Admin) confirm(c echo.Context, s GateSession) error {
	return h.showConfirm(c, s, AdminConfirmPage{}, http.StatusOK)
}

// showConfirm renders the confirmation for the posted user; a user with
// nothing to unbind goes back to the search page, saying why as the
// unbind would (no such user, or no binding). The first
// showing is audited (it shows who the person is); showing it again with
// what is wrong with the reason is the same action.
func (h *Admin) showConfirm(c echo.Context, s GateSession, d AdminConfirmPage, status int) error {
	r := c.Request()
	userID := r.PostFormValue("user")
	p, _, err := h.person(r.Context(), userID, false)
	if err != nil {
		return h.failed(c, err)
	}
	if !p.Unbindable() {
		errKey, status := "admin_not_bound", http.StatusConflict
		if !p.InDirectory {
			errKey, status = "admin_no_user", http.StatusNotFound
		}
		return h.o.Pages.AdminSearch(c.Response(), r, status, AdminSearchPage{
			Operator: s.Principal.ID, CSRF: s.CSRF, By: byUser, Query: userID, ErrorKey: errKey})
	}
	d.Operator, d.CSRF, d.Person = s.Principal.ID, s.CSRF, p
	if d.ErrorKey == "" {
		h.record(c, audit.Event{Kind: audit.KindAdmin, Outcome: audit.OK, Actor: actorOf(s), UserID: userID, Detail: "unbind confirmation shown"})
	}
	return h.o.Pages.AdminConfirm(c.Response(), r, status, d)
}

// maxReason keeps a reason whole in the audit log's detail.
const maxReason = 200

func (h *Admin) unbind(c echo.Context, s GateSession) error {
	r := c.Request()
	userID, reason := r.PostFormValue("user"), strings.TrimSpace(r.PostFormValue("reason"))
	switch {
	case reason == "":
		return h.showConfirm(c, s, AdminConfirmPage{ErrorKey: "admin_reason_required"}, http.StatusBadRequest)
	case utf8.RuneCountInString(reason) > maxReason:
		return h.showConfirm(c, s, AdminConfirmPage{Reason: reason, ErrorKey: "admin_reason_too_long"}, http.StatusBadRequest)
	}
	d := AdminSearchPage{Operator: s.Principal.ID, CSRF: s.CSRF, By: byUser, Query: userID}
	status := http.StatusOK
	res, err := h.o.Accounts.Unbind(r.Context(), userID, account.Actor{Kind: account.ActorAdmin, Name: s.Principal.ID, ClientIP: c.RealIP()}, reason)
	switch {
	case err == nil || errors.Is(err, account.ErrSessionsRemain):
		d.Unbound = &AdminUnbound{UserID: logx.Printable(userID), EndedSessions: res.EndedSessions, SessionsRemain: err != nil}
	case errors.Is(err, account.ErrNotBound):
		d.ErrorKey, status = "admin_not_bound", http.StatusConflict
	case errors.Is(err, account.ErrNoUser):
		d.ErrorKey, status = "admin_no_user", http.StatusNotFound
	default:
		return h.failed(c, err)
	}
	// The person as they are now: what the operator did, seen done.
	p, found, err := h.person(r.Context(), userID, false)
	if err != nil {
		return h.failed(c, err)
	}
	if found {
		d.Persons = []AdminPerson{p}
	}
	d.Searched = true
	return h.o.Pages.AdminSearch(c.Response(), r, status, d)
}

// auditPage is how many events a page of the audit log lists.
const auditPage = 50

// The audit log's filter form: the kinds and channels offered, each with
// its catalogued name (the code is shown beside it: it is what the CLI and
// the table show).
var (
	auditKinds = []AdminOption{{audit.KindLogin, "admin_kind_login"}, {audit.KindBind, "admin_kind_bind"},
		{audit.KindUnbind, "admin_kind_unbind"}, {audit.KindRefusal, "admin_kind_refusal"}, {audit.KindLink, "admin_kind_link"},
		{audit.KindPhoneChange, "admin_kind_phone_change"}, {audit.KindAdmin, "admin_kind_admin"}}
	auditChannels = []AdminOption{{audit.ChannelQRInline, "channel_qr_inline"}, {audit.ChannelQRRedirect, "channel_qr_redirect"},
		{audit.ChannelOA, "channel_oa"}, {audit.ChannelMiniProgram, "channel_mini_program"}, {audit.ChannelMobileApp, "channel_mobile_app"},
		{audit.ChannelAPI, "channel_api"}, {account.ChannelPage, "channel_account_page"}}
	outcomeToken = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
)

// offers reports whether value is one of options.
func offers(options []AdminOption, value string) bool {
	return slices.ContainsFunc(options, func(o AdminOption) bool { return o.Value == value })
}

// timeInput is the format of an <input type="datetime-local">.
const timeInput = "2006-01-02T15:04"

func (h *Admin) auditForm(c echo.Context, s GateSession) error {
	return h.o.Pages.AdminAudit(c.Response(), c.Request(), http.StatusOK, h.auditPage(s, AdminAuditFilter{}))
}

func (h *Admin) auditPage(s GateSession, f AdminAuditFilter) AdminAuditPage {
	return AdminAuditPage{Operator: s.Principal.ID, CSRF: s.CSRF, Filter: f, Kinds: auditKinds, Channels: auditChannels,
		Zone: time.Now().In(h.o.Zone).Format("MST -07:00")}
}

func (h *Admin) auditList(c echo.Context, s GateSession) error {
	r := c.Request()
	form := AdminAuditFilter{}
	for _, f := range form.fields() {
		*f.value = strings.TrimSpace(r.PostFormValue(f.name))
	}
	d := h.auditPage(s, form)
	f, bad := h.auditFilter(form, r.PostFormValue("before"))
	if bad.key != "" {
		d.ErrorKey, d.ErrorField = bad.key, bad.field
		return h.o.Pages.AdminAudit(c.Response(), r, http.StatusBadRequest, d)
	}
	// The number as read (E.164), in the form and in the audit record.
	form.Phone, d.Filter.Phone = f.Phone, f.Phone
	events, err := h.o.Events.List(r.Context(), f)
	if err != nil {
		return h.failed(c, err)
	}
	if len(events) > auditPage {
		events = events[:auditPage]
		d.Older = events[auditPage-1].ID
	}
	for _, e := range events {
		d.Events = append(d.Events, adminEvent(e, h.o.Zone))
	}
	d.Searched = true
	h.record(c, audit.Event{Kind: audit.KindAdmin, Outcome: audit.OK, Actor: actorOf(s), UserID: f.UserID, Phone: f.Phone,
		Detail: fmt.Sprintf("audit log: %d shown, %s", len(events), form.describe(f.BeforeID))})
	return h.o.Pages.AdminAudit(c.Response(), r, http.StatusOK, d)
}

// badFilter is what is wrong with the filter form: the message's key and
// the field it is about (the form's name of it).
type badFilter struct{ key, field string }

// auditFilter reads the filter form; bad names the field that is wrong
// and why.
func (h *Admin) auditFilter(form AdminAuditFilter, before string) (f audit.Filter, bad badFilter) {
	f = audit.Filter{UserID: form.User, Kind: form.Kind, Outcome: form.Outcome, Channel: form.Channel,
		Service: form.Service, Actor: form.Actor, Limit: auditPage + 1}
	if form.Phone != "" {
		p, err := otp.ParsePhone(form.Phone, h.o.PhoneRegion)
		if err != nil {
			return f, badFilter{"invalid_phone", "phone"}
		}
		f.Phone = p.String()
	}
	switch {
	case form.Kind != "" && !offers(auditKinds, form.Kind):
		return f, badFilter{"admin_kind_invalid", "kind"}
	case form.Outcome != "" && !outcomeToken.MatchString(form.Outcome):
		return f, badFilter{"admin_outcome_invalid", "outcome"}
	case form.Channel != "" && !offers(auditChannels, form.Channel):
		return f, badFilter{"admin_channel_invalid", "channel"}
	}
	var err error
	if form.Since != "" {
		if f.Since, err = time.ParseInLocation(timeInput, form.Since, h.o.Zone); err != nil {
			return f, badFilter{"admin_since_invalid", "since"}
		}
	}
	if form.Until != "" {
		// "To 10:30" includes the events of 10:30.
		if f.Until, err = time.ParseInLocation(timeInput, form.Until, h.o.Zone); err != nil {
			return f, badFilter{"admin_until_invalid", "until"}
		}
		f.Until = f.Until.Add(time.Minute)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		// Nothing could match: say so rather than list nothing.
		return f, badFilter{"admin_time_range", "since"}
	}
	if before != "" {
		if f.BeforeID, err = strconv.ParseInt(before, 10, 64); err != nil || f.BeforeID <= 0 {
			return f, badFilter{"admin_before_invalid", "before"}
		}
	}
	return f, badFilter{}
}

// The pages.
type (
	// AdminSearchPage is admin_search.html: the search form, what it
	// found, and what an unbind did.
	AdminSearchPage struct {
		Operator, CSRF string
		By, Query      string // the form as posted
		ErrorKey       string
		Searched       bool
		Persons        []AdminPerson
		Unbound        *AdminUnbound
	}
	// AdminUnbound is an unbind done.
	AdminUnbound struct {
		UserID        string
		EndedSessions int
		// SessionsRemain: some of the person's sessions could not be ended.
		SessionsRemain bool
	}
	// AdminPerson is a directory user, a WeChat person, or both bound.
	AdminPerson struct {
		UserID      string // "" for a WeChat person bound to nobody
		InDirectory bool
		Phone       string // masked unless searched by
		IdentityKey string
		Bound       bool
		BoundAt     string
		Accounts    []AdminAccount
	}
	// AdminAccount is one WeChat app account of a person.
	AdminAccount struct{ AppID, OpenID, UnionID, Nickname, FirstSeen, LastSeen string }
	// AdminConfirmPage is admin_confirm.html: the unbind's confirmation.
	AdminConfirmPage struct {
		Operator, CSRF string
		Person         AdminPerson
		Reason         string
		ErrorKey       string
		MaxReason      int
	}
	// AdminAuditPage is admin_audit.html: the audit log's filters and a
	// page of events, newest first.
	AdminAuditPage struct {
		Operator, CSRF string
		Filter         AdminAuditFilter
		Kinds          []AdminOption
		Channels       []AdminOption
		// Zone names the time zone of the times shown and typed.
		Zone     string
		ErrorKey string
		// ErrorField is the filter ErrorKey is about (its form name).
		ErrorField string
		Searched   bool
		Events     []AdminEvent
		// Older is the cursor of the next page (0: this is the last).
		Older int64
	}
	// AdminForbiddenPage is admin_forbidden.html: someone signed in who
	// may not use the console, with the way to log out (and in as
	// someone else).
	AdminForbiddenPage struct{ Principal string }
	// AdminOption is a choice of a filter: its code and the catalogue
	// key of its name.
	AdminOption struct{ Value, LabelKey string }
	// AdminAuditFilter is the filter form as typed.
	AdminAuditFilter struct{ Since, Until, User, Phone, Kind, Outcome, Channel, Service, Actor string }
	// AdminEvent is one audit event as the console shows it.
	AdminEvent struct {
		ID                                                           int64
		At, Kind, Outcome, UserID, Phone, Channel, Service, ClientIP string
		Actor, Detail, AppID, OpenID, UnionID                        string
	}
)

// The person's texts are shown printable (see adminEvent); the user id
// also goes back in forms, as it is (ShownUserID shows it).
func (p *AdminPerson) user(u binding.User, userID string, known, reveal bool) {
	p.UserID, p.InDirectory = userID, known
	p.Phone = logx.MaskPhone(u.Phone)
	if reveal {
		p.Phone = logx.Printable(u.Phone)
	}
}

func (p *AdminPerson) binding(b binding.Binding, zone *time.Location) {
	p.IdentityKey, p.Bound = logx.Printable(b.IdentityKey), b.UserID != ""
	if p.Bound {
		p.BoundAt = adminTime(b.BoundAt, zone)
	}
	for _, a := range b.Accounts {
		p.Accounts = append(p.Accounts, AdminAccount{AppID: logx.Printable(a.AppID), OpenID: logx.Printable(a.OpenID),
			UnionID: logx.Printable(a.UnionID), Nickname: logx.Printable(a.Nickname),
			FirstSeen: adminTime(a.FirstSeen, zone), LastSeen: adminTime(a.LastSeen, zone)})
	}
}

// ShownUserID is the user id as the page shows it (printable).
func (p AdminPerson) ShownUserID() string { return logx.Printable(p.UserID) }

// Unbindable reports whether the account service can unbind the person:
// bound, and known to the directory.
func (p AdminPerson) Unbindable() bool { return p.Bound && p.InDirectory }

// adminEvent is e as the console shows it: every text printable
// (logx.Printable), so that a right-to-left override in a reason or a
// search cannot reorder what the operator reads. html/template escapes
// markup, not these.
func adminEvent(e audit.Event, zone *time.Location) AdminEvent {
	p := logx.Printable
	return AdminEvent{ID: e.ID, At: adminTime(e.At, zone), Kind: p(e.Kind), Outcome: p(e.Outcome), UserID: p(e.UserID), Phone: p(e.Phone),
		Channel: p(e.Channel), Service: p(e.Service), ClientIP: p(e.ClientIP), Actor: p(e.Actor), Detail: p(e.Detail),
		AppID: p(e.AppID), OpenID: p(e.OpenID), UnionID: p(e.UnionID)}
}

// adminTime shows a time to the second, with its zone: operators compare
// it with logs.
func adminTime(t time.Time, zone *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(zone).Format("2006-01-02 15:04:05 MST")
}

type formField struct {
	name  string
	value *string
}

// fields are the filter form's inputs, by name.
func (f *AdminAuditFilter) fields() []formField {
	return []formField{{"since", &f.Since}, {"until", &f.Until}, {"user", &f.User}, {"phone", &f.Phone}, {"kind", &f.Kind},
		{"outcome", &f.Outcome}, {"channel", &f.Channel}, {"service", &f.Service}, {"actor", &f.Actor}}
}

// describe is the filter for the audit log's record of a view: phones
// masked.
func (f AdminAuditFilter) describe(before int64) string {
	var parts []string
	for _, ff := range f.fields() {
		v := *ff.value
		if ff.name == "phone" {
			v = logx.MaskPhone(v)
		}
		if v != "" {
			parts = append(parts, ff.name+"="+v)
		}
	}
	if before > 0 {
		parts = append(parts, "before=#"+strconv.FormatInt(before, 10))
	}
	if len(parts) == 0 {
		return "(no filter)"
	}
	return strings.Join(parts, " ")
}

func init() {
	person := AdminPerson{UserID: "u1", InDirectory: true, Phone: "+86138****8000", IdentityKey: "u:union", Bound: true,
		BoundAt: "2026-01-01 08:00:00 CST", Accounts: []AdminAccount{{AppID: "wxapp", OpenID: "open", UnionID: "union",
			Nickname: "nick", FirstSeen: "2026-01-01 08:00:00 CST", LastSeen: "2026-01-02 08:00:00 CST"}}}
	pageSamples["admin_search"] = AdminSearchPage{Operator: "ops", CSRF: "csrf", By: byPhone, Query: "13800138000",
		ErrorKey: "invalid_phone", Searched: true, Persons: []AdminPerson{person},
		Unbound: &AdminUnbound{UserID: "u1", EndedSessions: 2, SessionsRemain: true}}
	pageSamples["admin_forbidden"] = AdminForbiddenPage{Principal: "bob"}
	pageSamples["admin_confirm"] = AdminConfirmPage{Operator: "ops", CSRF: "csrf", Person: person, Reason: "why",
		ErrorKey: "admin_reason_required", MaxReason: maxReason}
	pageSamples["admin_audit"] = AdminAuditPage{Operator: "ops", CSRF: "csrf", Kinds: auditKinds, Channels: auditChannels,
		Filter: AdminAuditFilter{Since: "2026-01-01T00:00", Until: "2026-01-02T00:00", User: "u1", Phone: "138", Kind: audit.KindLogin,
			Outcome: audit.OK, Channel: audit.ChannelAPI, Service: "https://app.example/", Actor: "admin:ops"},
		Zone: "CST +08:00", ErrorKey: "admin_since_invalid", ErrorField: "since", Searched: true, Older: 7,
		Events: []AdminEvent{{ID: 8, At: "2026-01-01 08:00:00 CST", Kind: audit.KindLogin, Outcome: audit.OK, UserID: "u1",
			Phone: "+86138****8000", Channel: audit.ChannelAPI, Service: "https://app.example/", ClientIP: "192.0.2.1",
			Actor: "admin:ops", Detail: "why", AppID: "wxapp", OpenID: "open", UnionID: "union"}}}
}

// AdminForbidden renders admin_forbidden.html (403).
func (p *Pages) AdminForbidden(w http.ResponseWriter, r *http.Request, d AdminForbiddenPage) error {
	return p.render(w, r, http.StatusForbidden, "admin_forbidden", d)
}

// AdminSearch renders admin_search.html.
func (p *Pages) AdminSearch(w http.ResponseWriter, r *http.Request, status int, d AdminSearchPage) error {
	return p.render(w, p.consoleRequest(r, "/admin/"), status, "admin_search", d)
}

// AdminConfirm renders admin_confirm.html.
func (p *Pages) AdminConfirm(w http.ResponseWriter, r *http.Request, status int, d AdminConfirmPage) error {
	d.MaxReason = maxReason
	return p.render(w, p.consoleRequest(r, "/admin/"), status, "admin_confirm", d)
}

// AdminAudit renders admin_audit.html.
func (p *Pages) AdminAudit(w http.ResponseWriter, r *http.Request, status int, d AdminAuditPage) error {
	return p.render(w, p.consoleRequest(r, "/admin/audit"), status, "admin_audit", d)
}

// consoleRequest is r as the page's language links see it: a page that
// answers a post switches language on a console page to GET (the post's
// answer was an audited action, not a page to fetch again).
func (p *Pages) consoleRequest(r *http.Request, page string) *http.Request {
	if r.Method == http.MethodGet {
		return r
	}
	return langPageOn(r, p.base+page)
}
