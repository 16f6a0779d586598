package saml

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmtls/cmtls/daemon/cmserver"
	"github.com/cmtls/cmtls/daemon/daemontest"
	"github.com/cmtls/cmtls/daemon/idp"
	"github.com/cmtls/cmtls/daemon/samlsp"
	"github.com/cmtls/cmtls/pki/pkitest"
	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/answers"
)

type ctlHost struct {
	remote.Host
	p *daemontest.Proc
}

func (h ctlHost) Run(ctx context.Context, cmd string, stdin io.Reader) (*remote.Result, error) {
	if cmd == "restart" {
		h.p.Restart()
		return &remote.Result{}, nil
	}
	return h.Host.Run(ctx, cmd, stdin)
}

type world struct {
	dir     string
	cm      *daemontest.Proc
	cmURL   string
	idp     *idp.Server
	secrets map[string]string
	events  []steps.Event
	mu      sync.Mutex
	// what the SP did: the sessions it opened (what CM's /users and
	// /users/sessions report) and the warnings it logged
	sessions []*samlsp.Session
	warnings []string
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// watchedSP is the SP as the embedded server runs it, watched: every
// session an assertion opens is recorded, as CM records its users'
// sessions.
type watchedSP struct {
	*samlsp.SP
	w *world
}

func (s watchedSP) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	s.SP.ServeHTTP(rw, r)
	if r.Method != http.MethodPost || r.URL.Path != samlsp.PathACS {
		return
	}
	for _, c := range (&http.Response{Header: rw.Header()}).Cookies() {
		if c.Name != samlsp.SessionCookie || c.Value == "" {
			continue
		}
		req := &http.Request{Header: http.Header{}}
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		if sess, ok := s.SP.Session(req); ok {
			s.w.mu.Lock()
			s.w.sessions = append(s.w.sessions, sess)
			s.w.mu.Unlock()
		}
	}
}

// warnings records what the SP logs at WARN and above.
type warnings struct {
	slog.Handler
	w *world
}

func (h warnings) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.w.mu.Lock()
		h.w.warnings = append(h.w.warnings, r.Message)
		h.w.mu.Unlock()
	}
	return h.Handler.Handle(ctx, r)
}
func (h warnings) Enabled(context.Context, slog.Level) bool { return true }

