package api_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	gocas "gopkg.in/cas.v2"

	"wxcas/api"
	"wxcas/audit"
	"wxcas/otp"
	"wxcas/store"
	"wxcas/store/storetest"
	"wxcas/wechat/emulator"
)

var (
	bindTokenPattern = regexp.MustCompile(`^BT-[A-Z2-7]{26}\.[A-Z2-7]{26}$`)
	tgtPattern       = regexp.MustCompile(`^TGT-[A-Z2-7]{52}$`)
	stPattern        = regexp.MustCompile(`^ST-[A-Z2-7]{26}$`)
	logoutIndex      = regexp.MustCompile(`<samlp:SessionIndex>(ST-[A-Z2-7]{26})</samlp:SessionIndex>`)
)

// TestMiniProgramAndMobileApp is the main scenario: a new user logs
// in from a mini program, binds by SMS, gets a TGT, turns it into a service
// ticket a CAS client validates; the same person in the mobile app is then
// recognised in one call; logout over REST reaches the application.
func TestMiniProgramAndMobileApp(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, envOpts{})

		// First login from the mini program: binding required.
		first := e.login(mini, e.jsCode("alice"), api.StatusBindingRequired)
		require.Regexp(t, bindTokenPattern, first.BindToken)
		require.Equal(t, []string{api.MethodSMS, api.MethodWeChatPhone}, first.Methods)
		require.Equal(t, e.clock.Now().Add(10*time.Minute).Format(time.RFC3339), first.BindTokenExpiresAt)
		require.Empty(t, first.TGT)

		// Bind by SMS.
		r := e.post("/bind/sms/send", api.SMSSendRequest{BindToken: first.BindToken, Phone: "138 0013 8000"})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
		sent := r.OK
		require.Equal(t, api.StatusCodeSent, sent.Status)
		require.Regexp(t, bindTokenPattern, sent.BindToken)
		require.NotEqual(t, first.BindToken, sent.BindToken, "every step hands out a new token")
		require.Equal(t, 60, *sent.ResendAfterSeconds)
		require.Equal(t, e.clock.Now().Add(5*time.Minute).Format(time.RFC3339), sent.CodeExpiresAt)
		code := e.codes.Outbox.Last(otp.Phone("+8613800138000"))
		require.Regexp(t, `^\d{6}$`, code)

		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		r = e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: sent.BindToken, Code: wrong})
		requireError(t, r, http.StatusBadRequest, api.CodeWrongCode)
		require.Equal(t, 4, *r.Err.AttemptsLeft)

		r = e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: sent.BindToken, Code: code})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
		in := r.OK
		require.Equal(t, api.StatusLoggedIn, in.Status)
		require.Regexp(t, tgtPattern, in.TGT)
		require.Equal(t, e.clock.Now().Add(8*time.Hour).Format(time.RFC3339), in.TGTExpiresAt)
		require.NotEmpty(t, in.UserID)
		u, err := e.dir.FindByPhone(t.Context(), "+8613800138000")
		require.NoError(t, err)
		require.Equal(t, u.ID, in.UserID)

		// The spent tokens are gone for good.
		for _, tok := range []string{first.BindToken, sent.BindToken} {
			r = e.post("/bind/sms/verify", api.SMSVerifyRequest{BindToken: tok, Code: code})
			requireError(t, r, http.StatusBadRequest, api.CodeInvalidBindToken)
		}

		// TGT → ST → validated by a real CAS client (gopkg.in/cas.v2).
		client := e.restClient("/app/home")
		st, err := client.RequestServiceTicket(gocas.TicketGrantingTicket(in.TGT))
		require.NoError(t, err)
		require.Regexp(t, stPattern, string(st))
		auth, err := client.ValidateServiceTicket(st)
		require.NoError(t, err)
		require.Equal(t, in.UserID, auth.User)
		require.Equal(t, "+8613800138000", auth.Attributes.Get("phone"))
		require.Equal(t, "wechat", auth.Attributes.Get("loginChannel"))

		// The same person in the mobile app: recognised by unionid, no binding.
		sms := e.codes.Outbox.Count(otp.Phone("+8613800138000"))
		again := e.login(mobile, e.appCode("alice"), api.StatusLoggedIn)
		require.Equal(t, in.UserID, again.UserID)
		require.NotEqual(t, in.TGT, again.TGT, "a session per device")
		require.Equal(t, sms, e.codes.Outbox.Count(otp.Phone("+8613800138000")), "no SMS")
		st2, err := e.restClient("/app/mobile").RequestServiceTicket(gocas.TicketGrantingTicket(again.TGT))
		require.NoError(t, err)
		auth, err = e.restClient("/app/mobile").ValidateServiceTicket(st2)
		require.NoError(t, err)
		require.Equal(t, in.UserID, auth.User)

		// And the mini program again: one call.
		back := e.login(mini, e.jsCode("alice"), api.StatusLoggedIn)
		require.Equal(t, in.UserID, back.UserID)

		// REST status and logout with single logout to the application.
		status := e.send(http.MethodGet, "/cas/v1/tickets/"+in.TGT, "", nil)
		require.Equal(t, http.StatusOK, status.Status)
		require.NoError(t, client.Logout(gocas.TicketGrantingTicket(in.TGT)))
		e.casSrv.WaitIdle()
		reqs := e.app.requests()
		require.Len(t, reqs, 1, "the validated ST's application is logged out")
		require.Equal(t, "/app/home", reqs[0].Path)
		m := logoutIndex.FindStringSubmatch(reqs[0].Form.Get("logoutRequest"))
		require.NotNil(t, m)
		require.Equal(t, string(st), m[1])
		status = e.send(http.MethodGet, "/cas/v1/tickets/"+in.TGT, "", nil)
		require.Equal(t, http.StatusNotFound, status.Status)
		_, err = client.RequestServiceTicket(gocas.TicketGrantingTicket(in.TGT))
		require.Error(t, err)

		// The mobile app's session is separate and still alive.
		status = e.send(http.MethodGet, "/cas/v1/tickets/"+again.TGT, "", nil)
		require.Equal(t, http.StatusOK, status.Status)

		// Unregistered service at REST; username/password refused.
		r = e.send(http.MethodPost, "/cas/v1/tickets/"+again.TGT, "application/x-www-form-urlencoded", []byte("service=https%3A%2F%2Fevil.example.com%2F"))
		require.Equal(t, http.StatusBadRequest, r.Status)
		require.Contains(t, string(r.Raw), "not registered")
		r = e.send(http.MethodPost, "/cas/v1/tickets", "application/x-www-form-urlencoded", []byte("username=alice&password=x"))
		require.Equal(t, http.StatusBadRequest, r.Status)
		require.Contains(t, string(r.Raw), "not supported")

		// The audit trail: what the browser flow records, by channel.
		events, err := e.audit.List(t.Context(), audit.Filter{UserID: in.UserID})
		require.NoError(t, err)
		var trail []string
		for i := len(events) - 1; i >= 0; i-- {
			ev := events[i]
			trail = append(trail, ev.Kind+"/"+ev.Outcome+"/"+ev.Channel)
			require.Equal(t, "127.0.0.1", ev.ClientIP)
			if ev.Kind == audit.KindBind {
				require.Equal(t, "+86138****8000", ev.Phone)
				require.Equal(t, mini, ev.AppID)
			}
		}
		require.Equal(t, []string{"bind/ok/mini_program", "login/ok/mini_program", "login/ok/mobile_app", "login/ok/mini_program"}, trail)
		all, err := e.audit.List(t.Context(), audit.Filter{})
		require.NoError(t, err)
		refusals := 0
		for _, ev := range all {
			if ev.Kind == audit.KindRefusal {
				refusals++
				require.Equal(t, audit.WrongCode, ev.Outcome)
				require.Equal(t, audit.ChannelMiniProgram, ev.Channel)
				require.Equal(t, "+86138****8000", ev.Phone)
			}
		}
		require.Equal(t, 1, refusals, "the wrong code is on record too")

		require.NotContains(t, e.log.Untimed(), code, "SMS codes stay out of the log")
		for _, tok := range []string{first.BindToken, sent.BindToken} {
			_, secret, _ := strings.Cut(tok, ".")
			require.NotContains(t, e.log.String(), secret, "bind token secrets stay out of the log")
		}
		require.NotContains(t, e.log.String(), in.TGT, "TGTs stay out of the log")
	})
}

