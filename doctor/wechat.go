package doctor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"wxcas/wechat"
	"wxcas/wechat/platform"
)

// AppCredentials checks one WeChat app's appid and secret with a single
// call that invalidates nothing: it exchanges a deliberately invalid code
// (sns/oauth2/access_token, or sns/jscode2session for a mini program).
// WeChat checks the credentials before the code, so right credentials get
// 40029 (invalid code) and wrong ones 40013/40125 (invalid appid or
// secret). /cgi-bin/token is never called: a new app token can retire the
// one in use.
type AppCredentials struct {
	Client *wechat.Client
	AppID  string
	// Index is the app's position in wechat.apps, for the fix.
	Index int
	// UnreachableFix replaces the fix for a WeChat that does not answer
	// (the sandbox's emulator runs inside wxcas serve).
	UnreachableFix string
}

// Name implements Check.
func (a AppCredentials) Name() string { return "wechat_credentials/" + a.AppID }

// Run implements Check.
func (a AppCredentials) Run(ctx context.Context) Result {
	app, ok := a.Client.App(a.AppID)
	if !ok {
		return Fail(a.AppID+" is not a configured app", "report this as a wxcas bug")
	}
	code := invalidCode()
	var err error
	if app.Kind == wechat.KindMiniProgram {
		_, err = a.Client.JSCode2Session(ctx, app.AppID, code)
	} else {
		_, err = a.Client.ExchangeCode(ctx, app.AppID, code)
	}
	r := credentialVerdict(app, a.Index, err)
	if a.UnreachableFix != "" && (errors.Is(err, wechat.ErrTransport) || errors.Is(err, wechat.ErrMalformedResponse)) {
		r.Fix = a.UnreachableFix
	}
	return r
}

// invalidCode is a code WeChat cannot have issued: its own are 32
// characters of letters and digits.
func invalidCode() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "wxcas-doctor-" + hex.EncodeToString(b[:])
}

func credentialVerdict(app wechat.App, index int, err error) Result {
	secretFix := fmt.Sprintf("set the environment variable wechat.apps[%d].secret takes (e.g. ${WXCAS_WECHAT_SECRET_%d}) to the AppSecret of %s (%s), and check the appid",
		index, index, app.AppID, consoleOf(app.Kind))
	var we *wechat.Error
	switch {
	case err == nil:
		// A made-up code exchanged: what answered is not WeChat.
		return Fail(fmt.Sprintf("%s: a made-up code was accepted: the API at wechat.api_base_url does not check codes as WeChat does", app),
			"leave wechat.api_base_url empty outside the sandbox (WeChat's own API)")
	case errors.Is(err, wechat.ErrCodeInvalid):
		return Pass(fmt.Sprintf("%s: WeChat accepted the appid and secret (it answered a deliberately invalid code with 40029 invalid code)", app))
	case errors.Is(err, wechat.ErrBadCredentials):
		return Fail(fmt.Sprintf("%s: WeChat refused the credentials: %v", app, err), secretFix)
	case errors.Is(err, wechat.ErrIPNotWhitelisted):
		return Fail(fmt.Sprintf("%s: WeChat refused this machine's IP address: %v", app, err),
			fmt.Sprintf("add this server's public IP address to the API IP whitelist of %s (%s)", app.AppID, consoleOf(app.Kind)))
	case errors.Is(err, wechat.ErrTransport), errors.Is(err, wechat.ErrMalformedResponse):
		return Fail(fmt.Sprintf("%s: no usable answer from WeChat's API: %v", app, err),
			"check that this machine reaches WeChat's API over https (firewall, proxy, DNS) and that wechat.api_base_url is empty or right")
	case errors.As(err, &we) && we.Retryable:
		return Fail(fmt.Sprintf("%s: WeChat was busy or limited the call: %v", app, err), "run wxcas doctor again in a minute")
	}
	return Fail(fmt.Sprintf("%s: unexpected answer to a deliberately invalid code: %v", app, err), secretFix)
}

