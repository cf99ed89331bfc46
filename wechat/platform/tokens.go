package platform

import (
	"context"
	"errors"

	"wxcas/wechat"
)

// TokenFetcher fetches a platform's component_access_token with the newest
// component_verify_ticket WeChat pushed, for an apptoken.Cache keyed by
// component appid: the cache shares the token through the database, sealed,
// with one refresher across instances, and refreshes it before it expires.
type TokenFetcher struct {
	Client  *wechat.Client
	Tickets Store
}

// StableAccessToken implements apptoken.Fetcher for the component appid.
// forceRefresh has no meaning here: every call issues a new token.
func (f TokenFetcher) StableAccessToken(ctx context.Context, componentAppID string, _ bool) (*wechat.AppToken, error) {
	ticket, _, err := f.Tickets.Ticket(ctx, componentAppID)
	if errors.Is(err, ErrNoTicket) {
		// WeChat's trouble to the login (it has not pushed a ticket yet,
		// or the last one no longer opens), not an internal error.
		return nil, &wechat.Error{Op: "component_verify_ticket", Kind: wechat.ErrTicketInvalid,
			Message: "no ticket received yet: WeChat pushes one every 10 minutes to the platform's event URL"}
	}
	if err != nil {
		return nil, err
	}
	return f.Client.ComponentAccessToken(ctx, componentAppID, ticket)
}