// TestWeChatPhoneBinding binds mini program users by the phone number WeChat
// vouches for, with one shared app access token.
func TestWeChatPhoneBinding(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, envOpts{})
		bind := func(person string) api.Response {
			t.Helper()
			start := e.login(mini, e.jsCode(person), api.StatusBindingRequired)
			r := e.post("/bind/wechat-phone", api.WeChatPhoneRequest{BindToken: start.BindToken, PhoneCode: e.phoneCode(person)})
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
			require.Equal(t, api.StatusLoggedIn, r.OK.Status)
			require.Regexp(t, tgtPattern, r.OK.TGT)
			return r.OK
		}

		alice := bind("alice")
		u, err := e.dir.FindByPhone(t.Context(), "+8613800138000")
		require.NoError(t, err)
		require.Equal(t, u.ID, alice.UserID)
		bob := bind("bob")
		carol := bind("carol") // a derived phone number
		p, _ := e.em.Person("carol")
		u, err = e.dir.FindByPhone(t.Context(), "+86"+p.Phone)
		require.NoError(t, err)
		require.Equal(t, u.ID, carol.UserID)
		require.NotEqual(t, alice.UserID, bob.UserID)
		require.Equal(t, 1, e.em.Calls(emulator.PathStableToken), "one app access token serves every bind")
		require.Zero(t, e.codes.Outbox.Count(otp.Phone("+8613800138000")), "no SMS")

		// The same people in the mobile app: recognised.
		require.Equal(t, bob.UserID, e.login(mobile, e.appCode("bob"), api.StatusLoggedIn).UserID)

		// A phone code is single use and bound to its mini program.
		start := e.login(mini, e.jsCode("dave"), api.StatusBindingRequired)
		r := e.post("/bind/wechat-phone", api.WeChatPhoneRequest{BindToken: start.BindToken, PhoneCode: "not-a-code"})
		requireError(t, r, http.StatusBadRequest, api.CodeInvalidWeChatCode)
		code := e.phoneCode("dave")
		r = e.post("/bind/wechat-phone", api.WeChatPhoneRequest{BindToken: start.BindToken, PhoneCode: code})
		require.Equal(t, http.StatusOK, r.Status, "the token survives a failed step: %s", r.Raw)
		start = e.login(mini, e.jsCode("erin"), api.StatusBindingRequired)
		r = e.post("/bind/wechat-phone", api.WeChatPhoneRequest{BindToken: start.BindToken, PhoneCode: code})
		requireError(t, r, http.StatusBadRequest, api.CodeInvalidWeChatCode)

		// WeChat refuses the cached token: refreshed once (forced, since
		// WeChat still hands out the same one), then the call goes through.
		e.em.InjectFault(emulator.PathPhoneNumber, emulator.Fault{ErrCode: 40001})
		r = e.post("/bind/wechat-phone", api.WeChatPhoneRequest{BindToken: start.BindToken, PhoneCode: e.phoneCode("erin")})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
		require.Equal(t, 3, e.em.Calls(emulator.PathStableToken))

		// A mobile app cannot use getPhoneNumber.
		start = e.login(mobile, e.appCode("frank"), api.StatusBindingRequired)
		require.Equal(t, []string{api.MethodSMS}, start.Methods)
		r = e.post("/bind/wechat-phone", api.WeChatPhoneRequest{BindToken: start.BindToken, PhoneCode: "whatever"})
		requireError(t, r, http.StatusBadRequest, api.CodeUnsupportedAppKind)

		// A phone whose user is bound to another WeChat person.
		require.NoError(t, e.em.SetPerson(emulator.Person{Name: "mallory", Phone: "13900139000"}))
		start = e.login(mini, e.jsCode("mallory"), api.StatusBindingRequired)
		r = e.post("/bind/wechat-phone", api.WeChatPhoneRequest{BindToken: start.BindToken, PhoneCode: e.phoneCode("mallory")})
		requireError(t, r, http.StatusConflict, api.CodeUserBoundElsewhere)

		// WeChat down.
		e.em.InjectFault(emulator.PathPhoneNumber, emulator.FaultHTMLBody)
		start = e.login(mini, e.jsCode("grace"), api.StatusBindingRequired)
		r = e.post("/bind/wechat-phone", api.WeChatPhoneRequest{BindToken: start.BindToken, PhoneCode: e.phoneCode("grace")})
		requireError(t, r, http.StatusBadGateway, api.CodeWeChatUnavailable)

		// The shared token never reaches the log.
		var tok string
		require.NoError(t, db.Get(&tok, `SELECT access_token FROM wechat_app_tokens WHERE appid = ?`, mini))
		require.NotEmpty(t, tok)
		require.False(t, strings.Contains(e.log.String(), tok))
	})
}

