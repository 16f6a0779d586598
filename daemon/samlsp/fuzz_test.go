package samlsp

import (
	"encoding/base64"
	"net/http"
	"testing"
)

func FuzzParseIdPMetadata(f *testing.F) {
	keys()
	addSampleSeeds(f)
	f.Add(idpMetadata(idpKey.cert))
	f.Add(idpMetadata(idpKey.cert, spKey.cert))
	f.Add([]byte(`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">` + string(idpMetadata(idpKey.cert))[len(`<?xml version="1.0"?>`):] + `</md:EntitiesDescriptor>`))
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

// FuzzACS feeds arbitrary SAMLResponse bytes to the assertion consumer.
// Nothing may panic, and no input that is not a validly signed response
// (the seeds' first use) may create a session.
func FuzzACS(f *testing.F) {
	fx := newFixture(&testing.T{})
	valid := fx.build(fx.spec(), nil)
	s := fx.spec()
	s.Encrypt = true
	enc := fx.build(s, nil)
	f.Add(valid)
	f.Add(enc)
	f.Add([]byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`))
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "x">]><r>&a;</r>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		before := fx.sp.store.sessionCount()
		w := fx.postRaw(base64.StdEncoding.EncodeToString(data), "")
		switch w.Code {
		case http.StatusSeeOther:
			if fx.sp.store.sessionCount() != before+1 {
				t.Fatal("accepted without a session")
			}
		case http.StatusForbidden:
			if fx.sp.store.sessionCount() != before {
				t.Fatal("refused but a session was created")
			}
		default:
			t.Fatalf("status %d", w.Code)
		}
	})
}

func FuzzDecodeRedirect(f *testing.F) {
	keys()
	u, _ := EncodeRedirect("https://x/slo", "SAMLRequest", []byte("<a/>"), "rs", idpKey.key, defaultSigAlg(idpKey.key))
	f.Add(u[len("https://x/slo?"):])
	f.Add("SAMLRequest=%%%")
	f.Add("SAMLRequest=AAAA&SigAlg=x&Signature=y&RelayState=z")
	f.Fuzz(func(t *testing.T, q string) {
		_, _ = decodeRedirect(q, "SAMLRequest", nil, false)
	})
}

func FuzzCheckXML(f *testing.F) {
	f.Add([]byte(`<a xmlns:x="urn:x"><x:b x:c="d"/></a>`))
	f.Add([]byte(`<a><!-- c --></a>`))
	f.Add([]byte(`<?xml version="1.0"?><a/>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := parseXML(data); err == nil {
			if err := checkXML(data); err != nil {
				t.Fatal("parseXML accepted what checkXML refuses")
			}
		}
	})
}
