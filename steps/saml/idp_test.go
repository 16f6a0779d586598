package saml

import (
	"strings"
	"testing"

	"github.com/cmtls/cmtls/steps/answers"
)

// With HTTP-Artifact, CM's metadata lists the artifact ACS (the default)
// and a POST one at the same URL: the IdP administrator is told each
// endpoint's own binding, and each logout location once with its bindings.
func TestForIdPBindingPerEndpoint(t *testing.T) {
	t.Parallel()
	const md = `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="clouderaManager">
<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://cm.example:7183/saml/SingleLogout"/>
<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://cm.example:7183/saml/SingleLogout"/>
<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://cm.example:7183/saml/SSO" index="0" isDefault="true"/>
<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://cm.example:7183/saml/SSO" index="1"/>
</md:SPSSODescriptor></md:EntityDescriptor>`
	sp, err := parseSPMetadata([]byte(md))
	if err != nil {
		t.Fatal(err)
	}
	f := &answers.File{SAML: &answers.SAML{ResponseBinding: "HTTP-Artifact", Keystore: &answers.SAMLKeystore{},
		Role: &answers.Role{From: "attribute", AdminValues: []string{"a"}, UserValues: []string{"u"}}}}
	got := strings.Join(forIdP(f, sp, "/tmp/md.xml", "https://cm.example:7183/saml/metadata"), "\n")
	for _, want := range []string{
		"assertion consumer service (HTTP-Artifact): https://cm.example:7183/saml/SSO\n",
		"assertion consumer service (HTTP-POST): https://cm.example:7183/saml/SSO\n",
		"single logout service (HTTP-Redirect, HTTP-POST): https://cm.example:7183/saml/SingleLogout\n",
		"CM's metadata URL: https://cm.example:7183/saml/metadata\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "(HTTP-POST): https://cm.example:7183/saml/SSO"); n != 1 {
		t.Errorf("%d ACS lines say HTTP-POST, want 1:\n%s", n, got)
	}
	if n := strings.Count(got, "single logout service"); n != 1 {
		t.Errorf("%d logout lines, want 1:\n%s", n, got)
	}
}
