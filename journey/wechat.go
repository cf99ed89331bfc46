package journey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"wxcas/binding"
	"wxcas/otp"
	"wxcas/wechat"
	"wxcas/wechat/apptoken"
)

// WeChat names the person behind a code and vouches for phone numbers; the
// engine's only door to WeChat, so tests can stand a fake in for it.
type WeChat interface {
	// Identify exchanges a code of the app appID (a QR scan, an Official
	// Account redirect, a mini program's wx.login, a mobile app's Open SDK)
	// and returns the WeChat account, profile included where the scope
	// allows. An openid or unionid a client sends is never trusted: only
	// WeChat's answer to wxcas.
	Identify(ctx context.Context, appID, code string) (binding.Account, error)
	// PhoneNumber exchanges a mini program's getPhoneNumber code for the
	// number WeChat vouches for, issued to appID.
	PhoneNumber(ctx context.Context, appID, phoneCode string) (otp.Phone, error)
}

// Bounds on what WeChat returns, as the database stores it.
const (
	maxID       = 128
	maxNickname = 64 // characters
	maxAvatar   = 1024
)

// WeChatClient is WeChat through the real client (or the sandbox emulator).
type WeChatClient struct {
	Client *wechat.Client
	// Tokens caches app access tokens (for phone numbers); nil: no phone
	// numbers from WeChat.
	Tokens *apptoken.Cache
	// Components caches the third-party platforms' component access
	// tokens, keyed by component appid (for Official Accounts served
	// through a platform); nil: no platforms.
	Components *apptoken.Cache
	Log        *slog.Logger
}

// Identify implements WeChat.
func (w WeChatClient) Identify(ctx context.Context, appID, code string) (binding.Account, error) {
	app, ok := w.Client.App(appID)
	if !ok {
		return binding.Account{}, fail(CodeUnknownApp, fmt.Errorf("appid %q", appID))
	}
	var acct binding.Account
	switch app.Kind {
	case wechat.KindMiniProgram:
		sess, err := w.Client.JSCode2Session(ctx, appID, code)
		if err != nil {
			return binding.Account{}, outcomeOf(err)
		}
		// The session key stays unused: wxcas decrypts nothing for clients.
		acct = binding.Account{AppID: appID, OpenID: sess.OpenID, UnionID: sess.UnionID}
	default:
		tok, err := w.exchange(ctx, app, code)
		if err != nil {
			return binding.Account{}, outcomeOf(err)
		}
		acct = binding.Account{AppID: appID, OpenID: tok.OpenID, UnionID: tok.UnionID}
		if tok.HasScope(wechat.ScopeLogin) || tok.HasScope(wechat.ScopeUserInfo) {
			w.addProfile(ctx, tok, &acct)
		}
	}
	if acct.OpenID == "" || len(acct.OpenID) > maxID || len(acct.UnionID) > maxID {
		return binding.Account{}, fail(CodeWeChatUnavailable, errors.New("WeChat returned an empty or oversized openid or unionid"))
	}
	return acct, nil
}

// exchange exchanges an authorization code with the app's own secret, or,
// for an Official Account served through a platform, with the platform's
// component access token (refreshed once if WeChat refuses it: WeChat
// checks the token before it looks at the code).
func (w WeChatClient) exchange(ctx context.Context, app wechat.App, code string) (*wechat.Token, error) {
	if !app.ViaPlatform() {
		return w.Client.ExchangeCode(ctx, app.AppID, code)
	}
	if w.Components == nil {
		return nil, fail(CodeUnsupportedAppKind, errors.New("no third-party platform tokens configured"))
	}
	var tok *wechat.Token
	err := w.Components.Do(ctx, app.ComponentAppID, func(componentToken string) error {
		var err error
		tok, err = w.Client.ExchangeComponentCode(ctx, app.AppID, code, componentToken)
		return err
	})
	return tok, err
}

// addProfile adds the nickname and avatar (and a unionid the token lacked)
// from /sns/userinfo. Best effort: the login does not need them.
func (w WeChatClient) addProfile(ctx context.Context, tok *wechat.Token, acct *binding.Account) {
	info, err := w.Client.UserInfo(ctx, tok.AccessToken, tok.OpenID, "zh_CN")
	if err != nil {
		if w.Log != nil {
			w.Log.InfoContext(ctx, "wechat user info unavailable; continuing without nickname", "appid", tok.AppID, "err", err)
		}
		return
	}
	acct.Nickname = truncateRunes(strings.ToValidUTF8(info.Nickname, ""), maxNickname)
	if len(info.HeadImgURL) <= maxAvatar {
		acct.AvatarURL = info.HeadImgURL
	}
	if acct.UnionID == "" && info.OpenID == tok.OpenID {
		acct.UnionID = info.UnionID
	}
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// PhoneNumber implements WeChat.
func (w WeChatClient) PhoneNumber(ctx context.Context, appID, phoneCode string) (otp.Phone, error) {
	if w.Tokens == nil {
		return "", fail(CodeUnsupportedAppKind, errors.New("no app access tokens configured"))
	}
	if app, ok := w.Client.App(appID); !ok || app.Kind != wechat.KindMiniProgram {
		// Only mini programs have getPhoneNumber: refuse before fetching
		// an app access token for nothing.
		return "", fail(CodeUnsupportedAppKind, fmt.Errorf("app %s cannot vouch for phone numbers", appID))
	}
	var info *wechat.PhoneInfo
	err := w.Tokens.Do(ctx, appID, func(accessToken string) error {
		var err error
		info, err = w.Client.PhoneNumber(ctx, accessToken, phoneCode)
		return err
	})
	if err != nil {
		return "", outcomeOf(err)
	}
	if info.WatermarkAppID != "" && info.WatermarkAppID != appID {
		return "", fail(CodeInvalidWeChatCode, fmt.Errorf("phone number issued to app %s", info.WatermarkAppID))
	}
	// The country code with the national number when both are there, else
	// the number as given.
	cc := strings.TrimPrefix(strings.TrimSpace(info.CountryCode), "+")
	raw := info.PhoneNumber
	if cc != "" && info.PurePhoneNumber != "" {
		raw = "+" + cc + info.PurePhoneNumber
	}
	phone, err := otp.ParsePhone(raw, otp.DefaultRegion)
	if err != nil {
		return "", fail(CodeInvalidPhone, err)
	}
	return phone, nil
}
