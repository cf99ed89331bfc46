package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"wxcas/journey"
	"wxcas/ratelimit"
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
	StatusCancelled       = "cancelled"
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
	// Altcha is the solution of the challenge a challenge_required or
	// challenge_failed answer carried (the ALTCHA payload, base64).
	Altcha string `json:"altcha,omitempty"`
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

// CancelRequest is POST /bind/cancel.
type CancelRequest struct {
	BindToken string `json:"bind_token"`
}

// Response is every successful answer; Status says which fields are set.
// (logged_in is written by the Finisher, in the same shape.)
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

type appChannel struct {
	channel string
	methods []string
}

// channels: the apps that can log in here, by kind, and how they bind.
var channels = map[wechat.Kind]appChannel{
	wechat.KindMiniProgram: {journey.ChannelMiniProgram, []string{MethodSMS, MethodWeChatPhone}},
	wechat.KindMobileApp:   {journey.ChannelMobileApp, []string{MethodSMS}},
}

// appChannel is how an app logs in here: only mini programs and mobile
// apps use the API (a website's or an Official Account's code comes from a
// browser).
func (h *Handler) appChannel(appID string) (appChannel, error) {
	app, ok := h.apps.App(appID)
	if !ok {
		return appChannel{}, fail(CodeUnknownApp, fmt.Errorf("appid %q", appID))
	}
	ch, ok := channels[app.Kind]
	if !ok {
		return appChannel{}, fail(CodeUnsupportedAppKind, fmt.Errorf("app %s is a %s app", app.AppID, app.Kind))
	}
	return ch, nil
}

// handleLogin starts a journey with the app's WeChat code: a bound person
// is logged in at once, another gets a bind token.
func (h *Handler) handleLogin(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := h.limit(ctx, "login_ip", ratelimit.ClientSubject(h.clientIP(r)), h.cfg.LoginPerIP); err != nil {
		return err
	}
	var req LoginRequest
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if err := required(field{"appid", req.AppID, 64}, field{"code", req.Code, 512}); err != nil {
		return err
	}
	ch, err := h.appChannel(req.AppID)
	if err != nil {
		return err
	}
	tok := newBindToken()
	_, err = h.engine.Start(ctx, journey.Start{
		ID: tok.journeyID, Transport: journey.API, Channel: ch.channel, SecretHash: tok.secretHash(),
		TTL: h.cfg.BindChainMaxAge, StepTTL: h.cfg.BindTokenTTL,
	})
	if err != nil {
		return err
	}
	// The first token has not been shown to anyone yet: it needs no
	// successor.
	from := journey.From{SecretHash: tok.secretHash(), ClientIP: h.clientIP(r)}
	a, err := h.engine.Handle(ctx, tok.journeyID, journey.WeChatCode{AppID: req.AppID, Code: req.Code}, from)
	if err != nil {
		return err
	}
	switch a.Journey.State {
	case journey.Identified:
		return h.finish(w, r, a, tok)
	case journey.PhoneRequested:
		h.log.InfoContext(ctx, "api: WeChat login needs a phone binding", "appid", req.AppID, "journey", logJourney(tok.journeyID))
		writeJSON(w, http.StatusOK, Response{
			Status: StatusBindingRequired, BindToken: tok.String(),
			BindTokenExpiresAt: rfc3339(a.Journey.StepExpiresAt), Methods: ch.methods,
		})
		return nil
	}
	return fmt.Errorf("api: WeChat login left journey %s in state %s", logJourney(tok.journeyID), a.Journey.State)
}

// holder checks a bind token and returns who sends the journey's next
// event: the token's holder, whose secret a successful event replaces with
// next's. perJourney counts the call against the journey's limit (after the
// check, so a forged journey id counts nothing).
func (h *Handler) holder(r *http.Request, raw string, perJourney bool) (next bindToken, from journey.From, err error) {
	ctx := r.Context()
	tok, ok := parseBindToken(raw)
	if !ok {
		return bindToken{}, journey.From{}, fail(CodeInvalidBindToken, errors.New("malformed bind token"))
	}
	from = journey.From{SecretHash: tok.secretHash(), ClientIP: h.clientIP(r)}
	if _, err := h.engine.Load(ctx, tok.journeyID, from); err != nil {
		return bindToken{}, journey.From{}, err
	}
	if perJourney {
		if err := h.limit(ctx, "bind_journey", tok.journeyID, h.cfg.BindPerToken); err != nil {
			return bindToken{}, journey.From{}, err
		}
	}
	next = tok.next()
	from.NextSecretHash, from.NextStepTTL = next.secretHash(), h.cfg.BindTokenTTL
	return next, from, nil
}

// bindStep counts a /bind/* call against the per-IP limit and decodes its
// request.
func (h *Handler) bindStep(w http.ResponseWriter, r *http.Request, req any) error {
	if err := h.limit(r.Context(), "bind_ip", ratelimit.ClientSubject(h.clientIP(r)), h.cfg.BindPerIP); err != nil {
		return err
	}
	return h.decode(w, r, req)
}

