// Package idp is the sandbox's test SAML Identity Provider: crewjam's
// saml.IdentityProvider in-process, with a small user store (passwords, uid
// and ou released as urn:oid attributes with the URI NameFormat, as
// Shibboleth and SimpleSAMLphp's name2oid map do), a login form, SP
// metadata loaded from a configured URL (fetch.go), a check of the SP's
// AuthnRequest signature (crewjam's IdP does not check it), IdP-initiated
// SSO, Single Logout both ways over the Redirect binding, and the
// HTTP-Artifact response binding with a SOAP ArtifactResolutionService
// (published when the base URL is https; it answers only ArtifactResolves
// signed by a trusted SP).
//
// The IdP loads an SP's metadata by itself, from the metadata URL in its
// configuration, when a request comes from an issuer it does not know (or
// whose known keys no longer verify it), as Shibboleth IdP's
// FileBackedHTTPMetadataProvider and SimpleSAMLphp's metarefresh do. It
// trusts what it fetched only when the entityID is the issuer's, and never
// fetches a URL a request names. Nothing posts metadata to it.
//
// It is a test and demo peer, not a production IdP: users live in memory
// and the key is generated at start unless one is given. Run serves it from
// a config file (`cmtls daemon idp`, the sandbox's IdP process), keeping
// its key, port and loaded SP metadata across restarts.
//
// What does not belong here: the SP (daemon/samlsp), the sandbox wiring.
package idp
