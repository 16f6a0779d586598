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
