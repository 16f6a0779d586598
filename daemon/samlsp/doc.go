// Package samlsp is the SAML 2.0 Service Provider of the embedded Cloudera
// Manager server: an http.Handler that serves /saml/metadata, starts
// SP-initiated login with a signed AuthnRequest (HTTP-Redirect binding),
// consumes assertions (HTTP-POST), accepts IdP-initiated login, runs Single
// Logout both ways and keeps revocable server-side sessions.
//
// It uses crewjam/saml only for its XML types and XML encryption, and
// goxmldsig for signature checking. The response validation pipeline is our
// own, because crewjam's leaves gaps (no replay cache, several assertions
// tolerated, missing audience/recipient accepted, SHA-1 accepted, no
// incoming LogoutRequest, Redirect-binding signatures only embedded). Every
// check is in validate.go and each refusal is covered by a hostile-input
// test.
//
// Endpoints follow Spring Security SAML, which Cloudera Manager uses:
//
//	/saml/metadata       SP metadata (entity ID and base URL as configured)
//	/saml/login          start SP-initiated login (?return=/local/path)
//	/saml/SSO            assertion consumer service (HTTP-POST; HTTP-Artifact
//	                     SAMLart by GET or POST when so configured)
//	/saml/continue       second half of a login whose POST showed no cookies,
//	                     and the confirmation to replace another user's session
//	/saml/logout         GET asks; POST with the CSRF token ends the local
//	                     session and sends a LogoutRequest
//	/saml/SingleLogout   IdP LogoutRequest and LogoutResponse (Redirect+POST)
//	/                    home page with user and role (login redirect otherwise)
//
// Login state lives on the server under the RelayState token; a tracking
// cookie (issued and MACed by the server, SameSite=None; Secure over HTTPS,
// Lax over HTTP) binds it to the browser. A cross-site POST that carries no
// cookie is completed by the browser's GET to /saml/continue, where Lax
// cookies come along. A login started on another host name than the entity
// base URL's is first redirected there. An unsolicited response (IdP-
// initiated SSO) never replaces another user's live session without the
// user's confirmation, and a new login ends the browser's previous session.
//
// Encrypted assertions: AES-128/192/256-GCM and AES-CBC data, RSA-OAEP key
// transport (both identifiers); RSA 1.5 only with Config.AllowRSA15.
//
// crewjam's package-level clock-skew globals (saml.MaxClockSkew,
// saml.MaxIssueDelay) are not used by this package: skew and message age are
// per-SP settings in Config. Only the in-process test IdP (daemon/idp) relies
// on crewjam's defaults.
//
// The XML safety checks, signature checks, Redirect binding and metadata
// parsing it shares with `cmtls saml configure` are in pki/samlxml; the
// browser client that drives logins (the procedure's "Verifying" stage and
// these tests) is remote/browser.
//
// What does not belong here: CM settings storage, the CM web UI, TLS.
package samlsp
