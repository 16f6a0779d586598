// Package browser drives SAML logins the way a browser does: it keeps
// cookies, follows redirects, meta refreshes and auto-submitting
// HTTP-POST binding forms, and fills login forms. The "Verifying" stage of
// `cmtls saml configure` logs in with it, and so do the SP and IdP tests.
//
// HTML is read with small regular expressions that cover the IdPs we test
// against (this module, crewjam, SimpleSAMLphp); it is not a general HTML
// parser, and nothing here serves SAML.
package browser
