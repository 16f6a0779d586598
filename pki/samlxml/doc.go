// Package samlxml is the SAML 2.0 parsing that both the embedded SP and the
// `cmtls saml` procedure need: XML safety checks run before any parse
// (no DOCTYPE, comments or processing instructions; bounded size, depth and
// node count; the encoding/xml round-trip check), enveloped XML signature
// checks against metadata certificates only, the HTTP-Redirect binding
// (SAML 2.0 Bindings 3.4: deflate with a bounded inflate, signatures over
// the raw query), IdP and SP metadata parsing, and Cloudera Manager's SAML
// settings as CM validates them when they are saved.
//
// It is a leaf: no network, no HTTP server, nothing from daemon/. It reads
// local files only where CM's settings name them (metadata, keystore, role
// script).
package samlxml
