// Package cas is wxcas's CAS server role (protocol 1.0, 2.0 and 3.0): after a
// login (the WeChat flow, through the Authenticator seam) it keeps an SSO
// session (TGT + ticket-granting cookie), issues service and proxy tickets to
// registered services, validates them, and sends back-channel single logout.
//
// The package is plain net/http: Server.ServeHTTP answers everything under
// /cas/ (login, logout, validate, serviceValidate, proxyValidate,
// p3/serviceValidate, p3/proxyValidate, proxy, the SAML 1.1 samlValidate)
// and the HTTP layer mounts it as it is.
//
// Design notes:
//
//   - Tickets are the prefix plus crypto/rand base32 (rand.Text): ST-/PT- 130
//     bits (29 characters), TGT-/PGT-/PGTIOU- 260 bits. Sessions and PGTs are
//     stored under the SHA-256 of their id, so a database copy holds no usable
//     credential; STs and PTs (seconds-lived, single use, and the ST is the
//     SessionIndex single logout must send) are stored as they are.
//   - Single use: the first validation attempt that names a ticket deletes it
//     (the DELETE's row count picks the one winner), whatever the outcome.
//   - The ticket-granting cookie is TGT id + "-" + hex HMAC-SHA256 under
//     Deps.CookieKey; a cookie that does not verify, names an unknown session
//     or an expired one means no SSO and is cleared.
//   - Validation for an unregistered service answers UNAUTHORIZED_SERVICE,
//     as Apereo does; the ticket is consumed all the same.
//   - renew=true on an SSO ticket answers INVALID_TICKET (Apereo), not
//     INVALID_TICKET_SPEC.
//   - Single logout is fire-and-forget: POSTs run in the background, bounded
//     by slo_concurrency and slo_timeout; sessions ended by expiry (janitor
//     or a stale cookie) are logged out like explicit logouts.
package cas
