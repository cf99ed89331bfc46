package platform_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/journey"
	"wxcas/store"
	"wxcas/store/storetest"
	"wxcas/wechat"
	"wxcas/wechat/apptoken"
	"wxcas/wechat/emulator"
	"wxcas/wechat/platform"
)

const (
	tokComponent = "wxc0mponent000001"
	tokOA        = "wxa1b2c3d4e5f6aa01"
	tokToken     = "sharedtoken"
	tokAESKey    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

// instance is one wxcas instance's view of a platform: its own database
// handle, event receiver and component token cache.
type instance struct {
	cache  *apptoken.Cache
	events http.Handler
}

// TestComponentTokenSharedByInstances: two instances on one database (MySQL
// under CI, and SQLite) fetch the component_access_token once per expiry
// between them, with the ticket WeChat pushed to either one; a code of the
// platform-served Official Account is exchanged with it.
func TestComponentTokenSharedByInstances(t *testing.T) {
	for _, backend := range []string{"mysql", "sqlite"} {
		t.Run(backend, func(t *testing.T) {
			clock := storetest.NewClock()
			dbA, dbB := storetest.TwoHandles(t, backend)
			// WeChat pushes to the event URL behind a load balancer, which
			// hands each push to the next instance.
			var instances []*instance
			var turn atomic.Int64
			lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				instances[int(turn.Add(1))%len(instances)].events.ServeHTTP(w, r)
			}))
			t.Cleanup(lb.Close)
			em, err := emulator.New(emulator.Options{Now: clock.Now,
				Apps: []emulator.App{{AppID: tokOA, Kind: emulator.KindOfficialAccount, ComponentAppID: tokComponent}},
				Platforms: []emulator.Platform{{ComponentAppID: tokComponent, Secret: "component-secret", Token: tokToken,
					EncodingAESKey: tokAESKey, EventURL: lb.URL, Authorizers: []string{tokOA}}},
			})
			require.NoError(t, err)
			emSrv := httptest.NewServer(em)
			t.Cleanup(emSrv.Close)
			client, err := wechat.New(wechat.Config{OpenBaseURL: emSrv.URL, APIBaseURL: emSrv.URL, Now: clock.Now,
				Apps:      []wechat.App{{AppID: tokOA, Kind: wechat.KindOfficialAccount, ComponentAppID: tokComponent}},
				Platforms: []wechat.Platform{{ComponentAppID: tokComponent, Secret: "component-secret"}},
			})
			require.NoError(t, err)
			sealKey := []byte("0123456789abcdef0123456789abcdef")
			newInstance := func(db *store.DB) *instance {
				tickets, err := platform.NewSQLStore(db, sealKey, clock.Now)
				require.NoError(t, err)
				crypter, err := platform.NewCrypter(tokToken, tokAESKey, tokComponent)
				require.NoError(t, err)
				rcv, err := platform.NewReceiver(platform.ReceiverOptions{ComponentAppID: tokComponent, Crypter: crypter, Store: tickets, Now: clock.Now})
				require.NoError(t, err)
				cache, err := apptoken.New(db, platform.TokenFetcher{Client: client, Tickets: tickets},
					apptoken.Options{Key: sealKey, Now: clock.Now, Poll: 10 * time.Millisecond})
				require.NoError(t, err)
				return &instance{cache: cache, events: rcv}
			}
			a, b := newInstance(dbA), newInstance(dbB)
			instances = []*instance{a, b}
			ctx := context.Background()

			_, err = a.cache.Token(ctx, tokComponent)
			var we *wechat.Error
			require.ErrorAs(t, err, &we, "no ticket pushed yet")
			require.ErrorIs(t, err, wechat.ErrTicketInvalid)
			require.Zero(t, em.Calls(emulator.PathComponentToken), "nothing to ask WeChat with")

			// WeChat pushes the ticket to one instance; both use it.
			require.NoError(t, em.PushTicket(ctx, tokComponent))

			tokens := fetchAll(t, []*apptoken.Cache{a.cache, b.cache}, 16)
			require.Len(t, tokens, 1, "every caller got the same token")
			require.Equal(t, 1, em.Calls(emulator.PathComponentToken), "one fetch for both instances")

			// An hour and a half later: still the same token.
			clock.Advance(90 * time.Minute)
			require.Equal(t, tokens, fetchAll(t, []*apptoken.Cache{a.cache, b.cache}, 8))
			require.Equal(t, 1, em.Calls(emulator.PathComponentToken))

			// Within five minutes of its expiry: one refresh for everyone.
			// WeChat pushed newer tickets meanwhile (every 10 minutes).
			require.NoError(t, em.PushTicket(ctx, tokComponent)) // to the other instance
			clock.Advance(27 * time.Minute)
			// (Callers during the refresh keep the old token, still valid
			// for three minutes.)
			fetchAll(t, []*apptoken.Cache{a.cache, b.cache}, 16)
			require.Equal(t, 2, em.Calls(emulator.PathComponentToken), "one refresh for both instances")
			fresh := fetchAll(t, []*apptoken.Cache{a.cache, b.cache}, 8)
			require.Len(t, fresh, 1)
			require.NotEqual(t, tokens, fresh, "refreshed before it expired")

			// The token exchanges the Official Account's code on the
			// platform's behalf.
			code, err := em.IssueCode(tokOA, "tina", "snsapi_base")
			require.NoError(t, err)
			var tok *wechat.Token
			require.NoError(t, b.cache.Do(ctx, tokComponent, func(ct string) error {
				tok, err = client.ExchangeComponentCode(ctx, tokOA, code, ct)
				return err
			}))
			require.Equal(t, em.OpenID(tokOA, "tina"), tok.OpenID)
		})
	}
}

