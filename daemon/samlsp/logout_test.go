package samlsp

import (
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/cmtls/cmtls/pki/samlxml"
)

type logoutSpec struct {
	Kind         string // LogoutRequest or LogoutResponse
	ID           string
	Issuer       string
	Destination  string
	NameID       string
	InResponseTo string
	IssueInstant time.Time
}

func (f *fixture) logoutSpec(kind string) logoutSpec {
	return logoutSpec{Kind: kind, ID: "_l" + randomHex(), Issuer: testIdPEntity, Destination: testSLO, NameID: "alice", IssueInstant: f.now}
}

func logoutXML(t *testing.T, s logoutSpec) *etree.Element {
	el := etree.NewElement("samlp:" + s.Kind)
	el.CreateAttr("xmlns:samlp", nsProtocol)
	el.CreateAttr("xmlns:saml", nsAssertion)
	el.CreateAttr("ID", s.ID)
	el.CreateAttr("Version", "2.0")
	el.CreateAttr("IssueInstant", ts(s.IssueInstant))
	if s.Destination != "" {
		el.CreateAttr("Destination", s.Destination)
	}
	if s.InResponseTo != "" {
		el.CreateAttr("InResponseTo", s.InResponseTo)
	}
	if s.Issuer != "" {
		el.CreateElement("saml:Issuer").SetText(s.Issuer)
	}
	if s.Kind == "LogoutRequest" {
		el.CreateElement("saml:NameID").SetText(s.NameID)
	} else {
		el.CreateElement("samlp:Status").CreateElement("samlp:StatusCode").CreateAttr("Value", statusSuccess)
	}
	return el
}

// redirectTo builds the IdP's Redirect-binding URL to our SLO endpoint.
func redirectTo(t *testing.T, param string, el *etree.Element, relay string, signer *testKey, alg string) string {
	t.Helper()
	var u string
	var err error
	if signer == nil {
		u, err = samlxml.EncodeRedirect(testSLO, param, xmlOf(t, el), relay, nil, "")
	} else {
		u, err = samlxml.EncodeRedirect(testSLO, param, xmlOf(t, el), relay, signer.key, alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u, testBaseURL)
}

// login creates a session for alice.
func (f *fixture) login() *http.Cookie {
	f.t.Helper()
	return f.accepted(f.post(f.build(f.spec(), nil), ""))
}

func TestSPInitiatedLogout(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.login()
	w := f.logout(c)
	if w.Code != http.StatusFound {
		t.Fatalf("logout: %d", w.Code)
	}
	if f.sp.store.sessionCount() != 0 {
		t.Fatal("session survived logout")
	}
	if f.get("/", c).Code != http.StatusFound {
		t.Fatal("old cookie still logged in")
	}
	loc, _ := url.Parse(w.Header().Get("Location"))
	if loc.Scheme+"://"+loc.Host+loc.Path != testIdPSLO {
		t.Fatalf("logout goes to %s", loc)
	}
	msg, err := decodeRedirect(loc.RawQuery, "SAMLRequest", []*x509.Certificate{spKey.cert}, false)
	if err != nil || !msg.Signed {
		t.Fatalf("LogoutRequest query signature: %v signed=%v", err, msg != nil && msg.Signed)
	}
	root, err := parseXML(msg.XML)
	if err != nil {
		t.Fatal(err)
	}
	nid, _ := child(root, nsAssertion, "NameID")
	si, _ := child(root, nsProtocol, "SessionIndex")
	if !is(root, nsProtocol, "LogoutRequest") || nid == nil || nid.Text() != "alice" || si == nil || si.Text() != "_session1" || attr(root, "Destination") != testIdPSLO {
		t.Fatalf("bad LogoutRequest: %s", msg.XML)
	}
	// The IdP answers with a query-signed LogoutResponse (as SimpleSAMLphp
	// does, and crewjam cannot validate).
	rs := f.logoutSpec("LogoutResponse")
	rs.InResponseTo = attr(root, "ID")
	w = f.get(redirectTo(t, "SAMLResponse", logoutXML(t, rs), "", &idpKey, dsig.RSASHA256SignatureMethod))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "and the identity provider") {
		t.Fatalf("LogoutResponse: %d %s %s", w.Code, w.Body, f.logs)
	}
	// The same response again matches no outstanding logout.
	w = f.get(redirectTo(t, "SAMLResponse", logoutXML(t, rs), "", &idpKey, dsig.RSASHA256SignatureMethod))
	if w.Code != http.StatusForbidden {
		t.Fatalf("replayed LogoutResponse: %d", w.Code)
	}
}

