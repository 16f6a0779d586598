package samlsp

import (
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func (f *fixture) postForm(target string, form url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, testBaseURL+target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return serve(f.sp, req)
}

func (f *fixture) alive(c *http.Cookie) bool {
	_, ok := f.sp.store.session(c.Value, f.now)
	return ok
}

// A login whose tracking cookie the IdP's cross-site POST does not carry
// (plain HTTP, SameSite=Lax) still completes: the state is on the server
// under the RelayState token, and the browser's GET to PathContinue shows
// the cookie. The SP's clock moves 3 minutes between the start and the
// answer: past Chromium's 2-minute Lax grace, well inside the pending
// login's lifetime. The deep link survives.
func TestLoginWithoutCookieOnPOST(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id, relay, track := f.startLogin("/cmf/hosts?view=all")
	f.now = f.now.Add(3 * time.Minute)
	w := f.post(f.build(f.specFor(id), nil), relay)
	loc := w.Header().Get("Location")
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(loc, PathContinue+"?state=") || cookie(w, SessionCookie) != nil || f.sp.store.sessionCount() != 0 {
		t.Fatalf("ACS: %d %q", w.Code, loc)
	}
	w = f.get(loc, track)
	c := f.accepted(w)
	if got := w.Header().Get("Location"); got != "/cmf/hosts?view=all" {
		t.Fatalf("deep link lost: %q", got)
	}
	if !f.alive(c) {
		t.Fatal("no session")
	}
	// The continuation is single use.
	f.refusedN(f.get(loc, track), "unknown, used or expired", 1)
}

// The tracking cookie: over HTTPS SameSite=None; Secure (it must come back
// on the cross-site POST), over plain HTTP an explicit SameSite=Lax.
func TestTrackingCookieAttributes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, _, track := f.startLogin("")
	if track.SameSite != http.SameSiteNoneMode || !track.Secure || !track.HttpOnly {
		t.Fatalf("https tracking cookie: %+v", track)
	}
	g := newFixture(t, func(c *Config) { c.BaseURL = "http://cm.example.test:7180" })
	req := httptest.NewRequest(http.MethodGet, "http://cm.example.test:7180"+PathLogin, nil)
	w := serve(g.sp, req)
	c := cookie(w, trackCookie)
	if w.Code != http.StatusFound || c == nil || c.SameSite != http.SameSiteLaxMode || c.Secure {
		t.Fatalf("http tracking cookie: %d %+v", w.Code, c)
	}
	if !strings.Contains(w.Header().Get("Set-Cookie"), "SameSite=Lax") {
		t.Fatalf("SameSite not stated: %s", w.Header().Get("Set-Cookie"))
	}
}

// Opening the console by another host name than the base URL's sends the
// browser to the base URL's host before a login starts.
func TestCanonicalHostBeforeLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, target := range []string{"https://127.0.0.1:7183" + PathLogin + "?return=%2Fcmf%2Fhosts", "https://CM.example.test:7184/"} {
		w := serve(f.sp, httptest.NewRequest(http.MethodGet, target, nil))
		u, _ := url.Parse(target)
		want := testBaseURL + u.RequestURI()
		if w.Code != http.StatusFound || w.Header().Get("Location") != want {
			t.Fatalf("%s: %d %q, want %q", target, w.Code, w.Header().Get("Location"), want)
		}
		if cookie(w, trackCookie) != nil || len(f.sp.store.authn) != 0 {
			t.Fatalf("%s: a login started on the wrong host", target)
		}
	}
	// The same host in another case or with the default port is the
	// canonical one.
	g := newFixture(t, func(c *Config) { c.BaseURL = "https://cm.example.test" })
	if w := serve(g.sp, httptest.NewRequest(http.MethodGet, "https://CM.example.test:443"+PathLogin, nil)); w.Code != http.StatusFound || !strings.HasPrefix(w.Header().Get("Location"), testIdPSSO) {
		t.Fatalf("canonical host redirected: %d %s", w.Code, w.Header().Get("Location"))
	}
}