// handleSMSSend sends a binding code to a phone (again, or to another one).
func (h *Handler) handleSMSSend(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req SMSSendRequest
	if err := h.bindStep(w, r, &req); err != nil {
		return err
	}
	if err := required(field{"bind_token", req.BindToken, 64}, field{"phone", req.Phone, 64}); err != nil {
		return err
	}
	next, from, err := h.holder(r, req.BindToken, true)
	if err != nil {
		return err
	}
	a, err := h.engine.Handle(ctx, next.journeyID, journey.PhoneEntered{Number: req.Phone, Solution: req.Altcha}, from)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, Response{
		Status: StatusCodeSent, BindToken: next.String(), BindTokenExpiresAt: rfc3339(a.Journey.StepExpiresAt),
		CodeExpiresAt: rfc3339(a.Sent.ExpiresAt), ResendAfterSeconds: resendAfter(a.Sent.ResendAfter),
	})
	return nil
}

// resendAfter is a code_sent's wait before another code, in whole seconds
// (0: at once).
func resendAfter(d time.Duration) *int {
	s := 0
	if d > 0 {
		s = seconds(d)
	}
	return &s
}

// handleSMSVerify checks the code, binds and logs in.
func (h *Handler) handleSMSVerify(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req SMSVerifyRequest
	if err := h.bindStep(w, r, &req); err != nil {
		return err
	}
	if err := required(field{"bind_token", req.BindToken, 64}); err != nil {
		return err
	}
	// An empty code is the person's typo, not a client bug: the journey
	// answers malformed_code without using an attempt.
	if req.Code != "" {
		if err := required(field{"code", req.Code, 16}); err != nil {
			return err
		}
	}
	next, from, err := h.holder(r, req.BindToken, true)
	if err != nil {
		return err
	}
	a, err := h.engine.Handle(ctx, next.journeyID, journey.CodeEntered{Code: req.Code}, from)
	if je := journey.AsError(err); je != nil && je.Code == journey.CodeWrongStep {
		// The code this verify meant is gone: used by a concurrent verify
		// of the same token, or never sent in this journey.
		return &apiError{code: CodeNoCode, cause: err}
	}
	if err != nil {
		return err
	}
	return h.finish(w, r, a, next)
}

// handleWeChatPhone binds the phone number WeChat vouches for (mini
// programs) and logs in.
func (h *Handler) handleWeChatPhone(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req WeChatPhoneRequest
	if err := h.bindStep(w, r, &req); err != nil {
		return err
	}
	if err := required(field{"bind_token", req.BindToken, 64}, field{"phone_code", req.PhoneCode, 512}); err != nil {
		return err
	}
	next, from, err := h.holder(r, req.BindToken, true)
	if err != nil {
		return err
	}
	a, err := h.engine.Handle(ctx, next.journeyID, journey.WeChatPhone{PhoneCode: req.PhoneCode}, from)
	if err != nil {
		return err
	}
	return h.finish(w, r, a, next)
}

// handleCancel ends a binding the person gave up. It does not count against
// the journey's limit: a client that used it up can still say goodbye.
func (h *Handler) handleCancel(w http.ResponseWriter, r *http.Request) error {
	var req CancelRequest
	if err := h.bindStep(w, r, &req); err != nil {
		return err
	}
	if err := required(field{"bind_token", req.BindToken, 64}); err != nil {
		return err
	}
	next, from, err := h.holder(r, req.BindToken, false)
	if err != nil {
		return err
	}
	if _, err := h.engine.Handle(r.Context(), next.journeyID, journey.Cancel{}, from); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, Response{Status: StatusCancelled})
	return nil
}

// finish ends a journey that named its person (Identified or Bound) and
// has the Finisher answer logged_in. cur is the journey's current token,
// which no client holds any more (or ever did): after a login there is
// nothing left to use a bind token for.
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, a journey.Answer, cur bindToken) error {
	ctx := r.Context()
	from := journey.From{SecretHash: cur.secretHash(), ClientIP: h.clientIP(r)}
	done, err := h.engine.Handle(ctx, cur.journeyID, journey.Finish{Person: a.Person}, from)
	if err != nil {
		return err
	}
	rw := &writeWatcher{ResponseWriter: w}
	if err := h.finisher.Finish(rw, r, done.Journey, done.Person); err != nil {
		if !rw.wrote {
			return err
		}
		// The answer is on its way: nothing better to tell the client.
		h.log.ErrorContext(ctx, "api: answering the login failed", "journey", logJourney(cur.journeyID), "err", err)
		return nil
	}
	h.log.InfoContext(ctx, "api: logged in", "user", done.Person.User.ID, "appid", done.Journey.AppID, "journey", logJourney(cur.journeyID))
	return nil
}

// logJourney is the journey id as logs show it: its first 8 characters, as
// the web layer logs them, so one journey reads the same in both. The whole
// id is the first half of a bind token, which a log has no need to hold.
func logJourney(id string) string { return id[:min(8, len(id))] }

// writeWatcher tells whether a Finisher that failed wrote an answer.
type writeWatcher struct {
	http.ResponseWriter
	wrote bool
}

func (w *writeWatcher) WriteHeader(status int) { w.wrote = true; w.ResponseWriter.WriteHeader(status) }
func (w *writeWatcher) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *writeWatcher) Unwrap() http.ResponseWriter { return w.ResponseWriter }