func TestIdPInitiatedLogout(t *testing.T) {
	t.Parallel()
	for _, post := range []bool{false, true} {
		f := newFixture(t)
		c := f.login()
		rs := f.logoutSpec("LogoutRequest")
		el := logoutXML(t, rs)
		var w interface {
			Result() *http.Response
		}
		if post {
			signEl(t, el, idpKey, "", false)
			form := url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(xmlOf(t, el))}, "RelayState": {"r1"}}
			req := httptestRequest(http.MethodPost, PathSLO)
			req.Body = ioNopCloser(form.Encode())
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w = serve(f.sp, req)
		} else {
			w = f.get(redirectTo(t, "SAMLRequest", el, "r1", &idpKey, dsig.RSASHA256SignatureMethod))
		}
		res := w.Result()
		if res.StatusCode != http.StatusFound {
			t.Fatalf("post=%v: status %d; %s", post, res.StatusCode, f.logs)
		}
		if f.sp.store.sessionCount() != 0 || f.get("/", c).Code != http.StatusFound {
			t.Fatal("session survived the IdP's LogoutRequest")
		}
		loc, _ := url.Parse(res.Header.Get("Location"))
		msg, err := decodeRedirect(loc.RawQuery, "SAMLResponse", []*x509.Certificate{spKey.cert}, false)
		if err != nil || !msg.Signed || msg.RelayState != "r1" {
			t.Fatalf("LogoutResponse: %v %+v", err, msg)
		}
		root, _ := parseXML(msg.XML)
		if attr(root, "InResponseTo") != rs.ID || attr(root, "Destination") != testIdPSLO {
			t.Fatalf("LogoutResponse: %s", msg.XML)
		}
	}
}

