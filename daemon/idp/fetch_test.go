package idp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmtls/cmtls/daemon/samlsp"
	"github.com/cmtls/cmtls/pki/samlxml"
)

// fetchEnv is an IdP whose only metadata source is a counting server that
// serves whatever serve says.
type fetchEnv struct {
	idp     *Server
	idpURL  string
	src     *httptest.Server
	fetches atomic.Int32
	serve   atomic.Pointer[[]byte]
	log     *syncBuf
}

func startFetchEnv(t *testing.T) *fetchEnv {
	t.Helper()
	e := &fetchEnv{log: &syncBuf{}}
	e.src = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.fetches.Add(1)
		b := e.serve.Load()
		if b == nil || r.URL.Path != samlsp.PathMetadata {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(*b)
	}))
	t.Cleanup(e.src.Close)
	il := listen(t)
	e.idpURL = "http://" + il.Addr().String()
	var err error
	e.idp, err = New(Config{BaseURL: e.idpURL, Users: []User{{Name: "alice", Password: "alicepass", OU: []string{"cm-admins"}}},
		SPMetadata: []MetadataSource{{URL: e.src.URL + samlsp.PathMetadata}},
		Logger:     slog.New(slog.NewTextHandler(e.log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.idp.Serve(il) }()
	t.Cleanup(func() { _ = e.idp.Shutdown(context.Background()) })
	return e
}

// newSP is an SP with its own key at baseURL (not served).
func (e *fetchEnv) newSP(t *testing.T, baseURL string) *samlsp.SP {
	t.Helper()
	md, key, cert := spIdentity(t, e.idp)
	sp, err := samlsp.New(samlsp.Config{IdPMetadata: md, Key: key, Certificate: cert, BaseURL: baseURL,
		AdminValues: []string{"cm-admins"}, Logger: slog.New(slog.NewTextHandler(&syncBuf{}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// authnRequest is the IdP URL the SP's login redirects to (its signed
// AuthnRequest).
func authnRequest(t *testing.T, sp *samlsp.SP) string {
	t.Helper()
	rec := httptest.NewRecorder()
	login := strings.TrimSuffix(sp.MetadataURL(), samlsp.PathMetadata) + samlsp.PathLogin
	sp.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, login, nil))
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusFound || loc == "" {
		t.Fatalf("SP login: %d %q", rec.Code, loc)
	}
	return loc
}

func status(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// An AuthnRequest from an unknown SP makes the IdP load the metadata from
// its configured URL; it trusts it only when its entityID is the issuer's.
func TestFetchedMetadataMustNameTheIssuer(t *testing.T) {
	t.Parallel()
	e := startFetchEnv(t)
	sp := e.newSP(t, "http://cm.example:7180")
	md := sp.Metadata()
	other := bytes.Replace(md, []byte(`entityID="`+sp.EntityID()+`"`), []byte(`entityID="someOtherSP"`), 1)
	if bytes.Equal(other, md) {
		t.Fatal("test setup: entityID not found in the SP metadata")
	}
	e.serve.Store(&other)
	req := authnRequest(t, sp)
	if got := status(t, req); got != http.StatusForbidden {
		t.Fatalf("metadata naming another entity ID: IdP answered %d, want 403", got)
	}
	if e.fetches.Load() != 1 || !strings.Contains(e.log.String(), "names another entity ID") {
		t.Fatalf("fetches %d, log:\n%s", e.fetches.Load(), e.log)
	}
	// The same metadata with the right entity ID: trusted, the login form.
	e.serve.Store(&md)
	if got := status(t, req); got != http.StatusOK {
		t.Fatalf("metadata naming the issuer: IdP answered %d, want 200\n%s", got, e.log)
	}
	// Loaded once: the next request needs no fetch.
	n := e.fetches.Load()
	if got := status(t, authnRequest(t, sp)); got != http.StatusOK || e.fetches.Load() != n {
		t.Fatalf("second request: %d, fetches %d -> %d", got, n, e.fetches.Load())
	}
}

// The IdP fetches only its configured URL, never one a request names (an
// entity ID is often a URL that looks like a metadata location), for
// AuthnRequests and LogoutRequests alike.
func TestFetchNeverFollowsTheIssuer(t *testing.T) {
	t.Parallel()
	e := startFetchEnv(t)
	var lured atomic.Int32
	lure := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { lured.Add(1) }))
	defer lure.Close()
	issuer := lure.URL + samlsp.PathMetadata
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Format(time.RFC3339)
	authn := fmt.Sprintf(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1" Version="2.0" IssueInstant="%s" Destination="%s" AssertionConsumerServiceURL="%s/saml/SSO"><saml:Issuer>%s</saml:Issuer></samlp:AuthnRequest>`,
		now, e.idpURL+PathSSO, lure.URL, issuer)
	logout := fmt.Sprintf(`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_l1" Version="2.0" IssueInstant="%s" Destination="%s"><saml:Issuer>%s</saml:Issuer><saml:NameID>alice</saml:NameID></samlp:LogoutRequest>`,
		now, e.idpURL+PathSLO, issuer)
	for _, tc := range []struct{ dest, msg string }{{e.idpURL + PathSSO, authn}, {e.idpURL + PathSLO, logout}} {
		u, err := samlxml.EncodeRedirect(tc.dest, "SAMLRequest", []byte(tc.msg), "", key, samlxml.DefaultSigAlg(key))
		if err != nil {
			t.Fatal(err)
		}
		if got := status(t, u); got != http.StatusForbidden {
			t.Errorf("%s from %s: IdP answered %d, want 403", tc.dest, issuer, got)
		}
	}
	if lured.Load() != 0 {
		t.Fatalf("the IdP fetched the issuer's URL %d time(s)", lured.Load())
	}
	if e.fetches.Load() == 0 {
		t.Fatal("the configured source was not asked")
	}
}

// CM's SAML keystore changed: its requests no longer verify with the
// metadata the IdP loaded, so it loads it again and trusts the new key; a
// request signed with the old key is then refused.
func TestFetchAgainWhenTheSPKeyChanged(t *testing.T) {
	t.Parallel()
	e := startFetchEnv(t)
	base := "http://cm.example:7180"
	old, renewed := e.newSP(t, base), e.newSP(t, base)
	md := old.Metadata()
	e.serve.Store(&md)
	oldReq := authnRequest(t, old)
	if got := status(t, oldReq); got != http.StatusOK || e.fetches.Load() != 1 {
		t.Fatalf("first login: %d, fetches %d\n%s", got, e.fetches.Load(), e.log)
	}
	md2 := renewed.Metadata()
	e.serve.Store(&md2)
	if got := status(t, authnRequest(t, renewed)); got != http.StatusOK || e.fetches.Load() != 2 {
		t.Fatalf("after the key change: %d, fetches %d\n%s", got, e.fetches.Load(), e.log)
	}
	if got := status(t, authnRequest(t, old)); got != http.StatusForbidden {
		t.Fatalf("request signed with the old key: %d, want 403", got)
	}
}

// An http source that redirects to https (a console that turned TLS on)
// is followed and verified with the CA file as it is at fetch time; a
// certificate the CA file does not verify, a redirect to another host or
// an oversized answer are refused.
func TestFetchFollowsToTLSAndVerifies(t *testing.T) {
	t.Parallel()
	e := &fetchEnv{log: &syncBuf{}}
	var err error
	if e.idp, err = New(Config{BaseURL: "http://127.0.0.1:1", Logger: slog.New(slog.NewTextHandler(e.log, nil))}); err != nil {
		t.Fatal(err)
	}
	md := e.newSP(t, "http://cm.example:7180").Metadata()
	var body atomic.Pointer[[]byte]
	body.Store(&md)
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(*body.Load()) }))
	defer tlsSrv.Close()
	var target atomic.Value
	target.Store(tlsSrv.URL)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.Load().(string)+r.URL.RequestURI(), http.StatusFound)
	}))
	defer plain.Close()
	ca := filepath.Join(t.TempDir(), "server.pem")
	src := MetadataSource{URL: plain.URL + samlsp.PathMetadata, CAFile: ca}
	ctx := context.Background()

	// No CA file yet: nothing verifies the https answer.
	if _, err := e.idp.fetch(ctx, src); err == nil || !strings.Contains(err.Error(), "CA file") {
		t.Fatalf("without the CA file: %v", err)
	}
	// Another certificate in the CA file: refused.
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := selfSigned(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, ca, other.Raw)
	if _, err := e.idp.fetch(ctx, src); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("with another CA: %v", err)
	}
	// The server's certificate written later: read at fetch time.
	writePEM(t, ca, tlsSrv.Certificate().Raw)
	got, err := e.idp.fetch(ctx, src)
	if err != nil || !bytes.Equal(got, md) {
		t.Fatalf("after the redirect to TLS: %v", err)
	}
	// localhost is another host than 127.0.0.1 here.
	target.Store(strings.Replace(tlsSrv.URL, "127.0.0.1", "localhost", 1))
	if _, err := e.idp.fetch(ctx, src); err == nil || !strings.Contains(err.Error(), "another host") {
		t.Fatalf("redirect to another host: %v", err)
	}
	target.Store(tlsSrv.URL)
	huge := bytes.Repeat([]byte("x"), fetchMaxBytes+1)
	body.Store(&huge)
	if _, err := e.idp.fetch(ctx, src); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized metadata: %v", err)
	}
}

func writePEM(t *testing.T, path string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}