// Login CSRF: an unsolicited response never replaces another user's live
// session without the user's confirmation.
func TestUnsolicitedLoginNeedsConfirmation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	alice := f.accepted(f.post(f.build(f.spec(), nil), ""))
	bob := f.spec()
	bob.NameID = "bob"
	bob.Attrs = [][2]string{{uidOID, "bob"}, {ouOID, "cm-users"}}

	// Through the ACS with alice's cookie (a same-site POST) and through
	// the hand-over (a cross-site POST without cookies), alike.
	for _, via := range []string{"acs", "continue"} {
		bob.ResponseID, bob.AssertionID = "_r"+randomHex(), "_a"+randomHex()
		var w *httptest.ResponseRecorder
		if via == "acs" {
			w = f.post(f.build(bob, nil), "/cmf/hosts", alice)
		} else {
			w = f.post(f.build(bob, nil), "/cmf/hosts")
			w = f.get(w.Header().Get("Location"), alice)
		}
		body := w.Body.String()
		if w.Code != http.StatusOK || !strings.Contains(body, `id="confirm-switch"`) || !strings.Contains(body, `<strong id="current">alice</strong>`) || cookie(w, SessionCookie) != nil {
			t.Fatalf("%s: %d %s", via, w.Code, body)
		}
		if !f.alive(alice) || f.sp.store.sessionCount() != 1 {
			t.Fatalf("%s: alice's session changed before confirmation", via)
		}
		state := regexpState.FindStringSubmatch(body)
		if state == nil {
			t.Fatalf("no state in %s", body)
		}
		// A cross-site auto-submitted confirmation carries no session
		// cookie: refused.
		f.refusedN(f.postForm(PathContinue, url.Values{"state": {state[1]}}), "from another browser", 1)
	}
	// The user confirms on the page: bob replaces alice.
	bob.ResponseID, bob.AssertionID = "_r"+randomHex(), "_a"+randomHex()
	w := f.post(f.build(bob, nil), "/cmf/hosts", alice)
	state := regexpState.FindStringSubmatch(w.Body.String())
	w = f.postForm(PathContinue, url.Values{"state": {state[1]}}, alice)
	c := f.accepted(w)
	sess, _ := f.sp.store.session(c.Value, f.now)
	if sess == nil || sess.UserID != "bob" || f.alive(alice) || w.Header().Get("Location") != "/cmf/hosts" {
		t.Fatalf("after confirmation: %+v, alice alive %v, %s", sess, f.alive(alice), w.Header().Get("Location"))
	}
	// The same user again replaces the session without asking.
	s := f.spec()
	s.NameID = "bob"
	s.Attrs = bob.Attrs
	c2 := f.accepted(f.post(f.build(s, nil), "", c))
	if f.alive(c) || !f.alive(c2) {
		t.Fatal("same-user login did not replace the session")
	}
}

// A new login ends the browser's previous session, whether the browser
// showed it when the login started or at the ACS.
func TestNewLoginEndsPreviousSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	old := f.accepted(f.post(f.build(f.spec(), nil), ""))
	w := f.get(PathLogin, old)
	track := cookie(w, trackCookie)
	loc, _ := url.Parse(w.Header().Get("Location"))
	msg, err := decodeRedirect(loc.RawQuery, "SAMLRequest", []*x509.Certificate{spKey.cert}, false)
	if err != nil {
		t.Fatal(err)
	}
	id := regexpID.FindStringSubmatch(string(msg.XML))[1]
	c := f.accepted(f.post(f.build(f.specFor(id), nil), msg.RelayState, track))
	if f.alive(old) || !f.alive(c) || f.sp.store.sessionCount() != 1 {
		t.Fatalf("old alive %v, new alive %v, %d sessions", f.alive(old), f.alive(c), f.sp.store.sessionCount())
	}
	if !strings.Contains(f.logs.String(), "previous session ended by a new login") {
		t.Fatalf("logs: %s", f.logs)
	}
}

// Tracking values are issued by the server only: a client-chosen one is
// replaced at login and does not bind a response.
func TestClientChosenTrackingValueRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	forged := &http.Cookie{Name: trackCookie, Value: randomID() + "." + randomID()}
	w := f.get(PathLogin, forged)
	issued := cookie(w, trackCookie)
	if issued == nil || issued.Value == forged.Value {
		t.Fatalf("client-chosen tracking value kept: %+v", issued)
	}
	loc, _ := url.Parse(w.Header().Get("Location"))
	msg, _ := decodeRedirect(loc.RawQuery, "SAMLRequest", []*x509.Certificate{spKey.cert}, false)
	id := regexpID.FindStringSubmatch(string(msg.XML))[1]
	// The pending login is bound to the issued value, not the forged one.
	w = f.post(f.build(f.specFor(id), nil), msg.RelayState, forged)
	f.refused(f.get(w.Header().Get("Location"), forged), "matches no login started by this browser")
}

