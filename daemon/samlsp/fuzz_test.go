package samlsp

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

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
		if loc := w.Header().Get("Location"); w.Code == http.StatusSeeOther && strings.HasPrefix(loc, PathContinue+"?") {
			if fx.sp.store.sessionCount() != before {
				t.Fatal("a session was created before the hand-over completed")
			}
			w = fx.get(loc)
		}
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

func FuzzParseArtifact(f *testing.F) {
	f.Add("AAQAAGJ0ZWZvcmV0aGVzb3VyY2VpZGlzaGVyZW1lc3NhZ2VoYW5kbGVoZXJlISE=")
	f.Add("AAEAAA==")
	f.Fuzz(func(t *testing.T, s string) {
		if _, src, err := parseArtifact(s); err == nil && len(src) != 20 {
			t.Fatalf("SourceID of %d bytes", len(src))
		}
	})
}

// FuzzArtifactResponse feeds arbitrary SOAP answers to the back-channel
// reader: nothing panics, and nothing without one Response that answers
// our request is returned.
func FuzzArtifactResponse(f *testing.F) {
	fx := newFixture(&testing.T{})
	f.Add([]byte(`<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/"><soap-env:Body>` +
		`<samlp:ArtifactResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a" InResponseTo="_req" Version="2.0" IssueInstant="` + ts(fx.now) + `">` +
		`<saml:Issuer>` + testIdPEntity + `</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
		string(fx.build(fx.spec(), nil)[len(`<?xml version="1.0" encoding="UTF-8"?>`):]) +
		`</samlp:ArtifactResponse></soap-env:Body></soap-env:Envelope>`))
	f.Add([]byte(`<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/"><soap-env:Body><soap-env:Fault/></soap-env:Body></soap-env:Envelope>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := fx.sp.readArtifactResponse(data, "_req", fx.now)
		if err == nil && !strings.Contains(string(out), "Response") {
			t.Fatalf("returned %q", out)
		}
	})
}
