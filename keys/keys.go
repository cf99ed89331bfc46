// Package keys derives wxcas's purpose-specific keys (cookie signing, OTP
// HMAC, state HMAC, ...) from the one master secret in config, so operators
// manage a single secret and a leak of one derived key reveals no other.
package keys

import (
	"crypto/hkdf"
	"crypto/sha256"
)

// Purposes in use. A new purpose gets a new label; never reuse one.
const (
	SessionAuth   = "wxcas/session/auth/v1"
	SessionCrypt  = "wxcas/session/crypt/v1"
	OTP           = "wxcas/otp/hmac/v1"
	FlowState     = "wxcas/flow/state/v1"
	TicketCookie  = "wxcas/cas/tgc/v1"
	AppToken      = "wxcas/wechat/apptoken/v1"
	PlatformSeal  = "wxcas/wechat/platform/seal/v1"
	PlatformToken = "wxcas/wechat/platform/token/v1"
	OIDCKeySeal   = "wxcas/oidc/signing-key-seal/v1"
	OIDCCrypto    = "wxcas/oidc/crypto/v1"
	OIDCLogout    = "wxcas/oidc/logout/v1"
	GateAuth      = "wxcas/gate/auth/v1" // the account page's and admin console's cookies (web.CASGate)
	GateCrypt     = "wxcas/gate/crypt/v1"
	Challenge     = "wxcas/challenge/hmac/v1"
	SandboxSecret = "sandbox_secret_key" // wxcas_meta name of the generated sandbox master key
)

// Derive returns a 32-byte key for purpose from the master secret.
func Derive(master []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, master, nil, purpose, 32)
	if err != nil {
		panic("keys: hkdf cannot fail for 32-byte output: " + err.Error())
	}
	return k
}