// fetchAll asks the caches for the token from n goroutines at once and
// returns the distinct tokens seen.
func fetchAll(t *testing.T, caches []*apptoken.Cache, n int) map[string]bool {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]bool{}
	errs := storetest.Race(n, func(i int) error {
		tok, err := caches[i%len(caches)].Token(context.Background(), tokComponent)
		mu.Lock()
		seen[tok] = true
		mu.Unlock()
		return err
	})
	for _, err := range errs {
		require.NoError(t, err)
	}
	return seen
}

// TestComponentExchangeRecovers: a code exchange that WeChat refuses for
// the component token (superseded elsewhere) refreshes the token once and
// exchanges the code, which WeChat did not consume; an account that
// withdrew from the platform is its own outcome.
func TestComponentExchangeRecovers(t *testing.T) {
	clock := storetest.NewClock()
	db := storetest.SQLite(t)
	tickets, err := platform.NewSQLStore(db, []byte("0123456789abcdef0123456789abcdef"), clock.Now)
	require.NoError(t, err)
	em, err := emulator.New(emulator.Options{Now: clock.Now,
		Apps: []emulator.App{{AppID: tokOA, Kind: emulator.KindOfficialAccount, ComponentAppID: tokComponent}},
		Platforms: []emulator.Platform{{ComponentAppID: tokComponent, Secret: "component-secret", Token: tokToken,
			EncodingAESKey: tokAESKey, Authorizers: []string{tokOA}}},
	})
	require.NoError(t, err)
	emSrv := httptest.NewServer(em)
	t.Cleanup(emSrv.Close)
	client, err := wechat.New(wechat.Config{OpenBaseURL: emSrv.URL, APIBaseURL: emSrv.URL, Now: clock.Now,
		Apps:      []wechat.App{{AppID: tokOA, Kind: wechat.KindOfficialAccount, ComponentAppID: tokComponent}},
		Platforms: []wechat.Platform{{ComponentAppID: tokComponent, Secret: "component-secret"}},
	})
	require.NoError(t, err)
	require.NoError(t, em.PushTicket(context.Background(), tokComponent)) // no event URL: remembered only
	_, err = tickets.SaveTicket(context.Background(), tokComponent, em.Ticket(tokComponent), clock.Now())
	require.NoError(t, err)
	cache, err := apptoken.New(db, platform.TokenFetcher{Client: client, Tickets: tickets}, apptoken.Options{Key: make([]byte, 32), Now: clock.Now})
	require.NoError(t, err)
	wx := journey.WeChatClient{Client: client, Components: cache}
	ctx := context.Background()

	code, err := em.IssueCode(tokOA, "uma", "snsapi_base")
	require.NoError(t, err)
	em.InjectFault(emulator.PathComponentAccessToken, emulator.Fault{ErrCode: 40001})
	acct, err := wx.Identify(ctx, tokOA, code)
	require.NoError(t, err)
	require.Equal(t, em.OpenID(tokOA, "uma"), acct.OpenID)
	require.Equal(t, 2, em.Calls(emulator.PathComponentToken), "refreshed once")

	code, err = em.IssueCode(tokOA, "uma", "snsapi_base")
	require.NoError(t, err)
	require.NoError(t, em.Unauthorize(ctx, tokComponent, tokOA)) // withdrawn between the authorization and the exchange
	_, err = wx.Identify(ctx, tokOA, code)
	oe := journey.AsError(err)
	require.NotNil(t, oe, "%v", err)
	require.Equal(t, journey.CodeAccountUnauthorized, oe.Code)
}
