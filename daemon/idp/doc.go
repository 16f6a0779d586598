// Package idp is the sandbox's test SAML Identity Provider: crewjam's
// saml.IdentityProvider in-process, with a small user store (passwords, uid
// and ou released as urn:oid attributes with the URI NameFormat, as
// Shibboleth and SimpleSAMLphp's name2oid map do), a login form, SP
// registration from SP metadata, a check of the SP's AuthnRequest
// signature (crewjam's IdP does not check it), IdP-initiated SSO, Single
// Logout both ways over the Redirect binding, and the HTTP-Artifact
// response binding with a SOAP ArtifactResolutionService (published when
// the base URL is https; it answers only ArtifactResolves signed by the
// registered SP).
//
// Registrar returns the hook `cmtls saml configure` calls to register CM's
// SP metadata with this IdP: product code never posts to /register on its
// own; only the sandbox sets the hook.
//
// It is a test and demo peer, not a production IdP: users live in memory
// and the key is generated at start unless one is given. Run serves it from
// a config file (`cmtls daemon idp`, the sandbox's IdP process), keeping
// its key, port and registered SPs across restarts.
//
// What does not belong here: the SP (daemon/samlsp), the sandbox wiring.
package idp
