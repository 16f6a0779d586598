// Package cmserver is the embedded stand-in for the Cloudera Manager
// server: the Admin Console on 7180 (redirecting to 7183 once console TLS
// is on), the HTTPS console on 7183, the agent heartbeat port 7182 (plain
// until AGENT_TLS, then TLS with the keystore's key and chain), the REST
// API subset cmtls uses, and host health from heartbeats.
//
// It imitates one Cloudera Manager release (Profile): 7.5.3 serves API
// v45 as CM's own definition has it (asynchronous commands, PUT
// /cm/config answering 204, SAML roles by /externalUserMappings, users and
// sessions); 5.13.0 serves API v18 with CM 5's "SAML Attribute Values for
// ROLE_*" settings. Every API version from v1 up to the profile's answers.
//
// Settings persist in a small JSON file (CM keeps them in its database) and
// take effect on the next start, as in CM. A start with TLS on and an
// unusable keystore is refused with the log lines CM writes.
//
// The SAML service provider is not here: it is injected through
// Config.SAML so that this package stays free of SAML code.
//
// Shape: New(cfg), Serve(Listeners), Shutdown(ctx); no globals, no env.
// Run wraps them for `cmtls daemon server run` (config file, state file
// with the bound ports, pid file).
package cmserver
