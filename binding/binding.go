// Package binding is wxcas's identity model: the WeChat app accounts it has
// seen, the binding of a WeChat person to a directory user, and the built-in
// user directory.
//
// A WeChat person is identified by unionid when WeChat reveals it, else by
// (appid, openid). Every app's openid is kept, so a person first met without
// a unionid (an Official Account's snsapi_base login) is still recognised once
// any app has revealed it.
package binding

import (
	"context"
	"errors"
	"time"
)

// Account is one WeChat app account as WeChat reported it.
type Account struct {
	AppID     string
	OpenID    string
	UnionID   string // optional
	Nickname  string
	AvatarURL string
}

// Key returns the identity key of the person behind the account.
func (a Account) Key() string { return identityKey(a.AppID, a.OpenID, a.UnionID) }

func identityKey(appid, openid, unionid string) string {
	if unionid != "" {
		return "u:" + unionid
	}
	return "o:" + appid + ":" + openid
}

// Errors.
var (
	ErrNotFound = errors.New("binding: not found")
	// ErrPersonBound: this WeChat person is already bound to another user.
	ErrPersonBound = errors.New("binding: this WeChat account is already bound to another user")
	// ErrUserBound: the user is already bound to a different WeChat person
	// (and the policy does not allow replacing it).
	ErrUserBound = errors.New("binding: the user is already bound to another WeChat account")
	// ErrInvalidAccount: appid or openid missing.
	ErrInvalidAccount = errors.New("binding: appid and openid are required")
)

// Store records WeChat accounts and their bindings. Implementations must make
// Bind atomic across instances (unique constraints in the database).
type Store interface {
	// Seen records a sighting of acct (first/last seen, nickname, avatar, and
	// the unionid the first time it appears) and returns the user bound to the
	// person, or ErrNotFound when unbound.
	Seen(ctx context.Context, acct Account, now time.Time) (userID string, err error)
	// Bind links the person behind acct to userID. With replace, a previous
	// binding of userID to another person is removed first; without it that
	// case is ErrUserBound. A person already bound to a different user is
	// ErrPersonBound. Binding the same pair again succeeds.
	Bind(ctx context.Context, acct Account, userID string, replace bool, now time.Time) error
	// Unbind removes the person's binding, if any.
	Unbind(ctx context.Context, acct Account) error
	// Accounts lists the app accounts of the person behind acct.
	Accounts(ctx context.Context, acct Account) ([]SeenAccount, error)
}

// SeenAccount is a stored app account.
type SeenAccount struct {
	Account
	FirstSeen time.Time
	LastSeen  time.Time
}

// User is a person in the user directory.
type User struct {
	ID    string // stable directory id; bindings refer to it
	Phone string // E.164
	// Principal is the CAS principal id when it is not ID (e.g. a username
	// an external directory returns); empty means ID.
	Principal string
	// Attributes are extra directory facts (e.g. username, department) an
	// external directory returns; they can be released to CAS services.
	Attributes map[string]string
}

// Directory finds and creates users. The built-in directory is the users
// table; organisations can plug in their own user database instead.
type Directory interface {
	FindByPhone(ctx context.Context, phone string) (User, error) // ErrNotFound
	FindByID(ctx context.Context, id string) (User, error)       // ErrNotFound
	// Create adds a user with phone. When another request created one first,
	// it returns that user: concurrent creates never make two users.
	Create(ctx context.Context, phone string, now time.Time) (User, error)
}
