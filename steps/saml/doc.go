// Package saml carries out the SAML seed against a CM server: "Configuring
// Cloudera Manager" 1-14 (validations of step 13 before anything changes,
// settings written through the CM API by display name, restart),
// "Configuring the IDP" 1-6 as far as a tool can (download /saml/metadata,
// check that every URL in it resolves and answers, say what the IdP needs,
// register with the sandbox's test IdP when it is on loopback) and
// "Verifying" 1-5 (the login page redirects to the IdP with a valid signed
// request; test logins end as admin, regular user or on the not-authorized
// page as the answers file expects).
//
// An answers file naming the plain console still works once console TLS is
// on: ConsoleTLSTarget, ChooseTrust, CheckTrust and FollowConsoleTLS move
// it to https, verified against server.api.ca_file or the server's PEM.
//
// It emits steps.Event like the TLS steps, never prints and never prompts.
// What does not belong here: the SP itself (daemon/samlsp), flags and
// output (cmd).
package saml