// TestBindTokenSingleUseUnderRace: of concurrent requests with one bind
// token, exactly one step succeeds, and one SMS goes out.
func TestBindTokenSingleUseUnderRace(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		// The production gap between one login's sends (otptest's is off).
		e := newEnv(t, db, envOpts{otp: func(c *otp.Config) { c.LoginGap = otp.DefaultConfig().LoginGap }})
		const n = 6

		race := func(path string, body func(i int) any) []result {
			results := make([]result, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() { defer wg.Done(); results[i] = e.post(path, body(i)) }()
			}
			wg.Wait()
			return results
		}
		ok := func(rs []result) (int, []string) {
			wins, codes := 0, []string{}
			for _, r := range rs {
				if r.Status == http.StatusOK {
					wins++
				} else {
					codes = append(codes, r.Err.Code)
				}
			}
			return wins, codes
		}

		start := e.login(mini, e.jsCode("alice"), api.StatusBindingRequired)
		// Sends to different phones: one wins, the others are refused (the
		// token is used up, or their SMS limit), never two live successors.
		rs := race("/bind/sms/send", func(i int) any {
			return api.SMSSendRequest{BindToken: start.BindToken, Phone: fmt.Sprintf("1380013800%d", i)}
		})
		wins, codes := ok(rs)
		require.Equal(t, 1, wins, "%v", codes)
		var next string
		var phone otp.Phone
		for i, r := range rs {
			if r.Status == http.StatusOK {
				next, phone = r.OK.BindToken, otp.Phone(fmt.Sprintf("+861380013800%d", i))
			} else {
				require.Contains(t, []string{api.CodeInvalidBindToken, api.CodeRateLimited}, r.Err.Code)
			}
		}
		require.Equal(t, 1, e.codes.Outbox.Total(), "one SMS: the losers sent nothing (an outside probe saw a second)")
		code := e.codes.Outbox.Last(phone)
		rs = race("/bind/sms/verify", func(int) any { return api.SMSVerifyRequest{BindToken: next, Code: code} })
		wins, codes = ok(rs)
		require.Equal(t, 1, wins, "%v", codes)
		var tgts int
		require.NoError(t, db.Get(&tgts, `SELECT COUNT(*) FROM cas_tgt`))
		require.Equal(t, 1, tgts, "one session")
	})
}