// consoleOf names where an app's secret and settings are managed.
func consoleOf(k wechat.Kind) string {
	switch k {
	case wechat.KindOfficialAccount, wechat.KindMiniProgram:
		return "mp.weixin.qq.com, 设置与开发 → 基本配置 / 开发管理"
	}
	return "open.weixin.qq.com, 管理中心 → the app's 开发信息"
}

// DefaultMaxTicketAge is the oldest component_verify_ticket PlatformTicket
// accepts: WeChat pushes one every 10 minutes, so a ticket older than three
// pushes means the pushes stopped reaching wxcas (a ticket itself lasts
// about 12 hours, so logins still work for a while).
const DefaultMaxTicketAge = 30 * time.Minute

// TicketStore is what PlatformTicket reads (platform.SQLStore).
type TicketStore interface {
	Ticket(ctx context.Context, componentAppID string) (string, time.Time, error)
	Authorization(ctx context.Context, componentAppID, authorizerAppID string) (platform.Status, error)
}

// PlatformTicket checks an Official Account served through a third-party
// platform without calling WeChat (a new component_access_token is the
// only credential call there is, and it replaces the one in use): the
// platform's newest component_verify_ticket is stored and recent, and the
// account has not withdrawn its authorization.
type PlatformTicket struct {
	// Tickets is nil when they cannot be read, for the reason TicketsErr.
	Tickets        TicketStore
	TicketsErr     error
	AppID          string
	PlatformID     string
	ComponentAppID string
	// EventURL is where WeChat must push (<public_url>/wechat/platforms/<id>/events).
	EventURL string
	Now      func() time.Time
	// MaxAge: 0 means DefaultMaxTicketAge.
	MaxAge time.Duration
	// UnreachableFix replaces the fix when no recent push arrived (the
	// sandbox's emulator pushes only while it runs).
	UnreachableFix string
}

// Name implements Check.
func (p PlatformTicket) Name() string { return "wechat_credentials/" + p.AppID }

// Run implements Check.
func (p PlatformTicket) Run(ctx context.Context) Result {
	what := fmt.Sprintf("official_account app %s via platform %s", p.AppID, p.PlatformID)
	if p.Tickets == nil {
		return Fail(fmt.Sprintf("%s: cannot read the platform's tickets: %v", what, p.TicketsErr), "fix the database check first, or start wxcas serve once")
	}
	now, maxAge := time.Now, p.MaxAge
	if p.Now != nil {
		now = p.Now
	}
	if maxAge <= 0 {
		maxAge = DefaultMaxTicketAge
	}
	pushFix := fmt.Sprintf("set the platform's 授权事件接收URL to %s, make it reachable from WeChat over https, and wait up to 10 minutes for a push (a changed secrets.key also makes stored tickets unreadable)", p.EventURL)
	if p.UnreachableFix != "" {
		pushFix = p.UnreachableFix
	}
	_, created, err := p.Tickets.Ticket(ctx, p.ComponentAppID)
	switch {
	case errors.Is(err, platform.ErrNoTicket):
		return Fail(what+": no component_verify_ticket stored: WeChat's pushes have not reached wxcas", pushFix)
	case err != nil:
		return Fail(what+": cannot read the platform's ticket: "+err.Error(), "fix the database check first")
	}
	age := now().Sub(created)
	if age > maxAge {
		return Fail(fmt.Sprintf("%s: the newest component_verify_ticket is %s old (WeChat pushes every 10 minutes; at most %s accepted)",
			what, approx(age), approx(maxAge)), pushFix)
	}
	status, err := p.Tickets.Authorization(ctx, p.ComponentAppID, p.AppID)
	if err != nil {
		return Fail(what+": cannot read the account's authorization: "+err.Error(), "fix the database check first")
	}
	if status == platform.StatusUnauthorized {
		return Fail(what+": the account withdrew its authorization of the platform (unauthorized event received)",
			"have an administrator of "+p.AppID+" authorize the third-party platform "+p.ComponentAppID+" again")
	}
	return Pass(fmt.Sprintf("%s: component_verify_ticket pushed %s ago; authorization %s", what, approx(age), status))
}
