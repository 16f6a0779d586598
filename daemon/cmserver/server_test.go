package cmserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmtls/cmtls/pki/pkitest"
	"github.com/cmtls/cmtls/remote/cmapi"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
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

const adminPW = "admin-Pw1"

type running struct {
	srv                *Server
	http, https, agent string // host:port
	log                *syncBuf
	settingsPath       string
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func start(t testing.TB, settings Settings, mod func(*Config)) *running {
	t.Helper()
	r := &running{log: &syncBuf{}, settingsPath: filepath.Join(t.TempDir(), "settings.json")}
	cfg := Config{AdminUser: "admin", AdminPassword: []byte(adminPW), Settings: settings, SettingsPath: r.settingsPath, Log: r.log}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v\nlog:\n%s", err, r.log)
	}
	ls := Listeners{HTTP: listen(t), Agent: listen(t)}
	if srv.NeedsHTTPS() {
		ls.HTTPS = listen(t)
		r.https = ls.HTTPS.Addr().String()
	}
	r.srv, r.http, r.agent = srv, ls.HTTP.Addr().String(), ls.Agent.Addr().String()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ls) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return r
}

func must(t testing.TB, s Settings, kv ...string) Settings {
	t.Helper()
	for i := 0; i < len(kv); i += 2 {
		if err := s.Set(kv[i], kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func heartbeat(t testing.TB, c *http.Client, url string, hb Heartbeat) HeartbeatResponse {
	t.Helper()
	b, _ := json.Marshal(hb)
	resp, err := c.Post(url+HeartbeatPath, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r HeartbeatResponse
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("heartbeat: %s %s", resp.Status, body)
	}
	json.NewDecoder(resp.Body).Decode(&r)
	return r
}

func TestAPIWithClient(t *testing.T) {
	t.Parallel()
	r := start(t, Settings{}, nil)
	ctx := context.Background()
	c, err := cmapi.New("http://"+r.http, "admin", []byte(adminPW))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := c.APIVersion(ctx); err != nil || v != r.srv.Profile().APIVersion() {
		t.Fatalf("APIVersion = %q, %v", v, err)
	}
	if v, err := c.CMVersion(ctx); err != nil || v.Version != r.srv.Profile().Version {
		t.Fatalf("CMVersion = %+v, %v", v, err)
	}
	hr := heartbeat(t, httpClient(), "http://"+r.agent, Heartbeat{HostID: "id-1", Hostname: "agent1", AgentVersion: "x"})
	if hr.ServerGUID != r.srv.GUID() || hr.IntervalSeconds != 15 {
		t.Fatalf("heartbeat response = %+v", hr)
	}
	hosts, err := c.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 1 || hosts[0].HostID != "id-1" || hosts[0].Hostname != "agent1" || hosts[0].IPAddress != "127.0.0.1" ||
		hosts[0].HealthSummary != "GOOD" || time.Since(hosts[0].LastHeartbeat) > time.Minute {
		t.Fatalf("hosts = %+v", hosts)
	}
	if rec := r.srv.Hosts(); len(rec) != 1 || rec[0].TLS.Enabled {
		t.Fatalf("server's host records = %+v", rec)
	}
	// Config: display names, defaults, sensitive values never returned.
	if err := c.SetConfig(ctx, map[string]string{"agent_tls": "true", KeystorePath: "/x/cm.keystore", KeystorePassword: "Sup3rSecret", SAMLEntityID: "cm-sp"}); err != nil {
		t.Fatal(err)
	}
	items, err := c.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ display, name, value string }{
		{"Use TLS Encryption for Agents", AgentTLS, "true"},
		{"Cloudera Manager TLS/SSL Server JKS Keystore File Password", KeystorePassword, "REDACTED"},
		{"SAML Entity ID", SAMLEntityID, "cm-sp"},
		{"Path to SAML IDP Metadata File", SAMLIdPMetadataPath, ""},
		{"External Authentication Type", ExternalAuthType, ""},
	} {
		it, ok := cmapi.FindByDisplayName(items, tc.display)
		if !ok || it.Name != tc.name || it.Value != tc.value {
			t.Errorf("%q = %+v, %v; want name %s value %q", tc.display, it, ok, tc.name, tc.value)
		}
	}
	// The role attribute defaults to ou, the OID the seed names.
	if it, ok := cmapi.FindByDisplayName(items, "SAML Attribute Identifier for User Role"); !ok || it.Default != "urn:oid:2.5.4.11" || it.Value != "" {
		t.Errorf("role attribute = %+v, %v; want default urn:oid:2.5.4.11", it, ok)
	}
	// Saved 0600, password in the file (CM's database), never in the log.
	fi, err := os.Stat(r.settingsPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("settings file mode: %v %v", fi, err)
	}
	saved, err := LoadSettings(r.settingsPath)
	if err != nil || saved.Get(KeystorePassword) != "Sup3rSecret" || !saved.Bool(AgentTLS) {
		t.Fatalf("saved settings = %v, %v", saved, err)
	}
	if strings.Contains(r.log.String(), "Sup3rSecret") {
		t.Fatal("keystore password in the server log")
	}
	// Saved settings take effect on restart only, as in CM.
	if r.srv.AgentTLS() {
		t.Fatal("AGENT_TLS took effect without a restart")
	}
	if err := c.RestartManagementService(ctx); err != nil || r.srv.Restarts() != 1 {
		t.Fatalf("restart: %v, %d", err, r.srv.Restarts())
	}
}

// cm7 makes a test server imitate CM 7.5.3 (API v45).
func cm7(c *Config) { c.Profile, _ = LookupProfile("7.5.3") }

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	r := start(t, Settings{}, cm7)
	base := "http://" + r.http
	do := func(method, path, user, pw, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		resp, err := httpClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m struct{ Message string }
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m.Message
	}
	for _, tc := range []struct {
		method, path, user, pw, body string
		status                       int
		msg                          string
	}{
		{"GET", "/api/v41/hosts", "", "", "", 401, "Full authentication is required to access this resource"},
		{"GET", "/api/v41/hosts", "admin", "nope", "", 401, "Bad credentials"},
		{"GET", "/api/v99/hosts", "admin", adminPW, "", 404, `Unsupported API version "v99"; this server offers up to v45`},
		{"GET", "/api/v41/hosts/nosuch", "admin", adminPW, "", 404, "Host 'nosuch' not found."},
		{"PUT", "/api/v41/cm/config", "admin", adminPW, `{"items":[{"name":"AGENT_TLS","value":"maybe"}]}`, 400, `invalid value "maybe" for AGENT_TLS; options are true, false`},
		{"PUT", "/api/v41/cm/config", "admin", adminPW, `{"items":[{"name":"NO_SUCH","value":"1"}]}`, 400, `unknown configuration attribute "NO_SUCH"`},
		{"PUT", "/api/v41/cm/config", "admin", adminPW, `{`, 400, "Invalid JSON: unexpected EOF"},
	} {
		st, msg := do(tc.method, tc.path, tc.user, tc.pw, tc.body)
		if st != tc.status || msg != tc.msg {
			t.Errorf("%s %s = %d %q; want %d %q", tc.method, tc.path, st, msg, tc.status, tc.msg)
		}
	}
	if _, err := os.Stat(r.settingsPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused PUT wrote the settings file")
	}
	if !strings.Contains(r.log.String(), "Authentication failure for user: 'admin'") {
		t.Errorf("log:\n%s", r.log)
	}
}

func TestHealthRule(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := now
	var mu sync.Mutex
	r := start(t, must(t, Settings{}, HeartbeatInterval, "2", MissedHBConcern, "3", MissedHBBad, "5"), func(c *Config) {
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	})
	heartbeat(t, httpClient(), "http://"+r.agent, Heartbeat{HostID: "h", Hostname: "agent1"})
	c, _ := cmapi.New("http://"+r.http, "admin", []byte(adminPW))
	for _, tc := range []struct {
		after time.Duration
		want  string
	}{{0, "GOOD"}, {6 * time.Second, "GOOD"}, {7 * time.Second, "CONCERNING"}, {10 * time.Second, "CONCERNING"}, {11 * time.Second, "BAD"}} {
		mu.Lock()
		clock = now.Add(tc.after)
		mu.Unlock()
		hosts, err := c.Hosts(context.Background())
		if err != nil || len(hosts) != 1 || hosts[0].HealthSummary != tc.want {
			t.Errorf("after %v: %+v %v; want %s", tc.after, hosts, err, tc.want)
		}
	}
}

func TestKeystoreRefusals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jks")
	os.WriteFile(good, pkitest.SelfSignedKeystore(t, "jks", "jetty", "localhost", []string{"localhost"}, []byte("changeit")), 0o600)
	noread := filepath.Join(dir, "noread.jks")
	os.WriteFile(noread, []byte("x"), 0o000)
	missing := filepath.Join(dir, "missing.keystore")
	for _, tc := range []struct {
		name, path, pass, alias, wantLog string
	}{
		{"missing", missing, "changeit", "", "org.apache.avro.AvroRuntimeException: java.io.FileNotFoundException: " + missing + " (No such file or directory)"},
		{"wrong password", good, "wrongpass", "", "Keystore was tampered with, or password was incorrect"},
		{"no such alias", good, "changeit", "cmserver", "No such alias cmserver"},
		{"unreadable", noread, "changeit", "", "(Permission denied)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "unreadable" && os.Geteuid() == 0 {
				t.Skip("root reads any file")
			}
			log := &syncBuf{}
			s := must(t, Settings{}, AgentTLS, "true", KeystorePath, tc.path, KeystorePassword, tc.pass)
			if tc.alias != "" {
				must(t, s, KeystoreAlias, tc.alias)
			}
			_, err := New(Config{AdminUser: "admin", AdminPassword: []byte("x"), Settings: s, Log: log})
			var ke *KeystoreError
			if !errors.As(err, &ke) {
				t.Fatalf("New = %v, want a KeystoreError", err)
			}
			if !strings.Contains(log.String(), tc.wantLog) || !strings.Contains(log.String(), "ERROR main:com.cloudera.server.cmf.Main: Server failed.") {
				t.Fatalf("log lacks %q:\n%s", tc.wantLog, log)
			}
			if strings.Contains(log.String(), tc.pass) {
				t.Fatal("password logged")
			}
		})
	}
}

