package openid

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"wxcas/cas"
)

// SessionEnded is the CAS server's OnLogout hook: the person logged out
// (/cas/logout, end-session, the REST DELETE), so every grant of the
// session is revoked — refresh tokens stop working at once, access tokens
// at introspection and userinfo — and each client that held one gets an
// OIDC back-channel logout token. A session that merely expires ends
// nothing here: refresh tokens have their own lifetime (offline access is
// what they are for).
func (p *Provider) SessionEnded(ctx context.Context, e cas.EndedSession) {
	grants, err := p.d.Store.RevokeSessionGrants(ctx, e.TGT.Key)
	if err != nil {
		p.d.Log.ErrorContext(ctx, "openid: cannot revoke the grants of an ended session", "err", err)
	}
	told := map[string]bool{}
	for _, g := range grants {
		c := p.clients[g.ClientID]
		if c == nil || c.BackChannelLogoutURI == "" || told[c.ID] {
			continue
		}
		told[c.ID] = true
		p.logout.send(ctx, c, g.Subject, e.TGT.Key)
	}
	if len(grants) > 0 {
		p.d.Log.InfoContext(ctx, "openid: session logged out", "grants", len(grants), "backchannel", len(told))
	}
}

// RevokeSession revokes the grants of an SSO session that is about to be
// logged out (the CAS server's before-logout hook): if it fails, the logout
// fails, and the session with it lives on to be logged out again.
// SessionEnded, after the session is gone, revokes again what was granted
// in between and tells the clients.
func (p *Provider) RevokeSession(ctx context.Context, key string) error {
	_, err := p.d.Store.RevokeSessionGrants(ctx, key)
	return err
}

// backChannel delivers logout tokens in the background, a bounded number
// at a time, each POST bounded by a timeout. Delivery is best effort (the
// spec allows retries; wxcas does not retry): the grants are revoked
// whether or not the client hears of it.
type backChannel struct {
	p       *Provider
	client  *http.Client
	timeout time.Duration
	sem     chan struct{}
	wg      sync.WaitGroup
}

func newBackChannel(p *Provider, base *http.Client, timeout time.Duration) *backChannel {
	c := *base
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &backChannel{p: p, client: &c, timeout: timeout, sem: make(chan struct{}, 16)}
}

func (b *backChannel) wait() { b.wg.Wait() }

func (b *backChannel) send(ctx context.Context, c *client, subject, sid string) {
	key, err := b.p.keys.current(ctx)
	if err != nil {
		b.p.d.Log.ErrorContext(ctx, "openid: no key to sign a logout token", "err", err)
		return
	}
	now := b.p.d.Now()
	claims := oidc.NewLogoutTokenClaims(b.p.issuer, subject, oidc.Audience{c.ID}, now.Add(2*time.Minute), newID(), sid, 0)
	claims.IssuedAt = oidc.FromTime(now)
	token, err := key.sign(claims, "logout+jwt")
	if err != nil {
		b.p.d.Log.ErrorContext(ctx, "openid: cannot sign a logout token", "err", err)
		return
	}
	ctx = context.WithoutCancel(ctx)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.sem <- struct{}{}
		defer func() { <-b.sem }()
		if err := b.post(ctx, c.BackChannelLogoutURI, token); err != nil {
			b.p.d.Log.WarnContext(ctx, "openid: back-channel logout not delivered", "client", c.ID, "err", err)
		}
	}()
}

func (b *backChannel) post(ctx context.Context, to, token string) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, to, strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("answered %d", resp.StatusCode)
	}
	return nil
}
