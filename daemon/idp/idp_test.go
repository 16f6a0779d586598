package idp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmtls/cmtls/daemon/samlsp"
	"github.com/cmtls/cmtls/remote/browser"
)

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	idp           *Server
	sp            *samlsp.SP
	idpURL, spURL string
	spLog, idpLog *syncBuf
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func serveHTTP(t *testing.T, l net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
}

func start(t *testing.T, mod func(*samlsp.Config)) *env {
	t.Helper()
	e := &env{spLog: &syncBuf{}, idpLog: &syncBuf{}}
	il, sl := listen(t), listen(t)
	e.idpURL, e.spURL = "http://"+il.Addr().String(), "http://"+sl.Addr().String()
	var err error
	e.idp, err = New(Config{
		BaseURL: e.idpURL,
		Users: []User{
			{Name: "alice", Password: "alicepass", OU: []string{"cm-admins"}},
			{Name: "bob", Password: "bobpass", OU: []string{"cm-users"}},
			{Name: "mallory", Password: "mallorypass", OU: []string{"sales"}},
		},
		// The IdP loads the SP's metadata from the SP itself at its first
		// request, as the sandbox's IdP does.
		SPMetadata: []MetadataSource{{URL: e.spURL + samlsp.PathMetadata}},
		Logger:     slog.New(slog.NewTextHandler(e.idpLog, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.idp.Serve(il) }()
	t.Cleanup(func() { _ = e.idp.Shutdown(context.Background()) })

	md, key, cert := spIdentity(t, e.idp)
	cfg := samlsp.Config{
		IdPMetadata: md, Key: key, Certificate: cert, BaseURL: e.spURL,
		AdminValues: []string{"cm-admins"}, UserValues: []string{"cm-users"},
		Logger: slog.New(slog.NewTextHandler(e.spLog, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	if e.sp, err = samlsp.New(cfg); err != nil {
		t.Fatal(err)
	}
	serveHTTP(t, sl, e.sp)
	return e
}

func (e *env) fail(t *testing.T, b *browser.Browser, p *browser.Page, format string, args ...any) {
	t.Helper()
	body := ""
	if p != nil {
		body = p.Body
	}
	t.Fatalf(format+"\ntrace: %s\nbody: %s\nsp log: %s\nidp log: %s", append(args, strings.Join(b.Trace, "\n  "), body, e.spLog, e.idpLog)...)
}

// spLogin opens the SP home page, logs in at the IdP and returns the page
// the browser ends on.
func (e *env) spLogin(t *testing.T, b *browser.Browser, user, pass string) *browser.Page {
	t.Helper()
	ctx := context.Background()
	p, err := b.Get(ctx, e.spURL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.URL.String(), e.idpURL+PathSSO) {
		e.fail(t, b, p, "home page did not redirect to the IdP")
	}
	p, err = b.Login(ctx, p, user, pass)
	if err != nil {
		e.fail(t, b, p, "login: %v", err)
	}
	return p
}

func TestSPInitiatedLoginRoles(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	for _, tc := range []struct{ user, pass, role string }{
		{"alice", "alicepass", "admin"}, {"bob", "bobpass", "user"}, {"mallory", "mallorypass", ""},
	} {
		b := browser.NewBrowser(nil)
		p := e.spLogin(t, b, tc.user, tc.pass)
		if tc.role == "" {
			if p.Status != http.StatusForbidden || !strings.Contains(p.Body, `id="not-authorized"`) {
				e.fail(t, b, p, "%s: want the not-authorized page", tc.user)
			}
			continue
		}
		if p.Status != http.StatusOK || p.URL.String() != e.spURL+"/" ||
			!strings.Contains(p.Body, `<strong id="user">`+tc.user+`</strong>`) || !strings.Contains(p.Body, `data-role="`+tc.role+`"`) {
			e.fail(t, b, p, "%s: want the home page as %s", tc.user, tc.role)
		}
	}
	if !strings.Contains(e.spLog.String(), "encrypted=true") {
		t.Errorf("crewjam's IdP should have encrypted the assertion to our metadata's certificate: %s", e.spLog)
	}
}

func TestWrongPasswordStaysAtIdP(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	b := browser.NewBrowser(nil)
	p := e.spLogin(t, b, "alice", "wrong")
	if p.Status != http.StatusUnauthorized || !strings.Contains(p.Body, "Wrong user name or password") {
		e.fail(t, b, p, "want the IdP's error")
	}
}

func TestIdPInitiatedLogin(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	b := browser.NewBrowser(nil)
	ctx := context.Background()
	p, err := b.Get(ctx, e.idpURL+PathIdPInitiated+"?sp="+url.QueryEscape(e.sp.EntityID())+"&RelayState=/")
	if err != nil {
		t.Fatal(err)
	}
	p, err = b.Login(ctx, p, "bob", "bobpass")
	if err != nil || p.Status != http.StatusOK || !strings.Contains(p.Body, `data-role="user"`) {
		e.fail(t, b, p, "IdP-initiated login: %v", err)
	}
	if !strings.Contains(e.spLog.String(), "idpInitiated=true") {
		t.Errorf("not seen as IdP-initiated: %s", e.spLog)
	}
}

func TestLogoutBothWays(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	ctx := context.Background()

	// SP-initiated: our signed LogoutRequest, the IdP's signed response.
	b := browser.NewBrowser(nil)
	e.spLogin(t, b, "alice", "alicepass")
	p, err := b.Confirm(ctx, e.spURL+samlsp.PathLogout)
	if err != nil || p.Status != http.StatusOK || !strings.Contains(p.Body, "Cloudera Manager and the identity provider") {
		e.fail(t, b, p, "SP-initiated logout: %v", err)
	}
	// Both sessions are gone: the SP sends us to the IdP's login form.
	if p, err = b.Get(ctx, e.spURL+"/"); err != nil || !strings.Contains(p.Body, `name="password"`) {
		e.fail(t, b, p, "still logged in somewhere: %v", err)
	}

	// IdP-initiated: the IdP's signed LogoutRequest ends our session.
	b = browser.NewBrowser(nil)
	e.spLogin(t, b, "bob", "bobpass")
	p, err = b.Get(ctx, e.idpURL+PathLogout+"?sp="+url.QueryEscape(e.sp.EntityID()))
	if err != nil || p.Status != http.StatusOK || !strings.Contains(p.Body, "Logged out of the service provider and the IdP") {
		e.fail(t, b, p, "IdP-initiated logout: %v", err)
	}
	if p, err = b.Get(ctx, e.spURL+"/"); err != nil || !strings.HasPrefix(p.URL.String(), e.idpURL) {
		e.fail(t, b, p, "SP session survived IdP logout: %v", err)
	}
}

func TestUnsignedAuthnRequestRefused(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	b := browser.NewBrowser(nil)
	ctx := context.Background()
	p, err := b.Get(ctx, e.spURL+samlsp.PathLogin)
	if err != nil {
		t.Fatal(err)
	}
	// Strip the signature from the request the SP made.
	u := *p.URL
	var kept []string
	for _, kv := range strings.Split(u.RawQuery, "&") {
		if !strings.HasPrefix(kv, "Signature=") && !strings.HasPrefix(kv, "SigAlg=") {
			kept = append(kept, kv)
		}
	}
	u.RawQuery = strings.Join(kept, "&")
	if p, err = b.Get(ctx, u.String()); err != nil || p.Status != http.StatusForbidden {
		e.fail(t, b, p, "unsigned AuthnRequest accepted: %v", err)
	}
}

// spIdentity is what a test SP needs to trust idp and sign its requests:
// the IdP's metadata and a key with its self-signed certificate.
func spIdentity(t *testing.T, idp *Server) ([]byte, *rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	md, err := idp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := selfSigned(key)
	if err != nil {
		t.Fatal(err)
	}
	return md, key, cert
}
