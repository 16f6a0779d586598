package samlsp

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/xmlenc"
	dsig "github.com/russellhaering/goxmldsig"
)

// testKey is an RSA key with a self-signed certificate.
type testKey struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

var (
	keysOnce                   sync.Once
	idpKey, spKey, attackerKey testKey
)

func newTestKey(cn string) testKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		panic(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return testKey{key: k, cert: c}
}

func keys() {
	keysOnce.Do(func() {
		idpKey = newTestKey("test idp")
		spKey = newTestKey("test sp")
		attackerKey = newTestKey("attacker")
	})
}

const (
	testIdPEntity = "https://idp.example.test/metadata"
	testIdPSSO    = "https://idp.example.test/sso"
	testIdPSLO    = "https://idp.example.test/slo"
	testBaseURL   = "https://cm.example.test:7183"
	testACS       = testBaseURL + PathACS
	testSLO       = testBaseURL + PathSLO
	uidOID        = DefaultUserAttribute
	ouOID         = DefaultRoleAttribute
)

func idpMetadata(certs ...*x509.Certificate) []byte {
	var kd strings.Builder
	for _, c := range certs {
		fmt.Fprintf(&kd, `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`,
			base64.StdEncoding.EncodeToString(c.Raw))
	}
	return []byte(`<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="` + testIdPEntity + `">
<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAuthnRequestsSigned="true">` + kd.String() + `
<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="` + testIdPSLO + `"/>
<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="` + testIdPSSO + `"/>
</md:IDPSSODescriptor></md:EntityDescriptor>`)
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixture struct {
	t    *testing.T
	sp   *SP
	logs *syncBuffer
	now  time.Time
}

func newFixture(t *testing.T, mods ...func(*Config)) *fixture {
	t.Helper()
	keys()
	f := &fixture{t: t, logs: &syncBuffer{}, now: time.Now().UTC().Truncate(time.Second)}
	cfg := Config{
		IdPMetadata: idpMetadata(idpKey.cert),
		Key:         spKey.key, Certificate: spKey.cert,
		BaseURL:     testBaseURL,
		AdminValues: []string{"cm-admins"}, UserValues: []string{"cm-users"},
		Logger: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    func() time.Time { return f.now },
	}
	for _, m := range mods {
		m(&cfg)
	}
	sp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.sp = sp
	return f
}

// respSpec describes a Response the test IdP issues.
type respSpec struct {
	ResponseID, AssertionID        string
	InResponseTo                   string
	Issuer, AssertionIssuer        string
	Destination, Recipient         string
	Audiences                      []string
	NoAudienceRestriction          bool
	NameID                         string
	Attrs                          [][2]string // name, value (repeat a name for more values)
	IssueInstant, AssertionInstant time.Time
	NotBefore, NotOnOrAfter        time.Time
	SCDNotOnOrAfter                time.Time
	NoSCD, NoSCDNotOnOrAfter       bool
	Method                         string
	Status                         string
	SignAssertion, SignResponse    bool
	Encrypt                        bool
	EncData, EncKey                string   // algorithms; empty: crewjam's aes128-cbc + rsa-oaep-mgf1p
	SigKey                         *testKey // default idpKey
	SigMethod                      string   // default rsa-sha256
	DigestSHA1                     bool
}

func (f *fixture) spec() respSpec {
	return respSpec{
		ResponseID: "_r" + randomHex(), AssertionID: "_a" + randomHex(),
		Issuer: testIdPEntity, AssertionIssuer: testIdPEntity,
		Destination: testACS, Recipient: testACS, Audiences: []string{DefaultEntityID},
		NameID:       "alice",
		Attrs:        [][2]string{{uidOID, "alice"}, {ouOID, "cm-admins"}},
		IssueInstant: f.now, AssertionInstant: f.now,
		NotBefore: f.now.Add(-time.Minute), NotOnOrAfter: f.now.Add(5 * time.Minute),
		SCDNotOnOrAfter: f.now.Add(5 * time.Minute),
		Method:          bearerMethod, Status: statusSuccess,
		SignAssertion: true, SignResponse: true,
	}
}

// specFor is spec answering AuthnRequest id.
func (f *fixture) specFor(id string) respSpec {
	s := f.spec()
	s.InResponseTo = id
	return s
}

func randomHex() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// assertionEl builds an unsigned assertion element with its own namespace
// declarations.
func assertionEl(s respSpec) *etree.Element {
	a := etree.NewElement("saml:Assertion")
	a.CreateAttr("xmlns:saml", nsAssertion)
	a.CreateAttr("xmlns:xs", "http://www.w3.org/2001/XMLSchema")
	a.CreateAttr("ID", s.AssertionID)
	a.CreateAttr("Version", "2.0")
	a.CreateAttr("IssueInstant", ts(s.AssertionInstant))
	a.CreateElement("saml:Issuer").SetText(s.AssertionIssuer)
	subj := a.CreateElement("saml:Subject")
	nid := subj.CreateElement("saml:NameID")
	nid.CreateAttr("Format", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified")
	nid.SetText(s.NameID)
	sc := subj.CreateElement("saml:SubjectConfirmation")
	sc.CreateAttr("Method", s.Method)
	if !s.NoSCD {
		scd := sc.CreateElement("saml:SubjectConfirmationData")
		if !s.NoSCDNotOnOrAfter {
			scd.CreateAttr("NotOnOrAfter", ts(s.SCDNotOnOrAfter))
		}
		if s.Recipient != "" {
			scd.CreateAttr("Recipient", s.Recipient)
		}
		if s.InResponseTo != "" {
			scd.CreateAttr("InResponseTo", s.InResponseTo)
		}
	}
	c := a.CreateElement("saml:Conditions")
	c.CreateAttr("NotBefore", ts(s.NotBefore))
	c.CreateAttr("NotOnOrAfter", ts(s.NotOnOrAfter))
	if !s.NoAudienceRestriction {
		ar := c.CreateElement("saml:AudienceRestriction")
		for _, au := range s.Audiences {
			ar.CreateElement("saml:Audience").SetText(au)
		}
	}
	as := a.CreateElement("saml:AuthnStatement")
	as.CreateAttr("AuthnInstant", ts(s.AssertionInstant))
	as.CreateAttr("SessionIndex", "_session1")
	as.CreateElement("saml:AuthnContext").CreateElement("saml:AuthnContextClassRef").SetText("urn:oasis:names:tc:SAML:2.0:ac:classes:Password")
	if len(s.Attrs) > 0 {
		st := a.CreateElement("saml:AttributeStatement")
		byName := map[string]*etree.Element{}
		for _, kv := range s.Attrs {
			at := byName[kv[0]]
			if at == nil {
				at = st.CreateElement("saml:Attribute")
				at.CreateAttr("Name", kv[0])
				at.CreateAttr("NameFormat", "urn:oasis:names:tc:SAML:2.0:attrname-format:uri")
				byName[kv[0]] = at
			}
			v := at.CreateElement("saml:AttributeValue")
			v.CreateAttr("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
			v.CreateAttr("xsi:type", "xs:string")
			v.SetText(kv[1])
		}
	}
	return a
}

// signEl signs el in place: the Signature goes right after the Issuer, as
// the schema wants.
func signEl(t testing.TB, el *etree.Element, k testKey, method string, sha1Digest bool) {
	t.Helper()
	ctx, err := dsig.NewSigningContext(k.key, [][]byte{k.cert.Raw})
	if err != nil {
		t.Fatal(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if method == "" {
		method = dsig.RSASHA256SignatureMethod
	}
	if err := ctx.SetSignatureMethod(method); err != nil {
		t.Fatal(err)
	}
	if sha1Digest {
		ctx.Hash = crypto.SHA1
	}
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		t.Fatal(err)
	}
	sig := signed.Child[len(signed.Child)-1].(*etree.Element)
	idx := 0
	for i, c := range el.Child {
		if ce, ok := c.(*etree.Element); ok && ce.Tag == "Issuer" {
			idx = i + 1
		}
	}
	el.InsertChildAt(idx, sig)
}

func responseEl(s respSpec) *etree.Element {
	r := etree.NewElement("samlp:Response")
	r.CreateAttr("xmlns:samlp", nsProtocol)
	r.CreateAttr("xmlns:saml", nsAssertion)
	r.CreateAttr("ID", s.ResponseID)
	r.CreateAttr("Version", "2.0")
	r.CreateAttr("IssueInstant", ts(s.IssueInstant))
	if s.Destination != "" {
		r.CreateAttr("Destination", s.Destination)
	}
	if s.InResponseTo != "" {
		r.CreateAttr("InResponseTo", s.InResponseTo)
	}
	if s.Issuer != "" {
		r.CreateElement("saml:Issuer").SetText(s.Issuer)
	}
	r.CreateElement("samlp:Status").CreateElement("samlp:StatusCode").CreateAttr("Value", s.Status)
	return r
}

func (f *fixture) signedAssertion(s respSpec) *etree.Element {
	a := assertionEl(s)
	if s.SignAssertion {
		k := idpKey
		if s.SigKey != nil {
			k = *s.SigKey
		}
		signEl(f.t, a, k, s.SigMethod, s.DigestSHA1)
	}
	return a
}

// build makes the Response; mutate (may be nil) edits the tree between
// signing the assertion and signing the response.
func (f *fixture) build(s respSpec, mutate func(resp, assertion *etree.Element)) []byte {
	f.t.Helper()
	a := f.signedAssertion(s)
	r := responseEl(s)
	if s.Encrypt {
		doc := etree.NewDocument()
		doc.SetRoot(a)
		plain, err := doc.WriteToBytes()
		if err != nil {
			f.t.Fatal(err)
		}
		if s.EncData != "" {
			r.AddChild(encryptWith(f.t, plain, spKey.cert, s.EncData, s.EncKey))
		} else {
			r.AddChild(encryptAssertion(f.t, plain, spKey.cert))
		}
	} else {
		r.AddChild(a)
	}
	if mutate != nil {
		mutate(r, a)
	}
	if s.SignResponse {
		k := idpKey
		if s.SigKey != nil {
			k = *s.SigKey
		}
		signEl(f.t, r, k, s.SigMethod, s.DigestSHA1)
	}
	return xmlOf(f.t, r)
}

func encryptAssertion(t testing.TB, plain []byte, cert *x509.Certificate) *etree.Element {
	t.Helper()
	e := xmlenc.OAEP()
	e.BlockCipher = xmlenc.AES128CBC
	e.DigestMethod = &xmlenc.SHA1
	data, err := e.Encrypt(cert, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	data.CreateAttr("Type", "http://www.w3.org/2001/04/xmlenc#Element")
	ea := etree.NewElement("saml:EncryptedAssertion")
	ea.CreateAttr("xmlns:saml", nsAssertion)
	ea.AddChild(data)
	return ea
}

func xmlOf(t testing.TB, el *etree.Element) []byte {
	t.Helper()
	doc := etree.NewDocument()
	doc.SetRoot(el)
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// post sends a SAMLResponse to the ACS with the given cookies.
func (f *fixture) post(xml []byte, relay string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	return f.postRaw(base64.StdEncoding.EncodeToString(xml), relay, cookies...)
}

func (f *fixture) postRaw(b64, relay string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	form := url.Values{"SAMLResponse": {b64}}
	if relay != "" {
		form.Set("RelayState", relay)
	}
	req := httptest.NewRequest(http.MethodPost, testACS, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	w := httptest.NewRecorder()
	f.sp.ServeHTTP(w, req)
	return w
}

// get sends a GET to the SP; a local target goes to the base URL's host
// (other hosts are redirected there first).
func (f *fixture) get(target string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	if strings.HasPrefix(target, "/") {
		target = testBaseURL + target
	}
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	w := httptest.NewRecorder()
	f.sp.ServeHTTP(w, req)
	return w
}

func cookie(w *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == name && c.Value != "" {
			return c
		}
	}
	return nil
}

// refused asserts the ACS refused the response for the expected reason
// (a log substring) and created no session.
func (f *fixture) refused(w *httptest.ResponseRecorder, reason string) {
	f.t.Helper()
	if w.Code == http.StatusSeeOther || w.Code == http.StatusOK {
		f.t.Fatalf("status %d: response accepted; logs:\n%s", w.Code, f.logs)
	}
	if c := cookie(w, SessionCookie); c != nil {
		f.t.Fatalf("a session cookie was set: %v", c)
	}
	if n := f.sp.store.sessionCount(); n != 0 {
		f.t.Fatalf("%d sessions exist after a refused response", n)
	}
	if !strings.Contains(strings.ReplaceAll(f.logs.String(), `\"`, `"`), reason) {
		f.t.Fatalf("refused, but not for %q; logs:\n%s", reason, f.logs)
	}
}

// accepted asserts a session was created and returns its cookie. When the
// ACS handed the login over to PathContinue (the POST showed none of the
// browser's cookies) it follows that step as a browser without an SP
// session would, and w becomes the final answer.
func (f *fixture) accepted(w *httptest.ResponseRecorder) *http.Cookie {
	f.t.Helper()
	if loc := w.Header().Get("Location"); w.Code == http.StatusSeeOther && strings.HasPrefix(loc, PathContinue+"?") {
		if cookie(w, SessionCookie) != nil {
			f.t.Fatal("a session cookie was set before the hand-over completed")
		}
		*w = *f.get(loc)
	}
	if w.Code != http.StatusSeeOther {
		f.t.Fatalf("status %d, want 303; body %s; logs:\n%s", w.Code, w.Body, f.logs)
	}
	c := cookie(w, SessionCookie)
	if c == nil {
		f.t.Fatal("no session cookie")
	}
	return c
}

// startLogin runs /saml/login and returns the AuthnRequest ID, the
// RelayState and the tracking cookie, after checking the request's query
// signature with the SP certificate.
func (f *fixture) startLogin(returnTo string) (id, relay string, track *http.Cookie) {
	f.t.Helper()
	target := PathLogin
	if returnTo != "" {
		target += "?return=" + url.QueryEscape(returnTo)
	}
	w := f.get(target)
	if w.Code != http.StatusFound {
		f.t.Fatalf("login: status %d", w.Code)
	}
	loc, err := url.Parse(w.Header().Get("Location"))
	if err != nil {
		f.t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testIdPSSO {
		f.t.Fatalf("login redirects to %s, want the IdP SSO URL", got)
	}
	msg, err := decodeRedirect(loc.RawQuery, "SAMLRequest", []*x509.Certificate{spKey.cert}, false)
	if err != nil {
		f.t.Fatalf("AuthnRequest query signature: %v", err)
	}
	if !msg.Signed {
		f.t.Fatal("AuthnRequest is not signed")
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(msg.XML); err != nil {
		f.t.Fatal(err)
	}
	root := doc.Root()
	if !is(root, nsProtocol, "AuthnRequest") || attr(root, "AssertionConsumerServiceURL") != testACS || attr(root, "Destination") != testIdPSSO {
		f.t.Fatalf("bad AuthnRequest: %s", msg.XML)
	}
	if iss := root.FindElement("./Issuer"); iss == nil || iss.Text() != DefaultEntityID {
		f.t.Fatalf("AuthnRequest Issuer: %s", msg.XML)
	}
	return attr(root, "ID"), msg.RelayState, cookie(w, trackCookie)
}

// refusedN is refused when n sessions existed before.
func (f *fixture) refusedN(w *httptest.ResponseRecorder, reason string, n int) {
	f.t.Helper()
	if w.Code == http.StatusSeeOther || w.Code == http.StatusOK {
		f.t.Fatalf("status %d: response accepted; logs:\n%s", w.Code, f.logs)
	}
	if got := f.sp.store.sessionCount(); got != n {
		f.t.Fatalf("%d sessions, want %d", got, n)
	}
	if !strings.Contains(strings.ReplaceAll(f.logs.String(), `\"`, `"`), reason) {
		f.t.Fatalf("refused, but not for %q; logs:\n%s", reason, f.logs)
	}
}

func httptestRequest(method, target string, cookies ...*http.Cookie) *http.Request {
	if strings.HasPrefix(target, "/") {
		target = testBaseURL + target
	}
	req := httptest.NewRequest(method, target, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return req
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func ioNopCloser(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }

// logout posts the logout form with the session's CSRF token.
func (f *fixture) logout(c *http.Cookie) *httptest.ResponseRecorder {
	form := url.Values{"csrf": {f.sp.mac("logout", c.Value)}}
	req := httptest.NewRequest(http.MethodPost, testBaseURL+PathLogout, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(c)
	return serve(f.sp, req)
}

var (
	regexpState = regexp.MustCompile(`name="state" value="([^"]+)"`)
	regexpID    = regexp.MustCompile(`ID="([^"]+)"`)
)