// 32. Logout messages: unsigned, SigAlg downgraded, signed over re-encoded
// parameters, wrong Issuer/Destination/InResponseTo. None may end a session.
func TestHostile32_LogoutMessages(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		url    func(t *testing.T, f *fixture) string
		reason string
	}{
		{"unsigned", func(t *testing.T, f *fixture) string {
			return redirectTo(t, "SAMLRequest", logoutXML(t, f.logoutSpec("LogoutRequest")), "", nil, "")
		}, "not signed"},
		{"sha1 downgrade", func(t *testing.T, f *fixture) string {
			return redirectTo(t, "SAMLRequest", logoutXML(t, f.logoutSpec("LogoutRequest")), "", &idpKey, dsig.RSASHA1SignatureMethod)
		}, "query signature algorithm \"http://www.w3.org/2000/09/xmldsig#rsa-sha1\" not allowed"},
		{"attacker key", func(t *testing.T, f *fixture) string {
			return redirectTo(t, "SAMLRequest", logoutXML(t, f.logoutSpec("LogoutRequest")), "", &attackerKey, dsig.RSASHA256SignatureMethod)
		}, "query signature does not verify"},
		{"re-encoded", func(t *testing.T, f *fixture) string {
			u := redirectTo(t, "SAMLRequest", logoutXML(t, f.logoutSpec("LogoutRequest")), "a b", &idpKey, dsig.RSASHA256SignatureMethod)
			// Same values, different encoding of the space: the signature
			// covered the bytes "a+b".
			return strings.Replace(u, "RelayState=a+b", "RelayState=a%20b", 1)
		}, "query signature does not verify"},
		{"signature stripped, SigAlg kept", func(t *testing.T, f *fixture) string {
			u := redirectTo(t, "SAMLRequest", logoutXML(t, f.logoutSpec("LogoutRequest")), "", &idpKey, dsig.RSASHA256SignatureMethod)
			return u[:strings.Index(u, "&Signature=")]
		}, "SigAlg without Signature"},
		{"wrong issuer", func(t *testing.T, f *fixture) string {
			s := f.logoutSpec("LogoutRequest")
			s.Issuer = "https://evil.example"
			return redirectTo(t, "SAMLRequest", logoutXML(t, s), "", &idpKey, dsig.RSASHA256SignatureMethod)
		}, "LogoutRequest Issuer"},
		{"wrong destination", func(t *testing.T, f *fixture) string {
			s := f.logoutSpec("LogoutRequest")
			s.Destination = "https://other-sp.example/saml/SingleLogout"
			return redirectTo(t, "SAMLRequest", logoutXML(t, s), "", &idpKey, dsig.RSASHA256SignatureMethod)
		}, "LogoutRequest Destination"},
		{"missing destination", func(t *testing.T, f *fixture) string {
			s := f.logoutSpec("LogoutRequest")
			s.Destination = ""
			return redirectTo(t, "SAMLRequest", logoutXML(t, s), "", &idpKey, dsig.RSASHA256SignatureMethod)
		}, "LogoutRequest Destination"},
		{"stale", func(t *testing.T, f *fixture) string {
			s := f.logoutSpec("LogoutRequest")
			s.IssueInstant = f.now.Add(-time.Hour)
			return redirectTo(t, "SAMLRequest", logoutXML(t, s), "", &idpKey, dsig.RSASHA256SignatureMethod)
		}, "LogoutRequest IssueInstant"},
		{"response with unknown InResponseTo", func(t *testing.T, f *fixture) string {
			s := f.logoutSpec("LogoutResponse")
			s.InResponseTo = "_never"
			return redirectTo(t, "SAMLResponse", logoutXML(t, s), "", &idpKey, dsig.RSASHA256SignatureMethod)
		}, "matches no logout we started"},
		{"duplicate parameter", func(t *testing.T, f *fixture) string {
			u := redirectTo(t, "SAMLRequest", logoutXML(t, f.logoutSpec("LogoutRequest")), "", &idpKey, dsig.RSASHA256SignatureMethod)
			return u + "&SigAlg=x"
		}, "given twice"},
		{"bad embedded signature", func(t *testing.T, f *fixture) string {
			el := logoutXML(t, f.logoutSpec("LogoutRequest"))
			signEl(t, el, attackerKey, "", false)
			return redirectTo(t, "SAMLRequest", el, "", nil, "")
		}, "does not verify with the IdP's certificates"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			c := f.login()
			w := f.get(tc.url(t, f), c)
			if w.Code != http.StatusForbidden {
				t.Fatalf("status %d, want 403", w.Code)
			}
			if f.sp.store.sessionCount() != 1 || f.get("/", c).Code != http.StatusOK {
				t.Fatal("a refused logout message ended the session")
			}
			if !strings.Contains(strings.ReplaceAll(f.logs.String(), `\"`, `"`), tc.reason) {
				t.Fatalf("refused, but not for %q: %s", tc.reason, f.logs)
			}
		})
	}
}

func TestIdPLogoutReplayRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.login()
	u := redirectTo(t, "SAMLRequest", logoutXML(t, f.logoutSpec("LogoutRequest")), "", &idpKey, dsig.RSASHA256SignatureMethod)
	if w := f.get(u); w.Code != http.StatusFound {
		t.Fatalf("first: %d", w.Code)
	}
	if w := f.get(u); w.Code != http.StatusForbidden || !strings.Contains(f.logs.String(), "replay") {
		t.Fatalf("replay: %d", w.Code)
	}
}