// keytoolKeystore makes a keystore with the JDK's keytool, the way Step 2
// of the procedure does, and exports its certificate as PEM.
func keytoolKeystore(t *testing.T, storetype string) (ks, pemPath string) {
	t.Helper()
	if _, err := exec.LookPath("keytool"); err != nil {
		t.Skip("keytool not installed")
	}
	dir := t.TempDir()
	ks = filepath.Join(dir, "cm.keystore")
	pemPath = filepath.Join(dir, "server.pem")
	run := func(args ...string) {
		out, err := exec.Command("keytool", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("keytool %v: %v\n%s", args, err, out)
		}
	}
	run("-genkeypair", "-noprompt", "-keystore", ks, "-storetype", storetype, "-alias", "jetty", "-keyalg", "RSA", "-keysize", "2048",
		"-dname", "CN=localhost, OU=IT, O=cmtls, C=US", "-ext", "san=dns:localhost", "-validity", "30",
		"-storepass", "changeit", "-keypass", "changeit")
	run("-exportcert", "-rfc", "-keystore", ks, "-storepass", "changeit", "-alias", "jetty", "-file", pemPath)
	return ks, pemPath
}

func TestTLSWithRealPeers(t *testing.T) {
	t.Parallel()
	for _, storetype := range []string{"JKS", "PKCS12"} {
		t.Run(storetype, func(t *testing.T) {
			t.Parallel()
			ks, pemPath := keytoolKeystore(t, storetype)
			tctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			t.Cleanup(cancel)
			r := start(t, must(t, Settings{}, AgentTLS, "true", WebTLS, "true", KeystorePath, ks, KeystorePassword, "changeit"), nil)
			_, agentPort, _ := net.SplitHostPort(r.agent)
			_, httpsPort, _ := net.SplitHostPort(r.https)

			// openssl s_client verifies chain and host name on 7182 and 7183.
			if _, err := exec.LookPath("openssl"); err == nil {
				for _, addr := range []string{r.agent, r.https} {
					cmd := exec.CommandContext(tctx, "openssl", "s_client", "-connect", addr, "-servername", "localhost",
						"-verify_hostname", "localhost", "-CAfile", pemPath, "-verify_return_error", "-brief")
					cmd.Stdin = strings.NewReader("")
					out, err := cmd.CombinedOutput()
					if err != nil || !strings.Contains(string(out), "Verification: OK") {
						t.Errorf("openssl s_client %s: %v\n%s", addr, err, out)
					}
					// A wrong name is refused by the same client.
					cmd = exec.CommandContext(tctx, "openssl", "s_client", "-connect", addr, "-verify_hostname", "cm1.example.com",
						"-CAfile", pemPath, "-verify_return_error", "-brief")
					cmd.Stdin = strings.NewReader("")
					if out, err := cmd.CombinedOutput(); err == nil {
						t.Errorf("openssl accepted a wrong host name:\n%s", out)
					}
				}
			}
			// curl --cacert against the API on 7183 and a heartbeat on 7182.
			if _, err := exec.LookPath("curl"); err == nil {
				out, err := exec.CommandContext(tctx, "curl", "-sS", "--fail", "--cacert", pemPath, "--resolve", "localhost:"+httpsPort+":127.0.0.1",
					"-u", "admin:"+adminPW, "https://localhost:"+httpsPort+"/api/version").CombinedOutput()
				if err != nil || string(out) != r.srv.Profile().APIVersion() {
					t.Errorf("curl api: %v %q", err, out)
				}
				out, err = exec.CommandContext(tctx, "curl", "-sS", "--fail", "--cacert", pemPath, "--resolve", "localhost:"+agentPort+":127.0.0.1",
					"-H", "Content-Type: application/json", "--data", `{"hostId":"curl-1","hostname":"curlhost","tls":{"enabled":true,"verified":true}}`,
					"https://localhost:"+agentPort+HeartbeatPath).CombinedOutput()
				if err != nil || !strings.Contains(string(out), r.srv.GUID()) {
					t.Errorf("curl heartbeat: %v %q", err, out)
				}
				if h := r.srv.Hosts(); len(h) != 1 || h[0].TLS != (TLSState{true, true}) {
					t.Errorf("hosts after curl heartbeat: %+v", h)
				}
			}
			// 7180 redirects to 7183, and the API client follows it.
			noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := noFollow.Get("http://" + r.http + "/cmf/home")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if loc := resp.Header.Get("Location"); resp.StatusCode != 302 || loc != "https://127.0.0.1:"+httpsPort+"/cmf/home" {
				t.Errorf("redirect = %d %q", resp.StatusCode, loc)
			}
			c, err := cmapi.New("http://localhost:"+portOnly(r.http), "admin", []byte(adminPW), cmapi.WithCAFile(pemPath))
			if err != nil {
				t.Fatal(err)
			}
			if v, err := c.APIVersion(context.Background()); err != nil || v != r.srv.Profile().APIVersion() {
				t.Errorf("API through redirect: %q %v", v, err)
			}
			// Plain HTTP to the TLS agent port is refused.
			if _, err := httpClient().Post("http://"+r.agent+HeartbeatPath, "application/json", strings.NewReader("{}")); err == nil {
				resp, _ := httpClient().Post("http://"+r.agent+HeartbeatPath, "application/json", strings.NewReader("{}"))
				if resp != nil && resp.StatusCode == 200 {
					t.Error("plain heartbeat accepted on the TLS port")
				}
			}
		})
	}
}

