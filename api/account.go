package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"wxcas/account"
	"wxcas/audit"
	"wxcas/binding"
	"wxcas/cas"
	"wxcas/finish"
	"wxcas/otp"
	"wxcas/ratelimit"
)

// The person's own account, as the /account page offers it (package
// account makes every decision; this is its JSON transport):
//
//	/account           {}                            → profile
//	/account/code      {"purpose","phone"?}          → code_sent
//	/account/unbind    {"code"}                      → unbound
//	/account/phone     {"phone","code"}              → phone_changed
//	/account/replace   {"appid","code","sms_code"}   → replaced
//
// The caller is the app's CAS session: the TGT its login answered with, in
// "Authorization: Bearer TGT-…". A header rather than a body field or the
// URL: proxies and access logs record URLs and some record bodies, while
// the Authorization header is the one they are built to leave out.

// Accounts changes a person's own binding (*account.Service).
type Accounts interface {
	Profile(ctx context.Context, userID string, logins audit.Store) (account.Profile, error)
	PhonesEditable() bool
	SendCode(ctx context.Context, p account.Person, purpose string, to otp.Phone) (otp.SendResult, error)
	UnbindSelf(ctx context.Context, p account.Person, code string) (account.Result, error)
	ChangePhone(ctx context.Context, p account.Person, to otp.Phone, code string) (account.Result, error)
	Replace(ctx context.Context, p account.Person, acct binding.Account, code string) (account.Result, error)
}

// Sessions finds the CAS session a TGT names (*cas.Server).
type Sessions interface {
	SessionOf(ctx context.Context, tgtID string) (cas.Session, error)
}

// Identifier exchanges a WeChat code for the account WeChat says it is
// (journey.WeChatClient, the login's own exchange).
type Identifier interface {
	Identify(ctx context.Context, appID, code string) (binding.Account, error)
}

// AccountDeps are the /account calls' collaborators. With Service nil the
// calls are not served (404), as when the account page is turned off.
type AccountDeps struct {
	Service  Accounts
	Sessions Sessions
	// Logins lists the recent logins of the profile; nil: none listed.
	Logins audit.Store
	// WeChat identifies the new WeChat account of a replacement.
	WeChat Identifier
	// PhoneRegion reads numbers typed without a country code.
	PhoneRegion string
}

// Code purposes as the API names them.
const (
	PurposeUnbind  = "unbind"
	PurposePhone   = "phone"
	PurposeReplace = "replace"
)

var purposes = map[string]string{
	PurposeUnbind:  account.PurposeUnbind,
	PurposePhone:   account.PurposePhone,
	PurposeReplace: account.PurposeReplace,
}

// Account answer statuses (code_sent is the binding's).
const (
	StatusProfile      = "profile"
	StatusUnbound      = "unbound"
	StatusPhoneChanged = "phone_changed"
	StatusReplaced     = "replaced"
)

// AccountRequest is POST /account: an empty object.
type AccountRequest struct{}

// AccountCodeRequest is POST /account/code. Phone is the new number, for
// PurposePhone only.
type AccountCodeRequest struct {
	Purpose string `json:"purpose"`
	Phone   string `json:"phone,omitempty"`
}

// AccountUnbindRequest is POST /account/unbind.
type AccountUnbindRequest struct {
	Code string `json:"code"`
}

// AccountPhoneRequest is POST /account/phone.
type AccountPhoneRequest struct {
	Phone string `json:"phone"`
	Code  string `json:"code"`
}

// AccountReplaceRequest is POST /account/replace: Code is the new WeChat
// account's (wx.login, or the Open SDK's), SMSCode the one sent to the
// bound phone.
type AccountReplaceRequest struct {
	AppID   string `json:"appid"`
	Code    string `json:"code"`
	SMSCode string `json:"sms_code"`
}

// Profile is the profile answer. It names the person's WeChat apps but
// none of their openids or unionid: those identify the person to WeChat
// and across the organisation's apps, which an app showing "my account"
// does not need and should not be able to collect.
type Profile struct {
	Status        string         `json:"status"`
	UserID        string         `json:"user_id"`
	Phone         string         `json:"phone"` // masked
	PhoneEditable bool           `json:"phone_editable"`
	WeChat        ProfileWeChat  `json:"wechat"`
	RecentLogins  []ProfileLogin `json:"recent_logins"`
}

// ProfileWeChat is the bound WeChat account.
type ProfileWeChat struct {
	Bound     bool         `json:"bound"`
	BoundAt   string       `json:"bound_at,omitempty"`
	Nickname  string       `json:"nickname,omitempty"`
	AvatarURL string       `json:"avatar_url,omitempty"`
	Apps      []ProfileApp `json:"apps"`
}

// ProfileApp is one of the organisation's WeChat apps the person used.
type ProfileApp struct {
	AppID     string `json:"appid"`
	Kind      string `json:"kind,omitempty"` // empty: no longer configured
	FirstSeen string `json:"first_seen"`
	LastSeen  string `json:"last_seen"`
}

