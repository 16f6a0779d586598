package idp

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"crypto/rand"
	"crypto/rsa"

	"github.com/cmtls/cmtls/daemon/samlsp"
	"github.com/cmtls/cmtls/remote/browser"
)

// cdp is a minimal Chrome DevTools Protocol client over
// --remote-debugging-pipe: JSON messages separated by NUL bytes, commands on
// the browser's fd 3, answers and events on its fd 4.
type cdp struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	mu      sync.Mutex
	nextID  int64
	waiting map[int64]chan cdpMsg
	session string
	stderr  *syncBuf
	done    chan struct{}
}

type cdpMsg struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Params    any             `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// startChromium runs headless Chromium with a throwaway profile, or skips
// the test loudly when it is not installed.
func startChromium(t *testing.T, flags ...string) *cdp {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("SKIPPED: chromium is not installed (Debian package chromium); the real-browser SAML login is NOT tested here")
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &cdp{in: inW, waiting: map[int64]chan cdpMsg{}, stderr: &syncBuf{}, done: make(chan struct{})}
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--remote-debugging-pipe"}, flags...)
	c.cmd = exec.Command(bin, append(args, "about:blank")...)
	c.cmd.ExtraFiles = []*os.File{inR, outW}
	c.cmd.Stderr = c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	inR.Close()
	outW.Close()
	go c.read(outR)
	t.Cleanup(func() {
		inW.Close()
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
		<-c.done
	})
	return c
}

func (c *cdp) read(r io.ReadCloser) {
	defer close(c.done)
	defer r.Close()
	br := bufio.NewReader(r)
	for {
		b, err := br.ReadBytes(0)
		if err != nil {
			c.mu.Lock()
			for id, ch := range c.waiting {
				close(ch)
				delete(c.waiting, id)
			}
			c.mu.Unlock()
			return
		}
		var m cdpMsg
		if json.Unmarshal(b[:len(b)-1], &m) != nil || m.ID == 0 {
			continue // events are not needed: the test waits on page state
		}
		c.mu.Lock()
		ch := c.waiting[m.ID]
		delete(c.waiting, m.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
}

// call sends a command (to the attached page once there is one) and waits
// for its answer.
func (c *cdp) call(ctx context.Context, method string, params any, result any) error {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	ch := make(chan cdpMsg, 1)
	c.waiting[id] = ch
	session := c.session
	c.mu.Unlock()
	b, err := json.Marshal(cdpMsg{ID: id, Method: method, SessionID: session, Params: params})
	if err != nil {
		return err
	}
	if _, err := c.in.Write(append(b, 0)); err != nil {
		return fmt.Errorf("%s: %w (chromium stderr: %s)", method, err, c.stderr)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: chromium exited (stderr: %s)", method, c.stderr)
		}
		if m.Error != nil {
			return fmt.Errorf("%s: %s", method, m.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(m.Result, result)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// openPage creates a page target and attaches to it (flat session).
func (c *cdp) openPage(ctx context.Context) error {
	var tgt struct {
		TargetID string `json:"targetId"`
	}
	if err := c.call(ctx, "Target.createTarget", map[string]any{"url": "about:blank"}, &tgt); err != nil {
		return err
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := c.call(ctx, "Target.attachToTarget", map[string]any{"targetId": tgt.TargetID, "flatten": true}, &att); err != nil {
		return err
	}
	c.mu.Lock()
	c.session = att.SessionID
	c.mu.Unlock()
	return c.call(ctx, "Page.enable", nil, nil)
}

func (c *cdp) navigate(ctx context.Context, u string) error {
	return c.call(ctx, "Page.navigate", map[string]any{"url": u}, nil)
}

// eval runs JavaScript in the page and returns its value as a string.
func (c *cdp) eval(ctx context.Context, js string) (string, error) {
	var res struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := c.call(ctx, "Runtime.evaluate", map[string]any{"expression": js, "returnByValue": true}, &res); err != nil {
		return "", err
	}
	if res.Exception != nil {
		return "", errors.New(res.Exception.Text)
	}
	return fmt.Sprint(res.Result.Value), nil
}

// waitFor waits until js evaluates to "true" in the page (navigations in
// between are expected), failing at the deadline with the page it is on.
func (c *cdp) waitFor(ctx context.Context, t *testing.T, what, js string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if v, err := c.eval(ctx, js); err == nil && v == "true" {
			return
		}
		select {
		case <-ctx.Done():
			where, _ := c.eval(context.Background(), "location.href + ' :: ' + document.body.innerText")
			t.Fatalf("waiting for %s: %v; page: %s", what, ctx.Err(), where)
		case <-tick.C:
		}
	}
}

// A person's SP-initiated login in headless Chromium through the test IdP's
// form, a login-CSRF page that tries to make the browser another user, and
// a logout. The SP is opened as localhost and the IdP as
// 127.0.0.1: two sites, so the IdP's auto-submitted POST to the ACS is
// cross-site and Chromium sends no Lax cookie with it, as in production
// with CM and an IdP on other domains.
//
// The slow login: the tracking cookie is SameSite=Lax explicitly (plain
// HTTP), so Chromium's two-minute "Lax+POST" grace for cookies without a
// SameSite attribute never applies and the POST lacks the cookie whether
// the login takes two seconds or ten minutes; the SP completes it at
// /saml/continue. Chromium's own clock cannot be moved from here, so the
// SP's clock (Config.Now) jumps three minutes while the IdP's form is open:
// the pending login, kept on the server, is still valid.
func TestChromiumLoginAndLogout(t *testing.T) {
	t.Parallel()
	c := startChromium(t)
	e := &env{spLog: &syncBuf{}, idpLog: &syncBuf{}}
	il, sl := listen(t), listen(t)
	e.idpURL = "http://" + il.Addr().String()
	e.spURL = "http://localhost:" + strings.TrimPrefix(sl.Addr().String(), "127.0.0.1:")
	var err error
	e.idp, err = New(Config{
		BaseURL: e.idpURL,
		Users: []User{
			{Name: "alice", Password: "alicepass", OU: []string{"cm-admins"}},
			{Name: "bob", Password: "bobpass", OU: []string{"cm-users"}},
		},
		Logger: slog.New(slog.NewTextHandler(e.idpLog, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	serveHTTP(t, il, e.idp.Handler())
	md, key, cert := spIdentity(t, e.idp)
	var skew atomic.Int64
	if e.sp, err = samlsp.New(samlsp.Config{
		IdPMetadata: md, Key: key, Certificate: cert, BaseURL: e.spURL,
		AdminValues: []string{"cm-admins"}, UserValues: []string{"cm-users"},
		Logger: slog.New(slog.NewTextHandler(e.spLog, nil)),
		Now:    func() time.Time { return time.Now().Add(time.Duration(skew.Load())) },
	}); err != nil {
		t.Fatal(err)
	}
	serveHTTP(t, sl, e.sp)
	if _, err := e.idp.RegisterSP(e.sp.Metadata()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fail := func(format string, args ...any) {
		t.Helper()
		where, _ := c.eval(ctx, "location.href + ' :: ' + document.body.innerText")
		t.Fatalf(format+"\npage: %s\nsp log: %s\nidp log: %s", append(args, where, e.spLog, e.idpLog)...)
	}
	if err := c.openPage(ctx); err != nil {
		t.Fatal(err)
	}

	// The SP sends the browser to the IdP's form.
	if err := c.navigate(ctx, e.spURL+"/"); err != nil {
		t.Fatal(err)
	}
	c.waitFor(ctx, t, "the IdP login form", `location.origin === `+jsString(e.idpURL)+` && !!document.querySelector('input[name=password]')`)
	skew.Store(int64(3 * time.Minute))
	if _, err := c.eval(ctx, `document.querySelector('input[name=username]').value = 'alice';
		document.querySelector('input[name=password]').value = 'alicepass';
		document.querySelector('button[type=submit]').click(); true`); err != nil {
		t.Fatal(err)
	}
	c.waitFor(ctx, t, "the SP home page as admin", `location.origin === `+jsString(e.spURL)+` && document.querySelector('#role') !== null && document.querySelector('#role').dataset.role === 'admin'`)
	for _, want := range []string{"handed over to /saml/continue", "saml: login", "idpInitiated=false"} {
		if !strings.Contains(e.spLog.String(), want) {
			fail("sp log lacks %q", want)
		}
	}

	// Login CSRF: a page on another site auto-posts bob's unsolicited
	// response to the SP. Chromium sends no cookie with that POST; at
	// /saml/continue it shows alice's session, so the SP asks instead of
	// making this browser bob.
	attack := attackerPage(t, e, ctx)
	if err := c.navigate(ctx, attack); err != nil {
		t.Fatal(err)
	}
	c.waitFor(ctx, t, "the switch-user confirmation", `!!document.querySelector('#confirm-switch') && document.querySelector('#current').innerText === 'alice' && document.querySelector('#new').innerText === 'bob'`)
	if err := c.navigate(ctx, e.spURL+"/"); err != nil {
		t.Fatal(err)
	}
	c.waitFor(ctx, t, "alice still logged in", `location.origin === `+jsString(e.spURL)+` && document.querySelector('#user') !== null && document.querySelector('#user').innerText === 'alice'`)

	// Opening the logout URL asks and ends nothing.
	if err := c.navigate(ctx, e.spURL+samlsp.PathLogout); err != nil {
		t.Fatal(err)
	}
	c.waitFor(ctx, t, "the logout confirmation", `!!document.querySelector('#logout-confirm')`)
	if err := c.navigate(ctx, e.spURL+"/"); err != nil {
		t.Fatal(err)
	}
	c.waitFor(ctx, t, "the home page again", `location.origin === `+jsString(e.spURL)+` && !!document.querySelector('#role')`)

	// Confirming logs out of the SP and, by Single Logout, of the IdP.
	if err := c.navigate(ctx, e.spURL+samlsp.PathLogout); err != nil {
		t.Fatal(err)
	}
	c.waitFor(ctx, t, "the logout confirmation", `!!document.querySelector('#logout')`)
	if _, err := c.eval(ctx, `document.querySelector('#logout').click(); true`); err != nil {
		t.Fatal(err)
	}
	c.waitFor(ctx, t, "the logged-out page", `!!document.querySelector('#logged-out') && document.body.innerText.includes('identity provider')`)
	if err := c.navigate(ctx, e.spURL+"/"); err != nil {
		t.Fatal(err)
	}
	c.waitFor(ctx, t, "the IdP login form after logout", `location.origin === `+jsString(e.idpURL)+` && !!document.querySelector('input[name=password]')`)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// attackerPage logs bob in at the IdP with a plain HTTP client, keeps the
// IdP-initiated response it would post to the SP, and serves it from a
// third origin as an auto-submitting form: what a login-CSRF page does.
func attackerPage(t *testing.T, e *env, ctx context.Context) string {
	t.Helper()
	b := browser.NewBrowser(nil)
	p, err := b.Get(ctx, e.idpURL+PathIdPInitiated+"?sp="+url.QueryEscape(e.sp.EntityID())+"&RelayState=%2F")
	if err != nil || len(p.Forms()) == 0 {
		t.Fatalf("IdP login form: %v", err)
	}
	if p, err = b.Submit(ctx, p, p.Forms()[0], map[string]string{"username": "bob", "password": "bobpass"}); err != nil {
		t.Fatal(err)
	}
	var resp string
	for _, f := range p.Forms() {
		if v := f.Fields.Get("SAMLResponse"); v != "" {
			resp = v
		}
	}
	if resp == "" {
		t.Fatalf("no SAMLResponse for bob: %s", p.Body)
	}
	page := `<!DOCTYPE html><html><body><form method="post" action="` + html.EscapeString(e.sp.ACSURL()) + `">` +
		`<input type="hidden" name="SAMLResponse" value="` + html.EscapeString(resp) + `">` +
		`<input type="hidden" name="RelayState" value="/"></form><script>document.forms[0].submit()</script></body></html>`
	l := listen(t)
	serveHTTP(t, l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, page)
	}))
	return "http://" + l.Addr().String() + "/"
}

// Over HTTPS the tracking cookie is SameSite=None; Secure, so Chromium
// sends it with the IdP's cross-site POST and the login completes at the
// ACS, without the hand-over. The SP's certificate (for localhost, made
// here) is trusted by Chromium through its SPKI pin
// (--ignore-certificate-errors-spki-list accepts that one key only).
func TestChromiumLoginOverHTTPS(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	c := startChromium(t, "--ignore-certificate-errors-spki-list="+base64.StdEncoding.EncodeToString(spki[:]))

	e := &env{spLog: &syncBuf{}, idpLog: &syncBuf{}}
	il, sl := listen(t), listen(t)
	e.idpURL = "http://" + il.Addr().String()
	e.spURL = "https://localhost:" + strings.TrimPrefix(sl.Addr().String(), "127.0.0.1:")
	if e.idp, err = New(Config{BaseURL: e.idpURL, Users: []User{{Name: "alice", Password: "alicepass", OU: []string{"cm-admins"}}},
		Logger: slog.New(slog.NewTextHandler(e.idpLog, nil))}); err != nil {
		t.Fatal(err)
	}
	serveHTTP(t, il, e.idp.Handler())
	md, err := e.idp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	spKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	spCert, err := selfSigned(spKey)
	if err != nil {
		t.Fatal(err)
	}
	if e.sp, err = samlsp.New(samlsp.Config{IdPMetadata: md, Key: spKey, Certificate: spCert, BaseURL: e.spURL,
		AdminValues: []string{"cm-admins"}, Logger: slog.New(slog.NewTextHandler(e.spLog, nil))}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e.sp, ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}}
	go func() { _ = srv.ServeTLS(sl, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	if _, err := e.idp.RegisterSP(e.sp.Metadata()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.openPage(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.navigate(ctx, e.spURL+"/"); err != nil {
		t.Fatal(err)
	}
	c.waitFor(ctx, t, "the IdP login form", `location.origin === `+jsString(e.idpURL)+` && !!document.querySelector('input[name=password]')`)
	if _, err := c.eval(ctx, `document.querySelector('input[name=username]').value = 'alice';
		document.querySelector('input[name=password]').value = 'alicepass';
		document.querySelector('button[type=submit]').click(); true`); err != nil {
		t.Fatal(err)
	}
	c.waitFor(ctx, t, "the SP home page as admin", `location.origin === `+jsString(e.spURL)+` && document.querySelector('#role') !== null && document.querySelector('#role').dataset.role === 'admin'`)
	if log := e.spLog.String(); !strings.Contains(log, "saml: login") || strings.Contains(log, "handed over") {
		t.Fatalf("over HTTPS the POST should have carried the tracking cookie: %s", log)
	}
}