func (w *world) samlFactory(s cmserver.Settings, baseURL string, l *slog.Logger) (http.Handler, error) {
	sp, err := samlsp.NewFromSettings(s, baseURL, slog.New(warnings{l.Handler(), w}))
	if err != nil {
		return nil, err
	}
	return watchedSP{sp, w}, nil
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{dir: t.TempDir(), secrets: map[string]string{
		"CM_PW": "admin", "KS_PW": "changeit", "ALICE_PW": "alicepass", "BOB_PW": "bobpass", "MAL_PW": "mallorypass",
	}}
	sd := filepath.Join(w.dir, "server")
	must(t, os.MkdirAll(sd, 0o755))
	must(t, os.WriteFile(filepath.Join(sd, "admin-password"), []byte("admin\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(sd, "server.yaml"), []byte("host: localhost\nbind: 127.0.0.1\nadmin: {user: admin, password_file: admin-password}\n"), 0o600))
	fc, err := cmserver.LoadFileConfig(filepath.Join(sd, "server.yaml"))
	must(t, err)
	ready := make(chan struct{}, 1)
	w.cm = &daemontest.Proc{Run: func(ctx context.Context) error {
		return cmserver.Run(ctx, fc, cmserver.RunOptions{SAML: w.samlFactory, Ready: func(*cmserver.Server, cmserver.Listeners) {
			select {
			case ready <- struct{}{}:
			default:
			}
		}})
	}}
	w.cm.Start()
	t.Cleanup(func() { _ = w.cm.Stop() })
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	st, err := cmserver.ReadState(fc.State)
	must(t, err)
	w.cmURL = fmt.Sprintf("http://127.0.0.1:%d", st.Ports.HTTP)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	w.idp, err = idp.New(idp.Config{BaseURL: "http://" + l.Addr().String(),
		// The IdP loads CM's SP metadata from CM by itself: the run never
		// writes to the IdP.
		SPMetadata: []idp.MetadataSource{{URL: w.cmURL + "/saml/metadata"}}, Users: []idp.User{
			{Name: "alice", Password: "alicepass", OU: []string{"cm-admins"}},
			{Name: "bob", Password: "bobpass", OU: []string{"cm-users"}},
			{Name: "mallory", Password: "mallorypass", OU: []string{"sales"}},
		}})
	must(t, err)
	go func() { _ = w.idp.Serve(l) }()
	t.Cleanup(func() { _ = w.idp.Shutdown(context.Background()) })
	md, err := w.idp.Metadata()
	must(t, err)
	must(t, os.WriteFile(filepath.Join(w.dir, "idp-metadata.xml"), md, 0o644))
	ca := pkitest.NewCA(t, "test ca")
	key := pkitest.RSAKey(t)
	cert := ca.LeafForKey(t, key.Public(), "cm saml", nil, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	must(t, os.WriteFile(filepath.Join(w.dir, "saml.jks"), pkitest.Keystore(t, "jks", "samlkey", key, []*x509.Certificate{cert, ca.Cert}, []byte("changeit")), 0o600))
	return w
}

func (w *world) answers(t *testing.T, extra string) *answers.File {
	t.Helper()
	y := fmt.Sprintf(`version: 1
server:
  host: localhost
  restart_command: restart
  api: {url: %[1]s, user: admin, password: {env: CM_PW}}
saml:
  idp_metadata: idp-metadata.xml
  keystore: {path: saml.jks, password: {env: KS_PW}, alias: samlkey}
  entity_base_url: %[1]s
  user_id: {from: attribute}
  role: {from: attribute, attribute: "urn:oid:2.5.4.11", admin_values: [cm-admins], user_values: [cm-users]}
  verify:
    logins:
      - {user: alice, password: {env: ALICE_PW}, expect: admin}
      - {user: bob, password: {env: BOB_PW}, expect: user}
      - {user: mallory, password: {env: MAL_PW}, expect: unauthorized}
%[2]s`, w.cmURL, extra)
	p := filepath.Join(w.dir, "saml-answers.yaml")
	must(t, os.WriteFile(p, []byte(y), 0o600))
	f, err := answers.Load(p)
	must(t, err)
	f.ApplyDefaults()
	must(t, f.ValidateSAML())
	must(t, f.ResolveSecrets(func(k string) (string, bool) { v, ok := w.secrets[k]; return v, ok }))
	return f
}

// cm is the CM API as the tests reach it: the embedded server's settings
// through the real client; users and sessions from what the SP recorded
// (the embedded server does not list them); external user mappings as the
// server answers (404: the CM 5 model).
type cm struct {
	API
	w *world
	// noSessions answers /users/sessions with 404, as a CM that lists none.
	noSessions bool
}

func (c *cm) User(_ context.Context, name string) (User, error) {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	for i := len(c.w.sessions) - 1; i >= 0; i-- {
		if s := c.w.sessions[i]; s.UserID == name {
			role := map[samlsp.Role]string{samlsp.RoleAdmin: RoleAdmin, samlsp.RoleUser: RoleUser}[s.Role]
			return User{Name: name, AuthRoles: []AuthRoleRef{{Name: role}}}, nil
		}
	}
	return User{}, &cmapi.APIError{Status: http.StatusNotFound, Method: "GET", Path: "/users/" + name}
}

func (c *cm) Sessions(context.Context) ([]Session, error) {
	if c.noSessions {
		return nil, &cmapi.APIError{Status: http.StatusNotFound, Method: "GET", Path: "/users/sessions"}
	}
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	var out []Session
	for _, s := range c.w.sessions {
		out = append(out, Session{Name: s.UserID, RemoteAddr: "127.0.0.1", LastRequest: s.Created})
	}
	return out, nil
}

func (w *world) api(t *testing.T, password string) *cm {
	c, err := cmapi.New(w.cmURL, "admin", []byte(password))
	must(t, err)
	return &cm{API: c, w: w}
}

// run is one configure (or rollback) on the runner, as the command runs it.
type run struct {
	res  *steps.Result
	saml *Result
	err  error
}

func (w *world) run(t *testing.T, f *answers.File, api API, opts steps.Options, rollback bool) run {
	t.Helper()
	p := New(Deps{API: api, PollInterval: 20 * time.Millisecond})
	env := &steps.Env{Answers: f, Server: ctlHost{Host: remote.NewLocal("localhost"), p: w.cm},
		Reporter: steps.ReporterFunc(func(e steps.Event) { w.mu.Lock(); w.events = append(w.events, e); w.mu.Unlock() })}
	list := p.Steps()
	if rollback {
		list = p.RollbackSteps()
	}
	res, err := steps.Run(context.Background(), env, list, opts)
	return run{res, &p.Result, err}
}

func (w *world) configure(t *testing.T, f *answers.File, opts steps.Options) run {
	return w.run(t, f, w.api(t, "admin"), opts, false)
}

func settingByDisplay(t *testing.T, api *cmapi.Client, display string) string {
	items, err := api.Config(context.Background())
	must(t, err)
	for _, it := range items {
		if it.DisplayName == display {
			return it.Value
		}
	}
	t.Fatalf("no setting %q", display)
	return ""
}

// The whole seed against the embedded server and the test IdP: validate,
// settings by display name (the response binding written explicitly),
// restart, SP metadata downloaded and checked (the IdP loads it from CM),
// login redirect signed, an admin, a regular user and an unmapped user end
// where CM says they did. The URL checks leave no refused logout in the
// SP's log. A second run changes nothing.
func TestConfigureEndToEnd(t *testing.T) {
	w := newWorld(t)
	f := w.answers(t, "")
	r := w.configure(t, f, steps.Options{})
	if r.err != nil {
		t.Fatalf("run: %v (hint %q)\nevents: %+v", r.err, findHint(r.err), w.events)
	}
	res := r.saml
	if !r.res.Applied || !res.Restarted || w.cm.Restarts.Load() != 1 || res.RoleModel != ModelSettings {
		t.Fatalf("applied=%v restarted=%v restarts=%d model=%q", r.res.Applied, res.Restarted, w.cm.Restarts.Load(), res.RoleModel)
	}
	if len(res.Logins) != 3 || !res.LoginsVerified {
		t.Fatalf("logins: %+v verified=%v", res.Logins, res.LoginsVerified)
	}
	for _, l := range res.Logins {
		if !l.OK || l.Got != l.Expect {
			t.Errorf("login %+v", l)
		}
	}
	md, err := os.ReadFile(res.Metadata)
	if err != nil || !strings.Contains(string(md), `entityID="clouderaManager"`) || !strings.Contains(string(md), w.cmURL+"/saml/SSO") {
		t.Fatalf("saved metadata: %v %s", err, md)
	}
	joined := strings.Join(res.ForIdP, "\n")
	for _, want := range []string{"entity ID (audience): clouderaManager", "assertion consumer service (HTTP-POST): " + w.cmURL + "/saml/SSO",
		"CM's metadata URL: " + w.cmURL + "/saml/metadata", "single logout service (HTTP-Redirect, HTTP-POST): " + w.cmURL + "/saml/SingleLogout",
		"urn:oid:0.9.2342.19200300.100.1.1", "cm-admins"} {
		if !strings.Contains(joined, want) {
			t.Errorf("instructions lack %q:\n%s", want, joined)
		}
	}
	api, _ := cmapi.New(w.cmURL, "admin", []byte("admin"))
	if v := settingByDisplay(t, api, "External Authentication Type"); v != "SAML" {
		t.Errorf("External Authentication Type = %q", v)
	}
	if v := settingByDisplay(t, api, "SAML Response Binding"); v != "HTTP-POST" && v != "" {
		t.Errorf("SAML Response Binding = %q", v)
	}
	// Secrets never reach events.
	for _, e := range w.events {
		if strings.Contains(fmt.Sprintf("%+v", e), "changeit") {
			t.Fatalf("secret in event %+v", e)
		}
	}
	if strings.Contains(fmt.Sprintf("%+v", r.res.Plan), "changeit") {
		t.Fatal("secret in the plan")
	}
	w.mu.Lock()
	for _, m := range w.warnings {
		if strings.Contains(m, "logout") {
			t.Errorf("the run left a logout warning in CM's log: %q", m)
		}
	}
	w.mu.Unlock()
	// Every event that is printed says something.
	for _, e := range w.events {
		if e.Status == steps.StatusOK && e.Detail == "" && e.Err == "" {
			t.Errorf("empty ok event: %+v", e)
		}
	}

	// Second run: nothing to write, no restart, still verified.
	r = w.configure(t, w.answers(t, ""), steps.Options{})
	if r.err != nil || r.saml.Restarted || w.cm.Restarts.Load() != 1 || !r.res.Plan.Empty() || !r.saml.LoginsVerified {
		t.Fatalf("second run: err=%v restarted=%v restarts=%d plan=%+v", r.err, r.saml.Restarted, w.cm.Restarts.Load(), r.res.Plan)
	}
	for _, sr := range r.res.Steps {
		if sr.Status != steps.StatusUnchanged {
			t.Errorf("second run: step %s %s", sr.Step, sr.Status)
		}
	}
}

// Without saml.verify.logins the run does not claim verified logins: it
// warns that none was run.
func TestConfigureWithoutLoginsSaysSo(t *testing.T) {
	w := newWorld(t)
	f := w.answers(t, "")
	f.SAML.Verify = nil
	r := w.configure(t, f, steps.Options{})
	if r.err != nil || r.saml.LoginsVerified || len(r.saml.Logins) != 0 {
		t.Fatalf("err=%v verified=%v logins=%+v", r.err, r.saml.LoginsVerified, r.saml.Logins)
	}
	warned := false
	for _, e := range w.events {
		warned = warned || (e.Step == StepVerify && e.Status == steps.StatusWarn && strings.Contains(e.Detail, "no test login"))
	}
	if !warned {
		t.Fatalf("no warning that no login was run: %+v", w.events)
	}
}

// Step 13 happens before anything changes: a wrong password, alias or a
// non-executable script is bad input (exit 2) and the server is untouched.
func TestValidationBeforeChange(t *testing.T) {
	w := newWorld(t)
	script := filepath.Join(w.dir, "role.sh")
	must(t, os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(w.dir, "not-xml.xml"), []byte(`{"this": "is json"}`+"\n"), 0o644))
	cases := []struct {
		name, extraSecret, yamlEdit, setting, hint string
	}{
		{"wrong keystore password", "KS_PW=wrong", "", "SAML Keystore Password", ""},
		{"wrong alias", "", "alias: samlkey}|alias: nokey}", "Alias of SAML Sign/Encrypt Private Key", ""},
		{"script not executable", "", `role: {from: attribute, attribute: "urn:oid:2.5.4.11", admin_values: [cm-admins], user_values: [cm-users]}|role: {from: script, script: role.sh}`, "saml.role.script: Path to SAML Script", "chmod +x " + script},
		{"script missing", "", `role: {from: attribute, attribute: "urn:oid:2.5.4.11", admin_values: [cm-admins], user_values: [cm-users]}|role: {from: script, script: nope.sh}`, "saml.role.script: Path to SAML Script", "nope.sh does not exist"},
		{"metadata missing", "", "idp_metadata: idp-metadata.xml|idp_metadata: nope.xml", "saml.idp_metadata: Path to SAML IDP Metadata File", "nope.xml does not exist"},
		{"metadata not XML", "", "idp_metadata: idp-metadata.xml|idp_metadata: not-xml.xml", "saml.idp_metadata: Path to SAML IDP Metadata File", "not-xml.xml is not usable IdP metadata"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.extraSecret != "" {
				k, v, _ := strings.Cut(tc.extraSecret, "=")
				old := w.secrets[k]
				w.secrets[k] = v
				defer func() { w.secrets[k] = old }()
			}
			f := w.answers(t, "")
			if tc.yamlEdit != "" {
				from, to, _ := strings.Cut(tc.yamlEdit, "|")
				p := filepath.Join(w.dir, "saml-answers.yaml")
				b, _ := os.ReadFile(p)
				if !strings.Contains(string(b), from) {
					t.Fatalf("edit %q not applicable", from)
				}
				must(t, os.WriteFile(p, []byte(strings.Replace(string(b), from, to, 1)), 0o600))
				var err error
				f, err = answers.Load(p)
				must(t, err)
				f.ApplyDefaults()
				must(t, f.ResolveSecrets(func(k string) (string, bool) { v, ok := w.secrets[k]; return v, ok }))
			}
			err := w.configure(t, f, steps.Options{}).err
			var e *Error
			if !errors.As(err, &e) || !e.BadInput() || e.Step != StepValidate || !strings.Contains(err.Error(), tc.setting) || e.Hint() == "" {
				t.Fatalf("got %v, want a validation error naming %q with a hint", err, tc.setting)
			}
			if !strings.Contains(e.Hint(), tc.hint) || (tc.hint != "" && strings.Contains(tc.name, "missing") && strings.Contains(e.Hint(), "chmod")) {
				t.Errorf("hint %q, want it to say %q", e.Hint(), tc.hint)
			}
			api, _ := cmapi.New(w.cmURL, "admin", []byte("admin"))
			if v := settingByDisplay(t, api, "External Authentication Type"); v == "SAML" || w.cm.Restarts.Load() != 0 {
				t.Fatalf("something changed: auth=%q restarts=%d", v, w.cm.Restarts.Load())
			}
		})
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	w := newWorld(t)
	r := w.configure(t, w.answers(t, ""), steps.Options{DryRun: true})
	if r.err != nil || r.res.Applied || r.res.Plan.Empty() {
		t.Fatalf("err=%v applied=%v plan=%+v", r.err, r.res.Applied, r.res.Plan)
	}
	var sb strings.Builder
	_ = r.res.Plan.WriteText(&sb)
	if !strings.Contains(sb.String(), "External Authentication Type") || !strings.Contains(sb.String(), "[redacted]") || strings.Contains(sb.String(), "changeit") {
		t.Fatalf("plan:\n%s", sb.String())
	}
	api, _ := cmapi.New(w.cmURL, "admin", []byte("admin"))
	if v := settingByDisplay(t, api, "External Authentication Type"); v == "SAML" || w.cm.Restarts.Load() != 0 {
		t.Fatal("dry run changed something")
	}
	if _, err := os.Stat(filepath.Join(w.dir, "cmtls-saml-state.json")); err == nil {
		t.Fatal("a dry run wrote the rollback record")
	}
}

// saml.response_binding: HTTP-Artifact is written as asked (HTTP-POST,
// the default, is what CM has already).
func TestResponseBindingAsAsked(t *testing.T) {
	w := newWorld(t)
	// HTTP-Artifact needs the IdP's ArtifactResolutionService, which the
	// test IdP publishes on https only: its metadata as it would be there
	// (a dry run logs nobody in).
	tlsIdP, err := idp.New(idp.Config{BaseURL: "https://127.0.0.1:1"})
	must(t, err)
	md, err := tlsIdP.Metadata()
	must(t, err)
	must(t, os.WriteFile(filepath.Join(w.dir, "idp-metadata.xml"), md, 0o644))
	r := w.configure(t, w.answers(t, "  response_binding: HTTP-Artifact\n"), steps.Options{DryRun: true})
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, it := range r.res.Plan[1].Items {
		if it.Target == "SAML Response Binding" && it.Old == "HTTP-POST" && it.New == "HTTP-Artifact" {
			return
		}
	}
	t.Fatalf("plan lacks the response binding: %+v", r.res.Plan[1])
}

// TestSettingRedacts: a sensitive Setting carries the password it will
// write; neither JSON nor fmt shows it.
func TestSettingRedacts(t *testing.T) {
	t.Parallel()
	s := Setting{DisplayName: "SAML Keystore Password", Name: "SAML_KEYSTORE_PASSWORD", Old: "old-pw-1", New: "new-pw-2", Sensitive: true}
	b, err := json.Marshal([]Setting{s})
	if err != nil {
		t.Fatal(err)
	}
	outs := []string{string(b), fmt.Sprint(s), fmt.Sprintf("%+v", s), fmt.Sprintf("%v", &s), fmt.Sprintf("%s", []Setting{s})}
	for _, out := range outs {
		if strings.Contains(out, "old-pw-1") || strings.Contains(out, "new-pw-2") {
			t.Errorf("secret shown: %s", out)
		}
		if !strings.Contains(out, "redacted") {
			t.Errorf("no redaction mark: %s", out)
		}
	}
	plain := Setting{DisplayName: "SAML Entity ID", New: "cm"}
	if b, _ := json.Marshal(plain); !strings.Contains(string(b), `"new":"cm"`) {
		t.Errorf("a plain setting lost its value: %s", b)
	}
}

// CM refusing the API credentials is bad input: exit 2, nothing changed,
// and the hint names server.api.
func TestRefusedAPICredentialsAreInput(t *testing.T) {
	w := newWorld(t)
	err := w.run(t, w.answers(t, ""), w.api(t, "not-the-password"), steps.Options{}, false).err
	var e *Error
	if !errors.As(err, &e) || !e.BadInput() || !strings.Contains(err.Error(), "401") || !strings.Contains(e.Hint(), "server.api") {
		t.Fatalf("got %v, want bad input naming the 401 with a server.api hint", err)
	}
	good, _ := cmapi.New(w.cmURL, "admin", []byte("admin"))
	if v := settingByDisplay(t, good, "External Authentication Type"); v == "SAML" || w.cm.Restarts.Load() != 0 {
		t.Fatalf("something changed: auth=%q restarts=%d", v, w.cm.Restarts.Load())
	}
}

// findHint is the first hint in err's chain.
func findHint(err error) string {
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		return h.Hint()
	}
	return ""
}

// The verdict comes from CM: a login CM gives ROLE_ADMIN fails a test
// that expects a regular user, and says what CM gave.
func TestLoginVerdictFromCM(t *testing.T) {
	w := newWorld(t)
	f := w.answers(t, "")
	f.SAML.Verify.Logins = f.SAML.Verify.Logins[:1]
	f.SAML.Verify.Logins[0].Expect = "user"
	r := w.configure(t, f, steps.Options{})
	if r.err == nil || r.saml.LoginsVerified || len(r.saml.Logins) != 1 {
		t.Fatalf("err=%v verified=%v logins=%+v", r.err, r.saml.LoginsVerified, r.saml.Logins)
	}
	if l := r.saml.Logins[0]; l.OK || l.Got != "admin" || !strings.Contains(r.err.Error(), "alice: expected user, got admin") {
		t.Fatalf("login %+v, err %v", l, r.err)
	}
}
