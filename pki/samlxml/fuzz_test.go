package samlxml

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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

func FuzzParseIdPMetadata(f *testing.F) {
	addSampleSeeds(f)
	good, err := os.ReadFile(filepath.Join(samples, "simplesamlphp-idp.xml"))
	if err != nil {
		f.Fatal(err)
	}
	body := string(good)
	if i := strings.Index(body, "?>"); i >= 0 {
		body = body[i+2:]
	}
	f.Add([]byte(`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">` + body + `</md:EntitiesDescriptor>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`))
	f.Add([]byte(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		idp, err := ParseIdPMetadata(data)
		if err != nil {
			return
		}
		if idp.EntityID == "" || len(idp.SigningCerts) == 0 || (idp.SSORedirect == "" && idp.SSOPost == "") {
			t.Fatalf("accepted incomplete metadata: %+v", idp)
		}
	})
}

func FuzzParseSPMetadata(f *testing.F) {
	addSampleSeeds(f)
	f.Add([]byte(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><md:SPSSODescriptor/></md:EntityDescriptor>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sp, err := ParseSPMetadata(data)
		if err == nil && sp.Descriptor == nil {
			t.Fatal("accepted without a descriptor")
		}
	})
}

func FuzzDecodeRedirect(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	u, _ := EncodeRedirect("https://x/slo", "SAMLRequest", []byte("<a/>"), "rs", key, DefaultSigAlg(key))
	f.Add(u[len("https://x/slo?"):])
	f.Add("SAMLRequest=%%%")
	f.Add("SAMLRequest=AAAA&SigAlg=x&Signature=y&RelayState=z")
	f.Fuzz(func(t *testing.T, q string) {
		_, _ = DecodeRedirectMessage(q, "SAMLRequest", nil, false)
	})
}

func FuzzCheckXML(f *testing.F) {
	f.Add([]byte(`<a xmlns:x="urn:x"><x:b x:c="d"/></a>`))
	f.Add([]byte(`<a><!-- c --></a>`))
	f.Add([]byte(`<?xml version="1.0"?><a/>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := Parse(data); err == nil {
			if err := CheckXML(data); err != nil {
				t.Fatal("Parse accepted what CheckXML refuses")
			}
		}
	})
}
