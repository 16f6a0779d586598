package samlsp

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const samples = "../../testdata/saml"

func TestParseIdPMetadataSamples(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file     string
		entity   string
		certs    int
		redirect bool
		post     bool
		slo      bool
		err      string
	}{
		{file: "simplesamlphp-idp.xml", entity: "/saml2/idp/metadata.php", certs: 1, redirect: true, slo: true},
		{file: "rollover-default-ns.xml", entity: "https://sts.example.test/tenant/", certs: 2, redirect: true, post: true, slo: true},
		{file: "entities-one-idp.xml", entity: "https://idp.example.test/idp/shibboleth", certs: 1, post: true},
		{file: "bad-no-signing-cert.xml", err: "no signing certificate"},
		{file: "bad-no-sso.xml", err: "no SingleSignOnService"},
		{file: "bad-doctype.xml", err: "DOCTYPE"},
		{file: "bad-two-idps.xml", err: "2 IdPs"},
		{file: "bad-cert.xml", err: "signing certificate"},
		{file: "bad-sso-scheme.xml", err: "scheme"},
		{file: "bad-sp-metadata.xml", err: "not IdP metadata"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(filepath.Join(samples, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			idp, err := ParseIdPMetadata(b)
			if tc.err != "" {
				var me *MetadataError
				if !errors.As(err, &me) || !strings.Contains(err.Error(), tc.err) || !me.BadInput() || me.Hint() == "" {
					t.Fatalf("got %v, want a MetadataError with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(idp.EntityID, tc.entity) || len(idp.SigningCerts) != tc.certs ||
				(idp.SSORedirect != "") != tc.redirect || (idp.SSOPost != "") != tc.post || (idp.SLORedirect.Location != "") != tc.slo {
				t.Fatalf("%+v", idp)
			}
		})
	}
}

// Every sample seeds the metadata fuzz target too.
func addSampleSeeds(f *testing.F) {
	ents, _ := os.ReadDir(samples)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".xml") {
			if b, err := os.ReadFile(filepath.Join(samples, e.Name())); err == nil {
				f.Add(b)
			}
		}
	}
}
