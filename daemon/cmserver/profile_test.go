package cmserver

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/remote/cmapi/cmapitest"
)

// TestProfileCM7Contract drives the 7.5.3 profile through the client with
// CM's v45 definition judging every exchange.
func TestProfileCM7Contract(t *testing.T) {
	t.Parallel()
	r := start(t, Settings{}, func(c *Config) { cm7(c); c.CommandDuration = 200 * time.Millisecond })
	chk := cmapitest.New(t)
	ctx := context.Background()
	c, err := cmapi.New("http://"+r.http, "admin", []byte(adminPW), cmapi.WithTransport(chk.Transport), cmapi.WithPollInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := c.APIVersion(ctx); err != nil || v != "v45" {
		t.Fatalf("APIVersion = %q, %v", v, err)
	}
	if v, err := c.CMVersion(ctx); err != nil || v.Version != "7.5.3" {
		t.Fatalf("CMVersion = %+v, %v", v, err)
	}
	heartbeat(t, httpClient(), "http://"+r.agent, Heartbeat{HostID: "id-1", Hostname: "agent1.example.com", AgentVersion: "7.5.3"})
	if hosts, err := c.Hosts(ctx); err != nil || len(hosts) != 1 || hosts[0].HealthSummary != "GOOD" {
		t.Fatalf("hosts = %+v, %v", hosts, err)
	}
	if err := c.SetConfig(ctx, map[string]string{AgentTLS: "true", KeystorePassword: "Sup3rSecret"}); err != nil {
		t.Fatal(err)
	}
	items, err := c.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if it, _ := cmapi.FindByName(items, KeystorePassword); it.Value != "REDACTED" {
		t.Errorf("sensitive value read back as %q", it.Value)
	}
	// CM 7 has no "SAML Attribute Values for ROLE_*": roles are mappings.
	if _, ok := cmapi.FindByDisplayName(items, "SAML Attribute Values for ROLE_ADMIN"); ok {
		t.Error("the CM 7 profile lists the CM 5 role value settings")
	}
	if err := c.SetConfig(ctx, map[string]string{SAMLRoleAdminValues: "x"}); err == nil {
		t.Error("the CM 7 profile accepted a CM 5 role value setting")
	}
	// The restart command is asynchronous: the method returns once it ended.
	t0 := time.Now()
	if err := c.RestartManagementService(ctx); err != nil || r.srv.Restarts() != 1 {
		t.Fatalf("restart: %v, %d", err, r.srv.Restarts())
	}
	if d := time.Since(t0); d < 200*time.Millisecond {
		t.Errorf("restart returned after %v, before its command ended", d)
	}
	if ok, err := c.HasManagementService(ctx); !ok || err != nil {
		t.Errorf("HasManagementService = %v, %v", ok, err)
	}
	// Roles and external user mappings.
	roles, err := c.AuthRoles(ctx)
	if err != nil || len(roles) < 2 {
		t.Fatalf("authRoles = %v, %v", roles, err)
	}
	created, err := c.CreateExternalUserMappings(ctx, []cmapi.ExternalUserMapping{
		{Name: "cm-admins", Type: cmapi.MappingSAMLAttribute, AuthRoles: []cmapi.AuthRoleRef{{Name: "ROLE_ADMIN"}}},
		{Name: "cm-users", Type: cmapi.MappingSAMLAttribute, AuthRoles: []cmapi.AuthRoleRef{{Name: "ROLE_USER"}}},
	})
	if err != nil || len(created) != 2 || created[0].UUID == "" || created[0].AuthRoles[0].DisplayName != "Full Administrator" {
		t.Fatalf("create = %+v, %v", created, err)
	}
	if _, err := c.CreateExternalUserMappings(ctx, []cmapi.ExternalUserMapping{{Name: "cm-admins", Type: cmapi.MappingSAMLAttribute}}); err == nil {
		t.Error("a duplicate mapping was accepted")
	}
	m := created[1]
	m.AuthRoles = []cmapi.AuthRoleRef{{Name: "ROLE_OPERATOR"}}
	if err := c.UpdateExternalUserMapping(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got, err := c.ExternalUserMapping(ctx, m.UUID); err != nil || got.AuthRoles[0].Name != "ROLE_OPERATOR" {
		t.Fatalf("after update: %+v, %v", got, err)
	}
	if err := c.DeleteExternalUserMapping(ctx, m.UUID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExternalUserMapping(ctx, m.UUID); !cmapi.IsNotFound(err) {
		t.Errorf("deleted mapping: %v", err)
	}
	if all, err := c.ExternalUserMappings(ctx); err != nil || len(all) != 1 || all[0].Name != "cm-admins" {
		t.Errorf("mappings = %+v, %v", all, err)
	}
	// A local login through the form is a session CM lists.
	jar := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := jar.PostForm("http://"+r.http+"/j_spring_security_check", map[string][]string{"j_username": {"admin"}, "j_password": {adminPW}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if sess, err := c.Sessions(ctx); err != nil || len(sess) != 1 || sess[0].Name != "admin" || sess[0].RemoteAddr != "127.0.0.1" {
		t.Errorf("sessions = %+v, %v", sess, err)
	}
	if u, err := c.User(ctx, "admin"); err != nil || len(u.AuthRoles) != 1 || u.AuthRoles[0].Name != "ROLE_ADMIN" {
		t.Errorf("user admin = %+v, %v", u, err)
	}
	if _, err := c.User(ctx, "nobody"); !cmapi.IsNotFound(err) {
		t.Errorf("unknown user: %v", err)
	}
	if chk.Exchanges() < 20 {
		t.Errorf("the checker judged only %d exchanges", chk.Exchanges())
	}
}

// TestProfileRawAnswers: the status codes and shapes a v45 client sees.
func TestProfileRawAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		version                string
		putStatus, postStatus  int
		mappings, roleSettings bool
	}{
		{"7.5.3", 204, 201, true, false},
		{"5.13.0", 200, 200, false, true},
	} {
		t.Run(tc.version, func(t *testing.T) {
			t.Parallel()
			p, err := LookupProfile(tc.version)
			if err != nil {
				t.Fatal(err)
			}
			r := start(t, Settings{}, func(c *Config) { c.Profile = p })
			do := func(method, path, body string) (int, string) {
				req, _ := http.NewRequest(method, "http://"+r.http+path, strings.NewReader(body))
				req.SetBasicAuth("admin", adminPW)
				resp, err := httpClient().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			if code, body := do("PUT", "/api/v1/cm/config", `{"items":[{"name":"AGENT_TLS","value":"true"}]}`); code != tc.putStatus || (code == 204 && body != "") {
				t.Errorf("PUT /cm/config = %d %q", code, body)
			}
			code, body := do("POST", "/api/v18/cm/service/commands/restart", "")
			if code != tc.postStatus || !strings.Contains(body, `"active":true`) {
				t.Errorf("POST restart = %d %s", code, body)
			}
			if code, _ := do("GET", "/api/v18/externalUserMappings", ""); (code == 200) != tc.mappings {
				t.Errorf("GET externalUserMappings = %d", code)
			}
			_, cfg := do("GET", "/api/v18/cm/config?view=full", "")
			if strings.Contains(cfg, "SAML Attribute Values for ROLE_ADMIN") != tc.roleSettings {
				t.Errorf("role value settings listed: %v", !tc.roleSettings)
			}
			over := p.API + 1
			if code, _ := do("GET", "/api/v"+itoa(over)+"/cm/version", ""); code != 404 {
				t.Errorf("API v%d answered %d", over, code)
			}
			if code, body := do("GET", "/api/version", ""); code != 200 || body != p.APIVersion() {
				t.Errorf("/api/version = %d %q", code, body)
			}
		})
	}
	if _, err := LookupProfile("7.9.9"); err == nil || !strings.Contains(err.(*ProfileError).Hint(), "7.5.3") {
		t.Errorf("unknown profile: %v", err)
	}
}

// recordingSP records the settings it was built with and takes the session
// user from a header.
type recordingSP struct {
	mu    sync.Mutex
	built []Settings
}

type headerSP struct{}

func (headerSP) ServeHTTP(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }
func (headerSP) SessionUser(r *http.Request) (string, string, bool) {
	u := r.Header.Get("X-Test-User")
	return u, r.Header.Get("X-Test-Role"), u != ""
}

func (f *recordingSP) factory(s Settings, _ string, _ *slog.Logger) (http.Handler, error) {
	f.mu.Lock()
	f.built = append(f.built, s.Clone())
	f.mu.Unlock()
	return headerSP{}, nil
}

func (f *recordingSP) last() Settings {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.built[len(f.built)-1]
}

// TestMappingsDriveTheSP: on CM 7 the SP's role values are the
// SAML_ATTRIBUTE mappings, rebuilt without a restart, saved across one;
// a SAML login shows in /users/{name} and /users/sessions.
func TestMappingsDriveTheSP(t *testing.T) {
	t.Parallel()
	sp := &recordingSP{}
	mpath := filepath.Join(t.TempDir(), "mappings.json")
	r := start(t, must(t, Settings{}, ExternalAuthType, "SAML"), func(c *Config) { cm7(c); c.SAML = sp.factory; c.MappingsPath = mpath })
	if got := sp.last().Get(SAMLRoleAdminValues); got != noMatch {
		t.Fatalf("admin values before any mapping = %q", got)
	}
	if got := sp.last().Get(SAMLScriptRoles); got != "-" {
		t.Fatalf("script roles before any mapping = %q", got)
	}
	c, _ := cmapi.New("http://"+r.http, "admin", []byte(adminPW), cmapi.WithTransport(cmapitest.New(t).Transport))
	ctx := context.Background()
	if _, err := c.CreateExternalUserMappings(ctx, []cmapi.ExternalUserMapping{
		{Name: "cm-admins", Type: cmapi.MappingSAMLAttribute, AuthRoles: []cmapi.AuthRoleRef{{Name: "ROLE_ADMIN"}}},
		{Name: "cm-users", Type: cmapi.MappingSAMLAttribute, AuthRoles: []cmapi.AuthRoleRef{{Name: "ROLE_USER"}}},
		{Name: "0", Type: cmapi.MappingSAMLScript, AuthRoles: []cmapi.AuthRoleRef{{Name: "ROLE_ADMIN"}}},
	}); err != nil {
		t.Fatal(err)
	}
	if s := sp.last(); s.Get(SAMLRoleAdminValues) != "cm-admins" || s.Get(SAMLRoleUserValues) != "cm-users" {
		t.Errorf("SP rebuilt with admin %q user %q", s.Get(SAMLRoleAdminValues), s.Get(SAMLRoleUserValues))
	}
	if got := sp.last().Get(SAMLScriptRoles); got != "0=admin" {
		t.Errorf("SP rebuilt with script roles %q, want 0=admin", got)
	}
	if ms, err := LoadMappings(mpath); err != nil || len(ms) != 3 {
		t.Errorf("saved mappings = %+v, %v", ms, err)
	}
	if fi, err := os.Stat(mpath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mappings file: %v %v", fi, err)
	}
	// A SAML session reaching the console home is a user and a session.
	req, _ := http.NewRequest("GET", "http://"+r.http+"/cmf/home", nil)
	req.Header.Set("X-Test-User", "alice")
	req.Header.Set("X-Test-Role", "ROLE_ADMIN")
	resp, err := httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req.Header.Set("X-Test-User", "mallory")
	req.Header.Set("X-Test-Role", "")
	if resp, err = httpClient().Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if u, err := c.User(ctx, "alice"); err != nil || u.AuthRoles[0].Name != "ROLE_ADMIN" {
		t.Errorf("alice = %+v, %v", u, err)
	}
	if _, err := c.User(ctx, "mallory"); !cmapi.IsNotFound(err) {
		t.Errorf("an unmapped SAML user became a CM user: %v", err)
	}
	if s, err := c.Sessions(ctx); err != nil || len(s) != 1 || s[0].Name != "alice" {
		t.Errorf("sessions = %+v, %v", s, err)
	}
}

// TestStartupDelay: Run binds nothing before the delay has passed, as a
// real CM's ports refuse connections while it starts.
func TestStartupDelay(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := "cm_version: 7.5.3\nstartup_delay: 700ms\nadmin: {user: admin, password_file: pw}\n"
	fc, err := ParseFileConfig([]byte(yaml), filepath.Join(dir, "server.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if fc.Profile().API != 45 || fc.StartupDelay != 700*time.Millisecond {
		t.Fatalf("config = %+v", fc)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan time.Time, 1)
	t0 := time.Now()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, fc, RunOptions{Ready: func(*Server, Listeners) { ready <- time.Now() }})
	}()
	select {
	case at := <-ready:
		if at.Sub(t0) < 700*time.Millisecond {
			t.Errorf("listening after %v, before the start-up delay", at.Sub(t0))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server never ready")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFileConfig([]byte("cm_version: 9.9\nadmin: {password_file: pw}\n"), filepath.Join(dir, "x.yaml")); err == nil || !strings.Contains(err.Error(), "use one of 7.5.3, 5.13.0") {
		t.Errorf("unknown cm_version: %v", err)
	}
}