// Logout CSRF: a GET asks and ends nothing; a POST needs the session's
// token.
func TestLogoutNeedsPostWithToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.accepted(f.post(f.build(f.spec(), nil), ""))
	w := f.get(PathLogout, c)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="logout-confirm"`) || !f.alive(c) {
		t.Fatalf("GET logout: %d alive=%v %s", w.Code, f.alive(c), w.Body)
	}
	if !strings.Contains(w.Body.String(), f.sp.LogoutToken(httptestRequest(http.MethodGet, "/", c))) {
		t.Fatal("the confirmation form lacks the token")
	}
	for _, form := range []url.Values{{}, {"csrf": {"x"}}, {"csrf": {f.sp.mac("logout", "another session")}}} {
		if w := f.postForm(PathLogout, form, c); w.Code != http.StatusForbidden || !f.alive(c) {
			t.Fatalf("POST logout %v: %d alive=%v", form, w.Code, f.alive(c))
		}
	}
	if w := f.logout(c); w.Code != http.StatusFound || f.alive(c) {
		t.Fatalf("POST logout with token: %d alive=%v", w.Code, f.alive(c))
	}
}

// Deep links are kept through the login; only local paths.
func TestDeepLinkKept(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.sp.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("in")) }))
	w := serve(h, httptestRequest(http.MethodGet, "/cmf/hosts?view=all"))
	if w.Code != http.StatusFound || w.Header().Get("Location") != PathLogin+"?return="+url.QueryEscape("/cmf/hosts?view=all") {
		t.Fatalf("%d %s", w.Code, w.Header().Get("Location"))
	}
	for in, want := range map[string]string{
		"/cmf/hosts?view=all": PathLogin + "?return=%2Fcmf%2Fhosts%3Fview%3Dall",
		"https://evil.test/":  PathLogin, "//evil.test/x": PathLogin, "/\\evil.test": PathLogin, "/": PathLogin,
	} {
		if got := f.sp.LoginURL(in); got != want {
			t.Errorf("LoginURL(%q) = %q, want %q", in, got, want)
		}
	}
	id, relay, track := f.startLogin("https://evil.test/")
	w = f.post(f.build(f.specFor(id), nil), relay, track)
	f.accepted(w)
	if w.Header().Get("Location") != "/" {
		t.Fatalf("open redirect: %s", w.Header().Get("Location"))
	}
}

// The back-channel reader hands over the Response with its namespaces, so
// its signatures still verify, and refuses answers to another request.
func TestArtifactResponseUnwrap(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	resp := string(f.build(f.spec(), nil))
	if i := strings.Index(resp, "?>"); i >= 0 {
		resp = resp[i+2:]
	}
	soap := `<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/"><soap-env:Body>` +
		`<samlp:ArtifactResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a" InResponseTo="_req" Version="2.0" IssueInstant="` + ts(f.now) + `">` +
		`<saml:Issuer>` + testIdPEntity + `</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
		resp + `</samlp:ArtifactResponse></soap-env:Body></soap-env:Envelope>`
	out, err := f.sp.readArtifactResponse([]byte(soap), "_req", f.now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.sp.validateResponse(out, f.now); err != nil {
		t.Fatalf("unwrapped response: %v", err)
	}
	if _, err := f.sp.readArtifactResponse([]byte(soap), "_other", f.now); err == nil || !strings.Contains(err.Error(), "is not our ArtifactResolve") {
		t.Fatalf("answer to another request: %v", err)
	}
	for _, art := range []string{"AAEAAA==", base64.StdEncoding.EncodeToString(make([]byte, 44))} {
		if _, _, err := parseArtifact(art); err == nil {
			t.Fatalf("artifact %q accepted", art)
		}
	}
}

// The procedure's URL check (a GET of every metadata URL) leaves no refusal
// in the log: a GET without a message at the logout endpoint and at the ACS.
func TestURLCheckLeavesNoRefusal(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if w := f.get(PathSLO); w.Code != http.StatusBadRequest {
		t.Fatalf("GET %s: %d", PathSLO, w.Code)
	}
	if w := f.get(PathACS); w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET %s: %d", PathACS, w.Code)
	}
	if strings.Contains(f.logs.String(), "refused") {
		t.Fatalf("logs: %s", f.logs)
	}
}

// An artifact is only resolved when it names our IdP (SourceID) and the
// SP uses the HTTP-Artifact binding; the IdP metadata must publish an https
// ArtifactResolutionService.
func TestArtifactRefusals(t *testing.T) {
	t.Parallel()
	keys()
	withARS := func(loc string) []byte {
		return []byte(strings.Replace(string(idpMetadata(idpKey.cert)), "<md:SingleLogoutService",
			`<md:ArtifactResolutionService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="`+loc+`" index="0"/><md:SingleLogoutService`, 1))
	}
	if _, err := New(Config{IdPMetadata: withARS("http://idp.example.test/ars"), Key: spKey.key, Certificate: spKey.cert,
		BaseURL: testBaseURL, AdminValues: []string{"a"}, ResponseBinding: BindingArtifact}); err == nil || !strings.Contains(err.Error(), "not https") {
		t.Fatalf("plain-http ArtifactResolutionService: %v", err)
	}
	f := newFixture(t, func(c *Config) {
		c.IdPMetadata, c.ResponseBinding = withARS("https://idp.example.test/ars"), BindingArtifact
	})
	art := make([]byte, 44)
	art[1] = 4
	copy(art[4:], "not the idp's sha1!!")
	f.refused(f.get(PathACS+"?SAMLart="+url.QueryEscape(base64.StdEncoding.EncodeToString(art))), "SourceID is not the IdP's")
	// A POST-binding SP does not resolve artifacts.
	g := newFixture(t)
	g.refused(g.get(PathACS+"?SAMLart="+url.QueryEscape(base64.StdEncoding.EncodeToString(art))), "response binding is not HTTP-Artifact")
}
