// Package saml carries out "Configuring User Authentication Using SAML"
// (Cloudera Manager) against a CM server as steps of the steps runner, and
// undoes it.
//
// Configure's steps (NewSteps, or New(deps).Steps()):
//
//   - saml-validate (validate.go): step 13's checks on the answers before
//     anything changes: metadata, keystore, alias, passwords, role script.
//   - saml-settings (settings.go): steps 3-12, settings written through the
//     CM API by display name, the response binding explicitly.
//   - saml-roles (roles.go): the admin and user roles in the server's own
//     model, detected, never configured: external user mappings
//     (SAML_ATTRIBUTE, SAML_SCRIPT) where CM has them (CM 6/7), else the
//     "SAML Attribute Values for ROLE_*" settings (CM 5).
//   - saml-restart (restart.go): step 14, bounded by saml.server_timeout.
//   - saml-idp (idp.go): "Configuring the IDP" as far as a tool can:
//     download /saml/metadata, check its URLs, say what the IdP needs
//     (its administrator gives it the metadata, or the IdP loads it from
//     CM's metadata URL); it never writes to an IdP.
//   - saml-verify (verify.go): "Verifying": the login page redirects to the
//     IdP with a valid signed request; test logins go through the IdP and
//     CM is asked (its users and sessions) how each ended.
//
// What configure replaces is recorded (state.go) for rollback's steps
// (rollback.go): settings and mappings back, restart, the console no
// longer leads to the IdP, the local login works.
//
// Connect (connect.go, consoletls.go) reaches CM: an answers file naming
// the plain console still works once console TLS is on, verified against
// server.api.ca_file or the server's PEM; never without verification.
//
// The steps emit steps.Event through the runner's reporter, never print
// and never prompt. The SP itself is not here, nor flags and output (cmd).
package saml