// ProfileLogin is one recent login.
type ProfileLogin struct {
	At      string `json:"at"`
	Channel string `json:"channel"`
	Service string `json:"service,omitempty"`
}

// AccountChanged answers a change. OtherSessionsRemain: the change is made but
// some of the person's other sessions could not be ended; the app asks the
// person to log out on their other devices.
type AccountChanged struct {
	Status              string `json:"status"`
	OtherSessionsEnded  int    `json:"other_sessions_ended"`
	OtherSessionsRemain bool   `json:"other_sessions_remain,omitempty"`
}

// mountAccount adds the /account routes when d has a Service.
func (h *Handler) mountAccount(d AccountDeps) error {
	if d.Service == nil {
		return nil
	}
	if d.Sessions == nil || d.WeChat == nil {
		return errors.New("api: AccountDeps.Sessions and WeChat are required with a Service")
	}
	h.account = d
	h.routes["/account"] = h.handleProfile
	h.routes["/account/code"] = h.handleAccountCode
	h.routes["/account/unbind"] = h.handleUnbind
	h.routes["/account/phone"] = h.handleChangePhone
	h.routes["/account/replace"] = h.handleReplace
	return nil
}

// bearerRealm names wxcas in the 401 challenge.
const bearerRealm = `Bearer realm="wxcas"`

// signedIn counts the call against the per-IP limit, finds the person by
// their Bearer TGT, then decodes the request into req.
func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request, req any) (account.Person, error) {
	ctx := r.Context()
	ip := h.clientIP(r)
	if err := h.limit(ctx, "account_ip", ratelimit.ClientSubject(ip), h.cfg.AccountPerIP); err != nil {
		return account.Person{}, err
	}
	scheme, tgt, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	tgt = strings.TrimSpace(tgt)
	if !strings.EqualFold(scheme, "Bearer") || tgt == "" {
		// RFC 6750: a request without credentials gets the bare challenge.
		w.Header().Set("WWW-Authenticate", bearerRealm)
		return account.Person{}, fail(CodeSessionRequired, errors.New("no Bearer credentials"))
	}
	sess, err := h.account.Sessions.SessionOf(ctx, tgt)
	if errors.Is(err, cas.ErrNoSession) {
		w.Header().Set("WWW-Authenticate", bearerRealm+`, error="invalid_token"`)
		return account.Person{}, fail(CodeInvalidSession, err)
	}
	if err != nil {
		return account.Person{}, err
	}
	if err := h.decode(w, r, req); err != nil {
		return account.Person{}, err
	}
	return account.Person{UserID: finish.UserID(sess.Principal), SessionKey: sess.Key, AuthenticatedAt: sess.AuthenticatedAt, ClientIP: ip, Channel: account.ChannelAPI}, nil
}

// refusal is err as the client sees it: an account refusal with the
// status and details account.OutcomeOf gives, else as any error.
func refusal(err error) error {
	o, ok := account.OutcomeOf(err)
	if !ok {
		return err
	}
	return &apiError{code: o.Code, status: o.Status, retryAfter: o.RetryAfter, attemptsLeft: o.AttemptsLeft, cause: err}
}

// smsCode checks the bounds of an SMS code field. An empty code is the
// person's typo, not a client bug: the code check answers malformed_code
// without using an attempt.
func smsCode(name, code string) error {
	if code == "" {
		return nil
	}
	return required(field{name, code, 16})
}

func (h *Handler) handleProfile(w http.ResponseWriter, r *http.Request) error {
	var req AccountRequest
	p, err := h.signedIn(w, r, &req)
	if err != nil {
		return err
	}
	prof, err := h.account.Service.Profile(r.Context(), p.UserID, h.account.Logins)
	if err != nil {
		return refusal(err)
	}
	writeJSON(w, http.StatusOK, h.profileOf(prof))
	return nil
}

// profileOf is what an app sees of a profile. The nickname and avatar are
// the newest an app reported; an avatar only over https, which is what
// WeChat serves and what an app can show without mixed content.
func (h *Handler) profileOf(prof account.Profile) Profile {
	out := Profile{
		Status: StatusProfile, UserID: prof.User.ID, Phone: otp.Phone(prof.User.Phone).Masked(),
		PhoneEditable: h.account.Service.PhonesEditable(),
		WeChat:        ProfileWeChat{Bound: prof.Bound(), Apps: []ProfileApp{}},
		RecentLogins:  []ProfileLogin{},
	}
	if prof.Bound() {
		out.WeChat.BoundAt = rfc3339(prof.Binding.BoundAt)
		for _, a := range prof.Binding.Accounts {
			if a.Nickname != "" {
				out.WeChat.Nickname = a.Nickname
			}
			if strings.HasPrefix(a.AvatarURL, "https://") {
				out.WeChat.AvatarURL = a.AvatarURL
			}
			app, _ := h.apps.App(a.AppID)
			out.WeChat.Apps = append(out.WeChat.Apps, ProfileApp{
				AppID: a.AppID, Kind: string(app.Kind), FirstSeen: rfc3339(a.FirstSeen), LastSeen: rfc3339(a.LastSeen),
			})
		}
	}
	for _, e := range prof.Logins {
		out.RecentLogins = append(out.RecentLogins, ProfileLogin{At: rfc3339(e.At), Channel: e.Channel, Service: e.Service})
	}
	return out
}

