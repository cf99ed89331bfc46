package api

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"wxcas/audit"
	"wxcas/binding"
	"wxcas/login"
	"wxcas/otp"
	"wxcas/store"
	"wxcas/wechat"
)

// Binding methods offered in a binding_required answer.
const (
	MethodSMS         = "sms"
	MethodWeChatPhone = "wechat_phone"
)

// Answer statuses.
const (
	StatusLoggedIn        = "logged_in"
	StatusBindingRequired = "binding_required"
	StatusCodeSent        = "code_sent"
)

// LoginRequest is POST /login/wechat.
type LoginRequest struct {
	AppID string `json:"appid"`
	Code  string `json:"code"`
}

// SMSSendRequest is POST /bind/sms/send.
type SMSSendRequest struct {
	BindToken string `json:"bind_token"`
	Phone     string `json:"phone"`
}

// SMSVerifyRequest is POST /bind/sms/verify.
type SMSVerifyRequest struct {
	BindToken string `json:"bind_token"`
	Code      string `json:"code"`
}

// WeChatPhoneRequest is POST /bind/wechat-phone.
type WeChatPhoneRequest struct {
	BindToken string `json:"bind_token"`
	PhoneCode string `json:"phone_code"`
}

// Response is every successful answer; Status says which fields are set.
type Response struct {
	Status string `json:"status"`
	// logged_in
	TGT          string `json:"tgt,omitempty"`
	TGTExpiresAt string `json:"tgt_expires_at,omitempty"`
	UserID       string `json:"user_id,omitempty"`
	// binding_required and code_sent
	BindToken          string   `json:"bind_token,omitempty"`
	BindTokenExpiresAt string   `json:"bind_token_expires_at,omitempty"`
	Methods            []string `json:"methods,omitempty"`
	// code_sent
	CodeExpiresAt      string `json:"code_expires_at,omitempty"`
	ResendAfterSeconds *int   `json:"resend_after_seconds,omitempty"`
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// handleLogin exchanges a mini program or mobile app code and logs the
// person in, or starts a binding.
func (h *Handler) handleLogin(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := h.limit(ctx, "login_ip", ipSubject(h.clientIP(r)), h.cfg.LoginPerIP); err != nil {
		return err
	}
	var req LoginRequest
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if err := required(field{"appid", req.AppID, 64}, field{"code", req.Code, 512}); err != nil {
		return err
	}
	app, ok := h.wx.App(req.AppID)
	if !ok {
		return fail(CodeUnknownApp, fmt.Errorf("appid %q", req.AppID))
	}
	var id login.Identity
	switch app.Kind {
	case wechat.KindMiniProgram:
		sess, err := h.wx.JSCode2Session(ctx, app.AppID, req.Code)
		if err != nil {
			return h.refused(r, binding.Account{AppID: app.AppID}, string(app.Kind), "", wechatError(err))
		}
		// The session key stays unused: wxcas decrypts nothing for clients.
		id.Account = binding.Account{AppID: app.AppID, OpenID: sess.OpenID, UnionID: sess.UnionID}
	case wechat.KindMobileApp:
		tok, err := h.wx.ExchangeCode(ctx, app.AppID, req.Code)
		if err != nil {
			return h.refused(r, binding.Account{AppID: app.AppID}, string(app.Kind), "", wechatError(err))
		}
		id.Account = binding.Account{AppID: app.AppID, OpenID: tok.OpenID, UnionID: tok.UnionID}
		h.addProfile(ctx, tok, &id)
	default:
		return fail(CodeUnsupportedAppKind, fmt.Errorf("app %s is a %s app", app.AppID, app.Kind))
	}
	if len(id.OpenID) > 128 || len(id.UnionID) > 128 {
		return fail(CodeWeChatUnavailable, errors.New("WeChat returned an oversized openid or unionid"))
	}

	user, err := h.login.Identify(ctx, id)
	if err == nil {
		return h.loggedIn(w, r, user, id, string(app.Kind))
	}
	if !errors.Is(err, login.ErrUnbound) {
		return h.refused(r, id.Account, string(app.Kind), "", loginError(err))
	}
	now := h.now()
	token, hash := newBindToken()
	t := bindToken{
		Hash: hash, ChainID: strings.ToLower(rand.Text()), AppID: app.AppID, Kind: string(app.Kind),
		OpenID: id.OpenID, UnionID: id.UnionID, Nickname: id.Nickname, AvatarURL: id.AvatarURL,
		CreatedAt:      store.Time(now),
		ExpiresAt:      store.Time(now.Add(h.cfg.BindTokenTTL)),
		ChainExpiresAt: store.Time(now.Add(h.cfg.BindChainMaxAge)),
	}
	if err := h.binds.create(ctx, t); err != nil {
		return err
	}
	methods := []string{MethodSMS}
	if app.Kind == wechat.KindMiniProgram {
		methods = append(methods, MethodWeChatPhone)
	}
	h.log.InfoContext(ctx, "api: WeChat login needs a phone binding", "appid", app.AppID, "kind", app.Kind, "chain", t.ChainID)
	writeJSON(w, http.StatusOK, Response{
		Status: StatusBindingRequired, BindToken: token, BindTokenExpiresAt: rfc3339(t.ExpiresAt), Methods: methods,
	})
	return nil
}

// addProfile adds a mobile app user's nickname and avatar (and a unionid the
// token lacked) from /sns/userinfo. Best effort: the login does not need it.
func (h *Handler) addProfile(ctx context.Context, tok *wechat.Token, id *login.Identity) {
	if !tok.HasScope(wechat.ScopeUserInfo) {
		return
	}
	info, err := h.wx.UserInfo(ctx, tok.AccessToken, tok.OpenID, "")
	if err != nil {
		h.log.WarnContext(ctx, "api: WeChat profile not available; logging in without it", "appid", tok.AppID, "err", err)
		return
	}
	id.Nickname = truncateRunes(info.Nickname, 64)
	if len(info.HeadImgURL) <= 1024 {
		id.AvatarURL = info.HeadImgURL
	}
	if id.UnionID == "" && info.OpenID == tok.OpenID {
		id.UnionID = info.UnionID
	}
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// loggedIn starts the CAS session and answers logged_in.
func (h *Handler) loggedIn(w http.ResponseWriter, r *http.Request, u binding.User, id login.Identity, appKind string) error {
	ctx := r.Context()
	tgt, expires, err := h.cas.CreateSession(ctx, login.Principal(u, id, h.now()))
	if err != nil {
		return err
	}
	h.record(r, audit.KindLogin, audit.OK, u.ID, id.Account, appKind, "")
	h.log.InfoContext(ctx, "api: logged in", "user", u.ID, "appid", id.AppID)
	writeJSON(w, http.StatusOK, Response{Status: StatusLoggedIn, TGT: tgt, TGTExpiresAt: rfc3339(expires), UserID: u.ID})
	return nil
}

// startBindStep counts a /bind/* call against the per-IP limit and decodes
// its request.
func (h *Handler) startBindStep(w http.ResponseWriter, r *http.Request, req any) error {
	if err := h.limit(r.Context(), "bind_ip", ipSubject(h.clientIP(r)), h.cfg.BindPerIP); err != nil {
		return err
	}
	return h.decode(w, r, req)
}

// bindTokenFor loads a live bind token and counts the call against its
// binding's limit.
func (h *Handler) bindTokenFor(ctx context.Context, raw string) (bindToken, error) {
	t, err := h.loadBindToken(ctx, raw)
	if err != nil {
		return bindToken{}, err
	}
	if err := h.limit(ctx, "bind_token", t.ChainID, h.cfg.BindPerToken); err != nil {
		return bindToken{}, err
	}
	return t, nil
}

// loadBindToken returns the live token, or why it cannot be used.
func (h *Handler) loadBindToken(ctx context.Context, raw string) (bindToken, error) {
	if !wellFormedBindToken(raw) {
		return bindToken{}, fail(CodeInvalidBindToken, errors.New("malformed"))
	}
	t, err := h.binds.get(ctx, hashToken(raw))
	if errors.Is(err, store.ErrNotFound) {
		return bindToken{}, fail(CodeInvalidBindToken, errors.New("unknown"))
	}
	if err != nil {
		return bindToken{}, err
	}
	now := h.now()
	if t.UsedAt.Valid {
		// A replay, or a client's double submit: refused, while the token
		// the successful step handed out stays valid.
		return bindToken{}, fail(CodeInvalidBindToken, fmt.Errorf("already used (chain %s)", t.ChainID))
	}
	if !now.Before(t.ExpiresAt) || !now.Before(t.ChainExpiresAt) {
		return bindToken{}, fail(CodeBindTokenExpired, nil)
	}
	return t, nil
}

// advance uses up the token (and stores its successor): a concurrent use of
// the same token makes this request fail.
func (h *Handler) advance(ctx context.Context, t bindToken, next *bindToken) error {
	err := h.binds.advance(ctx, t, next, h.now())
	if errors.Is(err, errTokenConsumed) {
		return fail(CodeInvalidBindToken, err)
	}
	return err
}

// handleSMSSend sends a binding code to a phone.
func (h *Handler) handleSMSSend(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req SMSSendRequest
	if err := h.startBindStep(w, r, &req); err != nil {
		return err
	}
	if err := required(field{"bind_token", req.BindToken, 64}, field{"phone", req.Phone, 64}); err != nil {
		return err
	}
	t, err := h.bindTokenFor(ctx, req.BindToken)
	if err != nil {
		return err
	}
	phone, err := otp.ParsePhone(req.Phone, otp.DefaultRegion)
	if err != nil {
		return h.refused(r, t.identity().Account, t.Kind, req.Phone, fail(CodeInvalidPhone, err))
	}
	res, err := h.login.SendCode(ctx, t.identity(), phone, h.clientIP(r))
	if err != nil {
		return h.refused(r, t.identity().Account, t.Kind, phone.String(), loginError(err))
	}
	token, next := t.successor(phone.String(), h.now(), h.cfg.BindTokenTTL)
	if err := h.advance(ctx, t, &next); err != nil {
		return err
	}
	resend := 0
	if res.ResendAfter > 0 {
		resend = seconds(res.ResendAfter)
	}
	h.log.InfoContext(ctx, "api: binding code sent", "chain", t.ChainID, "phone", phone.Masked())
	writeJSON(w, http.StatusOK, Response{
		Status: StatusCodeSent, BindToken: token, BindTokenExpiresAt: rfc3339(next.ExpiresAt),
		CodeExpiresAt: rfc3339(res.ExpiresAt), ResendAfterSeconds: &resend,
	})
	return nil
}

// handleSMSVerify checks the code, binds and logs in.
func (h *Handler) handleSMSVerify(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req SMSVerifyRequest
	if err := h.startBindStep(w, r, &req); err != nil {
		return err
	}
	if err := required(field{"bind_token", req.BindToken, 64}); err != nil {
		return err
	}
	// An empty code is the person's typo, not a client bug: it goes on to
	// the OTP service, which answers malformed_code without using an attempt.
	if req.Code != "" {
		if err := required(field{"code", req.Code, 16}); err != nil {
			return err
		}
	}
	t, err := h.bindTokenFor(ctx, req.BindToken)
	if err != nil {
		return err
	}
	id := t.identity()
	if t.Phone == "" {
		return h.refused(r, id.Account, t.Kind, "", fail(CodeNoCode, errors.New("no code was sent in this binding")))
	}
	user, err := h.login.Bind(ctx, id, otp.Phone(t.Phone), req.Code)
	if err != nil {
		return h.refused(r, id.Account, t.Kind, t.Phone, loginError(err))
	}
	h.record(r, audit.KindBind, audit.OK, user.ID, id.Account, t.Kind, t.Phone)
	if err := h.advance(ctx, t, nil); err != nil {
		return err
	}
	return h.loggedIn(w, r, user, id, t.Kind)
}

// handleWeChatPhone binds the phone number WeChat vouches for (mini
// programs) and logs in.
func (h *Handler) handleWeChatPhone(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req WeChatPhoneRequest
	if err := h.startBindStep(w, r, &req); err != nil {
		return err
	}
	if err := required(field{"bind_token", req.BindToken, 64}, field{"phone_code", req.PhoneCode, 512}); err != nil {
		return err
	}
	t, err := h.bindTokenFor(ctx, req.BindToken)
	if err != nil {
		return err
	}
	if t.Kind != string(wechat.KindMiniProgram) {
		return fail(CodeUnsupportedAppKind, fmt.Errorf("app %s is a %s app", t.AppID, t.Kind))
	}
	var info *wechat.PhoneInfo
	err = h.tokens.Do(ctx, t.AppID, func(accessToken string) error {
		var err error
		info, err = h.wx.PhoneNumber(ctx, accessToken, req.PhoneCode)
		return err
	})
	id := t.identity()
	if err != nil {
		return h.refused(r, id.Account, t.Kind, "", wechatError(err))
	}
	if info.WatermarkAppID != "" && info.WatermarkAppID != t.AppID {
		return h.refused(r, id.Account, t.Kind, "", fail(CodeInvalidWeChatCode, fmt.Errorf("phone number issued to app %s", info.WatermarkAppID)))
	}
	phone, err := phoneFromWeChat(info)
	if err != nil {
		return h.refused(r, id.Account, t.Kind, info.PurePhoneNumber, fail(CodeInvalidPhone, err))
	}
	user, err := h.login.BindVerifiedPhone(ctx, id, phone)
	if err != nil {
		return h.refused(r, id.Account, t.Kind, phone.String(), loginError(err))
	}
	h.record(r, audit.KindBind, audit.OK, user.ID, id.Account, t.Kind, phone.String())
	if err := h.advance(ctx, t, nil); err != nil {
		return err
	}
	return h.loggedIn(w, r, user, id, t.Kind)
}

// phoneFromWeChat normalises WeChat's phone number: the country code with
// the national number when both are there, else the number as given.
func phoneFromWeChat(p *wechat.PhoneInfo) (otp.Phone, error) {
	cc := strings.TrimPrefix(strings.TrimSpace(p.CountryCode), "+")
	if cc != "" && p.PurePhoneNumber != "" {
		return otp.ParsePhone("+"+cc+p.PurePhoneNumber, otp.DefaultRegion)
	}
	return otp.ParsePhone(p.PhoneNumber, otp.DefaultRegion)
}

// auditOutcomes are the refusals worth an audit event (the person's
// failures, not malformed requests), with their audit outcome.
var auditOutcomes = map[string]string{
	CodeInvalidWeChatCode:  audit.WeChatError,
	CodeWeChatCodeUsed:     audit.WeChatError,
	CodeWeChatUnavailable:  audit.WeChatError,
	CodeWeChatLoginBlocked: "wechat_blocked",
	CodeInvalidPhone:       "invalid_phone",
	CodeRateLimited:        audit.RateLimited,
	CodeSMSBudgetExhausted: "sms_budget_exhausted",
	CodeSMSFailed:          "sms_failed",
	CodeNoCode:             "no_code",
	CodeWrongCode:          audit.WrongCode,
	CodeCodeExpired:        "code_expired",
	CodeTooManyAttempts:    "too_many_attempts",
	CodeUnknownPhone:       audit.UnknownPhone,
	CodeUserBoundElsewhere: audit.UserBound,
	CodeAlreadyBound:       "already_bound",
	CodeSnapshotUser:       audit.SnapshotUser,
}

// channel is the audit channel of an app kind.
func channel(kind string) string {
	switch wechat.Kind(kind) {
	case wechat.KindMiniProgram:
		return audit.ChannelMiniProgram
	case wechat.KindMobileApp:
		return audit.ChannelMobileApp
	}
	return audit.ChannelAPI
}

// record writes an audit event (failures are logged by audit.Best).
func (h *Handler) record(r *http.Request, kind, outcome, userID string, acct binding.Account, appKind, phone string) {
	_ = h.audit.Record(r.Context(), audit.Event{
		At: h.now(), Kind: kind, Outcome: outcome, UserID: userID, AppID: acct.AppID, OpenID: acct.OpenID,
		UnionID: acct.UnionID, Channel: channel(appKind), ClientIP: h.clientIP(r), Phone: phone,
	})
}

// refused audits a refusal of a person's step, if it is one, and returns err.
func (h *Handler) refused(r *http.Request, acct binding.Account, appKind, phone string, err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		if outcome, ok := auditOutcomes[ae.code]; ok {
			h.record(r, audit.KindRefusal, outcome, "", acct, appKind, phone)
		}
	}
	return err
}
