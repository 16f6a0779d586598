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
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func samlFactory(s cmserver.Settings, baseURL string, l *slog.Logger) (http.Handler, error) {
	return samlsp.NewFromSettings(s, baseURL, l)
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
		return cmserver.Run(ctx, fc, cmserver.RunOptions{SAML: samlFactory, Ready: func(*cmserver.Server, cmserver.Listeners) {
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
	w.idp, err = idp.New(idp.Config{BaseURL: "http://" + l.Addr().String(), OpenRegistration: true, Users: []idp.User{
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

func (w *world) env(t *testing.T, f *answers.File) *Env {
	api, err := cmapi.New(w.cmURL, "admin", []byte("admin"))
	must(t, err)
	return &Env{Answers: f, API: api, Server: ctlHost{Host: remote.NewLocal("localhost"), p: w.cm},
		Reporter:    steps.ReporterFunc(func(e steps.Event) { w.mu.Lock(); w.events = append(w.events, e); w.mu.Unlock() }),
		WaitTimeout: 20 * time.Second}
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
// settings by display name, restart, SP metadata downloaded and checked,
// registered with the IdP, login redirect signed, an admin, a regular user
// and an unmapped user end where they should. A second run changes nothing.
func TestConfigureEndToEnd(t *testing.T) {
	w := newWorld(t)
	f := w.answers(t, "")
	ctx := context.Background()
	res, err := Run(ctx, w.env(t, f), Options{})
	if err != nil {
		t.Fatalf("run: %v (hint %q)\nevents: %+v", err, (err.(*Error)).Hint(), w.events)
	}
	if !res.Applied || !res.Restart || w.cm.Restarts.Load() != 1 || !res.Registered {
		t.Fatalf("applied=%v restart=%v restarts=%d registered=%v", res.Applied, res.Restart, w.cm.Restarts.Load(), res.Registered)
	}
	if len(res.Logins) != 3 {
		t.Fatalf("logins: %+v", res.Logins)
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
	for _, want := range []string{"entity ID (audience): clouderaManager", w.cmURL + "/saml/SSO", "urn:oid:0.9.2342.19200300.100.1.1", "cm-admins"} {
		if !strings.Contains(joined, want) {
			t.Errorf("instructions lack %q:\n%s", want, joined)
		}
	}
	api, _ := cmapi.New(w.cmURL, "admin", []byte("admin"))
	if v := settingByDisplay(t, api, "External Authentication Type"); v != "SAML" {
		t.Errorf("External Authentication Type = %q", v)
	}
	// Secrets never reach events.
	for _, e := range w.events {
		if strings.Contains(fmt.Sprintf("%+v", e), "changeit") {
			t.Fatalf("secret in event %+v", e)
		}
	}
	if strings.Contains(fmt.Sprintf("%+v", res.Plan), "changeit") {
		t.Fatal("secret in the plan")
	}

	// Second run: nothing to write, no restart, still verified.
	res, err = Run(ctx, w.env(t, w.answers(t, "")), Options{})
	if err != nil || res.Applied || res.Restart || w.cm.Restarts.Load() != 1 || !res.Plan.Empty() {
		t.Fatalf("second run: err=%v applied=%v restart=%v restarts=%d plan=%+v", err, res.Applied, res.Restart, w.cm.Restarts.Load(), res.Plan)
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
			_, err := Run(context.Background(), w.env(t, f), Options{})
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
	res, err := Run(context.Background(), w.env(t, w.answers(t, "")), Options{DryRun: true})
	if err != nil || res.Applied || res.Plan.Empty() {
		t.Fatalf("err=%v applied=%v plan=%+v", err, res.Applied, res.Plan)
	}
	var sb strings.Builder
	_ = res.Plan.WriteText(&sb)
	if !strings.Contains(sb.String(), "External Authentication Type") || !strings.Contains(sb.String(), "[redacted]") || strings.Contains(sb.String(), "changeit") {
		t.Fatalf("plan:\n%s", sb.String())
	}
	api, _ := cmapi.New(w.cmURL, "admin", []byte("admin"))
	if v := settingByDisplay(t, api, "External Authentication Type"); v == "SAML" || w.cm.Restarts.Load() != 0 {
		t.Fatal("dry run changed something")
	}
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
	env := w.env(t, w.answers(t, ""))
	api, err := cmapi.New(w.cmURL, "admin", []byte("not-the-password"))
	must(t, err)
	env.API = api
	_, err = Run(context.Background(), env, Options{})
	var e *Error
	if !errors.As(err, &e) || !e.BadInput() || !strings.Contains(err.Error(), "401") || !strings.Contains(e.Hint(), "server.api") {
		t.Fatalf("got %v, want exit 2 naming the 401 with a server.api hint", err)
	}
	good, _ := cmapi.New(w.cmURL, "admin", []byte("admin"))
	if v := settingByDisplay(t, good, "External Authentication Type"); v == "SAML" || w.cm.Restarts.Load() != 0 {
		t.Fatalf("something changed: auth=%q restarts=%d", v, w.cm.Restarts.Load())
	}
}