// handleAccountCode sends a code: to the bound phone to unbind or replace,
// to the new number to change phone.
func (h *Handler) handleAccountCode(w http.ResponseWriter, r *http.Request) error {
	var req AccountCodeRequest
	p, err := h.signedIn(w, r, &req)
	if err != nil {
		return err
	}
	purpose, ok := purposes[req.Purpose]
	if !ok {
		return invalid("purpose must be %s, %s or %s", PurposeUnbind, PurposePhone, PurposeReplace)
	}
	var to otp.Phone
	if req.Purpose == PurposePhone {
		if to, err = h.newPhone(req.Phone); err != nil {
			return err
		}
	} else if req.Phone != "" {
		return invalid("phone is only for purpose %s: the code goes to the bound phone", PurposePhone)
	}
	res, err := h.account.Service.SendCode(r.Context(), p, purpose, to)
	if err != nil {
		return refusal(err)
	}
	// The binding's code_sent, without a bind token: the session is the
	// caller's credential.
	writeJSON(w, http.StatusOK, Response{
		Status: StatusCodeSent, CodeExpiresAt: rfc3339(res.ExpiresAt), ResendAfterSeconds: resendAfter(res.ResendAfter),
	})
	return nil
}

// newPhone reads the new number of a phone change (invalid_phone when it
// cannot be a mobile number).
func (h *Handler) newPhone(raw string) (otp.Phone, error) {
	if err := required(field{"phone", raw, 64}); err != nil {
		return "", err
	}
	to, err := otp.ParsePhone(raw, h.account.PhoneRegion)
	if err != nil {
		return "", refusal(err)
	}
	return to, nil
}

func (h *Handler) handleUnbind(w http.ResponseWriter, r *http.Request) error {
	var req AccountUnbindRequest
	p, err := h.signedIn(w, r, &req)
	if err != nil {
		return err
	}
	if err := smsCode("code", req.Code); err != nil {
		return err
	}
	res, err := h.account.Service.UnbindSelf(r.Context(), p, req.Code)
	return h.changed(w, r, StatusUnbound, res, err)
}

func (h *Handler) handleChangePhone(w http.ResponseWriter, r *http.Request) error {
	var req AccountPhoneRequest
	p, err := h.signedIn(w, r, &req)
	if err != nil {
		return err
	}
	if err := smsCode("code", req.Code); err != nil {
		return err
	}
	to, err := h.newPhone(req.Phone)
	if err != nil {
		return err
	}
	res, err := h.account.Service.ChangePhone(r.Context(), p, to, req.Code)
	return h.changed(w, r, StatusPhoneChanged, res, err)
}

// handleReplace binds the WeChat account of the app's new code in place of
// the bound one, confirmed by the SMS code. WeChat is asked first: its code
// is used up whatever the SMS code says, so an app sends a fresh one with
// every attempt.
func (h *Handler) handleReplace(w http.ResponseWriter, r *http.Request) error {
	var req AccountReplaceRequest
	p, err := h.signedIn(w, r, &req)
	if err != nil {
		return err
	}
	if err := required(field{"appid", req.AppID, 64}, field{"code", req.Code, 512}); err != nil {
		return err
	}
	if err := smsCode("sms_code", req.SMSCode); err != nil {
		return err
	}
	if _, err := h.appChannel(req.AppID); err != nil {
		return err
	}
	ctx := r.Context()
	acct, err := h.account.WeChat.Identify(ctx, req.AppID, req.Code)
	if err != nil {
		return refusal(err)
	}
	res, err := h.account.Service.Replace(ctx, p, acct, req.SMSCode)
	return h.changed(w, r, StatusReplaced, res, err)
}

// changed answers a change: made (also when some other sessions could not
// be ended, which the answer says), or refused.
func (h *Handler) changed(w http.ResponseWriter, r *http.Request, status string, res account.Result, err error) error {
	remain := errors.Is(err, account.ErrSessionsRemain)
	if err != nil && !remain {
		return refusal(err)
	}
	h.log.InfoContext(r.Context(), "api: account changed", "change", status, "other_sessions_ended", res.EndedSessions,
		"other_sessions_remain", remain)
	writeJSON(w, http.StatusOK, AccountChanged{Status: status, OtherSessionsEnded: res.EndedSessions, OtherSessionsRemain: remain})
	return nil
}
