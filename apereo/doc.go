// Package apereo hands a finished WeChat login to an existing Apereo CAS
// (cas.mode: apereo-token): instead of issuing its own ticket, wxcas sends
// the browser to <apereo>/login?service=S&token=JWT, and Apereo's token
// authentication (module cas-server-support-token-webflow) validates the
// token with the secrets of its registered service for S, then creates its
// own TGT and ST.
//
// The token is what Apereo's TokenAuthenticationSecurity and pac4j's
// JwtAuthenticator accept:
//
//   - a JWS (HS256 by default; HS384, HS512) with the claims sub, iat, exp,
//     jti and the released attributes, header {"alg": ...} only;
//   - nested in a JWE when the service has an encryption secret (dir +
//     A192CBC-HS384 by default), header {"alg", "enc", "cty": "JWT"};
//   - secrets as UTF-8 bytes, or base64 with jwt_secrets_are_base64_encoded;
//     key sizes as JOSE requires them (checked by Config.Validate).
//
// pac4j checks only the signature, sub and exp: the token can be replayed
// until it expires, hence token_ttl of at most 60 seconds (default 30).
//
// Design notes:
//
//   - The service must still match the CAS registry (cas.Matcher) and carry
//     the id the login started with; a registered service without secrets
//     is an error at hand-off (ErrNoTokenSecrets): a ticket of wxcas's own
//     would be useless to a site that trusts Apereo, and a bare redirect to
//     Apereo would silently drop the WeChat login. Minter.Supports lets the
//     flow refuse before the user scans.
//   - sub is what the CAS service would receive as <cas:user>
//     (cas.Service.User: the principal id or its principal_attribute).
//   - Only the attributes the CAS service releases go into the token.
//
// Package apereotest is a stub Apereo that validates these tokens the way
// pac4j does, for tests.
package apereo