func portOnly(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

func TestConsoleLogin(t *testing.T) {
	t.Parallel()
	r := start(t, Settings{}, nil)
	jarClient := func() *http.Client {
		c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		return c
	}()
	resp, err := jarClient.Get("http://" + r.http + "/cmf/home")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "/cmf/login" {
		t.Fatalf("home without session = %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	login := func(pw string) *http.Response {
		resp, err := jarClient.PostForm("http://"+r.http+"/j_spring_security_check", map[string][]string{"j_username": {"admin"}, "j_password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := login("wrong"); resp.Header.Get("Location") != "/cmf/localLogin?error" {
		t.Fatalf("bad login = %s", resp.Header.Get("Location"))
	}
	resp = login(adminPW)
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "SESSION" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly {
		t.Fatalf("no SESSION cookie: %v", resp.Cookies())
	}
	req, _ := http.NewRequest("GET", "http://"+r.http+"/cmf/home", nil)
	req.AddCookie(cookie)
	resp, err = jarClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Logged in as admin (ADMIN)") {
		t.Fatalf("home = %d %s", resp.StatusCode, body)
	}
	// Without SAML, logout ends the local session and shows the login page.
	req, _ = http.NewRequest("GET", "http://"+r.http+"/cmf/logout", nil)
	req.AddCookie(cookie)
	if resp, err = jarClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "/cmf/login" {
		t.Fatalf("logout = %d -> %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	req, _ = http.NewRequest("GET", "http://"+r.http+"/cmf/home", nil)
	req.AddCookie(cookie)
	if resp, err = jarClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "/cmf/login" {
		t.Fatalf("home after logout = %d -> %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// fakeSP stands in for daemon/samlsp: it proves the mount and the session hook.
type fakeSP struct{ entity string }

func (f *fakeSP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "sp %s %s", f.entity, r.URL.Path)
}
func (f *fakeSP) SessionUser(r *http.Request) (string, string, bool) {
	if c, err := r.Cookie("sp"); err == nil {
		return c.Value, "ROLE_USER", true
	}
	return "", "", false
}

func TestSAMLHook(t *testing.T) {
	t.Parallel()
	var gotBase string
	r := start(t, must(t, Settings{}, ExternalAuthType, "SAML", SAMLEntityID, "cm-test"), func(c *Config) {
		c.SAML = func(s Settings, baseURL string, _ *slogLogger) (http.Handler, error) {
			gotBase = baseURL
			if s.Get(SAMLIdPMetadataPath) == "/bad" {
				return nil, errors.New("idp metadata unreadable")
			}
			return &fakeSP{entity: s.Get(SAMLEntityID)}, nil
		}
	})
	if gotBase == "" {
		t.Fatal("factory not called")
	}
	get := func(path string, cookie *http.Cookie) (*http.Response, string) {
		c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, _ := http.NewRequest("GET", "http://"+r.http+path, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	if _, body := get("/saml/metadata", nil); body != "sp cm-test /saml/metadata" {
		t.Fatalf("saml mount = %q", body)
	}
	if resp, _ := get("/cmf/home", nil); resp.Header.Get("Location") != "/saml/login" {
		t.Fatalf("home without SAML session -> %q", resp.Header.Get("Location"))
	}
	if resp, body := get("/cmf/home", &http.Cookie{Name: "sp", Value: "alice"}); resp.StatusCode != 200 || !strings.Contains(body, "Logged in as alice (USER)") {
		t.Fatalf("home with SAML session = %d %s", resp.StatusCode, body)
	}
	// The console's logout is Single Logout through the SP.
	if resp, _ := get("/cmf/logout", &http.Cookie{Name: "sp", Value: "alice"}); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/saml/logout" {
		t.Fatalf("logout with SAML = %d -> %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A PUT that breaks SAML is refused at save time.
	c, _ := cmapi.New("http://"+r.http, "admin", []byte(adminPW))
	err := c.SetConfig(context.Background(), map[string]string{SAMLIdPMetadataPath: "/bad"})
	var ae *cmapi.APIError
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Message, "idp metadata unreadable") {
		t.Fatalf("PUT bad SAML = %v", err)
	}
	// And a start with a failing factory is refused.
	_, err = New(Config{AdminUser: "a", AdminPassword: []byte("b"), Settings: must(t, Settings{}, ExternalAuthType, "SAML", SAMLIdPMetadataPath, "/bad"),
		SAML: func(s Settings, _ string, _ *slogLogger) (http.Handler, error) {
			return nil, errors.New("idp metadata unreadable")
		}})
	if err == nil {
		t.Fatal("start with broken SAML accepted")
	}
}
