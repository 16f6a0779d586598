package wizard

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/huh"
	"github.com/charmbracelet/x/ansi"

	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/answers"
)

// startModel runs a form's Model at 80x24 with Update.
func startModel(t *testing.T, w *Form) (func() string, func(...tea.Msg)) {
	t.Helper()
	var m = w.Model()
	m = runCmds(m, m.Init(), 0)
	m = send(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	return func() string { return m.View() }, func(msgs ...tea.Msg) { m = send(m, msgs...) }
}

func must(t *testing.T, view func() string, want ...string) {
	t.Helper()
	for _, s := range want {
		if !strings.Contains(view(), s) {
			t.Fatalf("want %q on screen:\n%s", s, view())
		}
	}
}

// Shift+tab from an empty required field goes back; it never traps
// the form (only ctrl+c used to get out).
func TestShiftTabNeverTraps(t *testing.T) {
	f := parse(t, "version: 1\n")
	w := NewSAMLForm(f, Discovered{FQDN: "cm1.example.com"}, Options{Width: 80})
	view, send := startModel(t, w)
	must(t, view, "CM API URL")
	send(key(tea.KeyEnter))
	must(t, view, "CM API user")
	send(key(tea.KeyCtrlU), key(tea.KeyEnter))
	must(t, view, "an answer is required")
	send(key(tea.KeyShiftTab))
	must(t, view, "CM API URL")
	send(key(tea.KeyEnter))
	must(t, view, "CM API user")
	send(typed("admin"), key(tea.KeyEnter))
	must(t, view, "CM API password")
	send(key(tea.KeyShiftTab)) // empty password: back to the user
	must(t, view, "CM API user")
	if strings.Contains(view(), "CM API password") {
		t.Fatalf("still on the password:\n%s", view())
	}
	send(key(tea.KeyEnter), key(tea.KeyEnter))
	must(t, view, "an answer is required") // forward again: still required
}

// The CM API credentials are tried when typed (one call per answer);
// a refusal keeps the form on the password, and shift+tab leads back to fix
// the user.
func TestCredentialsCheckedWhenTyped(t *testing.T) {
	f := parse(t, "version: 1\n")
	var calls []string
	d := Discovered{FQDN: "cm1.example.com", CheckAPI: func(_ context.Context, a answers.API) error {
		calls = append(calls, a.User+"/"+string(a.Password.Value()))
		if a.User != "ops" || string(a.Password.Value()) != "s3cret" {
			return &cmapi.APIError{Status: 401, Method: "GET", Path: "/api/v19/cm/version"}
		}
		return nil
	}}
	w := NewSAMLForm(f, d, Options{Width: 80})
	view, send := startModel(t, w)
	send(key(tea.KeyEnter), key(tea.KeyEnter)) // URL, user admin
	must(t, view, "CM API password")
	send(typed("s3cret"), key(tea.KeyEnter))
	must(t, view, "CM refused user admin", "shift+tab to fix the user")
	send(key(tea.KeyShiftTab))
	must(t, view, "CM API user")
	send(key(tea.KeyCtrlU), typed("ops"), key(tea.KeyEnter))
	must(t, view, "CM API password")
	send(key(tea.KeyEnter)) // the same password, now for ops
	must(t, view, "Reach the CM server over SSH at")
	if strings.Join(calls, ",") != "admin/s3cret,ops/s3cret" {
		t.Fatalf("API calls %v", calls)
	}
}

// After console TLS the SAML wizard offers the https URL and asks for
// the CA file that verifies it.
func TestSAMLAfterConsoleTLS(t *testing.T) {
	f := parse(t, "version: 1\n")
	w := NewSAMLForm(f, Discovered{FQDN: "cm1.example.com", ConsoleTLS: true, CAFile: answers.DefaultPEMPath}, Options{Width: 80})
	view, send := startModel(t, w)
	must(t, view, "https://cm1.example.com:7183")
	send(key(tea.KeyEnter))
	must(t, view, "CA certificate of the Admin Console", answers.DefaultPEMPath)
	// On http, the CA question is not asked.
	f = parse(t, "version: 1\n")
	w = NewSAMLForm(f, Discovered{FQDN: "cm1.example.com"}, Options{Width: 80})
	view, send = startModel(t, w)
	must(t, view, "http://cm1.example.com:7180")
	send(key(tea.KeyEnter), key(tea.KeyEnter), typed("pw"), key(tea.KeyEnter))
	must(t, view, "Reach the CM server over SSH at")
}

// With a server: section and no ssh:, the SSH questions are not
// asked, and the form says why above its first question.
func TestSkippedSSHSaysWhy(t *testing.T) {
	f := parse(t, `version: 1
server:
  host: cm1.example.com
  api: {url: http://cm1.example.com:7180, user: admin, password: {env: X}}
`)
	w := NewInitForm(f, Discovered{}, Options{Width: 80})
	for _, p := range w.Paths() {
		if strings.HasPrefix(p, "server.ssh") {
			t.Fatalf("asks %s", p)
		}
	}
	if len(w.Notes()) != 1 || !strings.Contains(w.Notes()[0], "server.ssh is not asked") {
		t.Fatalf("notes %q", w.Notes())
	}
	view, _ := startModel(t, w)
	must(t, view, "Not asked", "server.ssh is not asked", "Keystore path on the server")
	if w.Form.State != huh.StateNormal {
		t.Fatal(w.Form.State)
	}
}

// Typed host lines carry per-host settings; mistakes name the line.
func TestParseHostLines(t *testing.T) {
	hs, err := parseHostLines("a1, a2\na3 port=2222 user=ops restart_command=\"systemctl restart x\"\n\n")
	if err != nil || len(hs) != 3 || hs[2].Port != 2222 || hs[2].User != "ops" || hs[2].RestartCommand != "systemctl restart x" {
		t.Fatalf("%+v %v", hs, err)
	}
	for in, want := range map[string]string{
		"a1 port=99999":   "line 1: a1: port 99999 is out of range",
		"a1\na2 colour=x": "line 2: a2: unknown setting \"colour\"",
		"a1 user=\"ops":   "not closed",
		"a1 port":         "key=value",
	} {
		if _, err := parseHostLines(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

// Saved answers hold only the sections of the command.
func TestForCommandSections(t *testing.T) {
	f := parse(t, full)
	f.SAML = &answers.SAML{IdPMetadata: "/idp.xml"}
	s := ForCommand(f, "cmtls saml configure")
	if s.Agents != nil || s.TLS != nil || s.Verify != nil || s.Server.Keystore != nil || s.SAML == nil || s.Server.API == nil {
		t.Fatalf("saml: %+v", s)
	}
	if f.Agents == nil || f.Server.Keystore == nil {
		t.Fatal("the original was changed")
	}
	i := ForCommand(f, "cmtls init --only push-cert")
	if i.SAML != nil || i.Agents == nil || i.Server.Keystore == nil {
		t.Fatalf("init: %+v", i)
	}
}

// The plan screen at 80x24 cuts no line (long values wrap) and shows
// the planning's warnings before the question.
func TestPlanScreenWrapsAt80(t *testing.T) {
	long := "  agent1.example.com  ~ /var/lib/very/long/path/to/the/agent/configuration/directory/config.ini: verify_cert_file: (unset) -> /opt/cloudera/security/x509/server.pem"
	m := NewPlanModel("cmtls init: plan", long+"\n  server  + keystore\n", 80, 24)
	m.SetWarnings([]string{"server-cert: server.host localhost resolves only on this machine; agents cannot reach it"})
	v := ansi.Strip(m.View())
	for _, l := range strings.Split(v, "\n") {
		if ansi.StringWidth(l) > 80 {
			t.Fatalf("line wider than 80: %q", l)
		}
	}
	flat := strings.Join(strings.Fields(v), "")
	for _, want := range []string{"config.ini:verify_cert_file:(unset)->/opt/cloudera/security/x509/server.pem", "+keystore"} {
		if !strings.Contains(flat, want) {
			t.Fatalf("lost %q:\n%s", want, v)
		}
	}
	w := strings.Index(v, "localhost resolves only")
	q := strings.Index(v, "Apply these changes?")
	if w < 0 || q < 0 || w > q {
		t.Fatalf("the warning is not before the question:\n%s", v)
	}
	if n := strings.Count(v, "\n"); n > 24 {
		t.Fatalf("%d lines at 80x24:\n%s", n, v)
	}
}

// The end of a run names the certificate, the backups and the next
// commands, complete at 80 columns.
func TestClosingText(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	c := Closing{Subject: "CN=cm1.example.com,OU=IT", SHA256: strings.Repeat("AB:", 31) + "AB",
		NotAfter: now.Add(180 * 24 * time.Hour),
		Backups:  []string{"/etc/cloudera-scm-agent/config.ini.cmtls.orig on the agent hosts (3 verified)"},
		Next:     []NextCommand{{Command: "cmtls status --answers a.yaml", Why: "health check"}}}
	v := c.Text(80, now)
	for _, want := range []string{"Certificate: CN=cm1.example.com,OU=IT", "expires 2027-06-05 00:00 UTC (in 180 days)",
		"config.ini.cmtls.orig", "cmtls status --answers a.yaml"} {
		if !strings.Contains(v, want) {
			t.Errorf("lacks %q:\n%s", want, v)
		}
	}
	if !strings.Contains(strings.Join(strings.Fields(v), ""), strings.Repeat("AB:", 31)+"AB") {
		t.Errorf("fingerprint cut:\n%s", v)
	}
	for _, l := range strings.Split(v, "\n") {
		if len([]rune(l)) > 80 {
			t.Errorf("wider than 80: %q", l)
		}
	}
}

// In line prompts: a refused password is asked again, and "<" goes
// back to fix the user.
func TestCredentialsAccessibleGoBack(t *testing.T) {
	f := parse(t, "version: 1\n")
	var calls []string
	d := Discovered{FQDN: "cm1.example.com", CheckAPI: func(_ context.Context, a answers.API) error {
		calls = append(calls, a.User)
		if a.User != "ops" {
			return &cmapi.APIError{Status: 401, Method: "GET", Path: "/api/v19/cm/version"}
		}
		return nil
	}}
	var out strings.Builder
	in := strings.NewReader("\n\npw1\n<\nops\npw1\n")
	w := NewSAMLForm(f, d, Options{Accessible: true, In: in, Out: &out})
	k, user := 0, (*question)(nil)
	for i, q := range w.qs {
		switch q.path {
		case "server.ssh.address":
			k = i
		case "server.api.user":
			user = q
		}
	}
	if err := w.runPart(context.Background(), 0, k); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if strings.Join(calls, ",") != "admin,ops" || user.val != "ops" {
		t.Fatalf("calls %v, user %q\n%s", calls, user.val, out.String())
	}
	for _, want := range []string{"type < to go back", "CM refused user admin"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("lacks %q:\n%s", want, out.String())
		}
	}
}

// The live progress view fits 80x24 however many hosts, steps and
// warnings it holds (a taller frame would lose its top lines).
func TestProgressFits80x24(t *testing.T) {
	m := NewProgressModel("cmtls init", nil)
	var tm tea.Model = m
	tm, _ = tm.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	for i, id := range []string{"enable-agent-tls", "server-cert", "push-cert", "restart-server", "restart-agents", "verify-heartbeats", "console-tls"} {
		m.Apply(steps.Event{Step: id, Title: "Step " + id + " with a long title that wraps at eighty columns for sure", Phase: steps.PhaseApply, Status: steps.StatusStart})
		for h := 0; h < 12; h++ {
			st := steps.StatusStart
			if h%3 == 0 {
				st = steps.StatusChanged
			}
			m.Apply(steps.Event{Step: id, Host: "agent" + strconv.Itoa(h) + ".example.com", Phase: steps.PhaseApply, Status: st, Done: h + 1, Total: 12})
		}
		m.Apply(steps.Event{Step: id, Host: "agent1.example.com", Phase: steps.PhaseApply, Status: steps.StatusWarn, Detail: "slow " + strconv.Itoa(i)})
		if i < 5 {
			m.Apply(steps.Event{Step: id, Phase: steps.PhaseVerify, Status: steps.StatusOK})
		}
	}
	v := tm.View()
	if n := strings.Count(v, "\n"); n >= 24 {
		t.Fatalf("%d lines at 80x24:\n%s", n, v)
	}
	for _, want := range []string{"cmtls init", "enable-agent-tls", "Step console-tls", "ctrl+c cancels"} {
		if !strings.Contains(v, want) {
			t.Errorf("lacks %q:\n%s", want, v)
		}
	}
	for _, l := range strings.Split(v, "\n") {
		if ansi.StringWidth(l) > 80 {
			t.Errorf("wider than 80: %q", l)
		}
	}
}

// The agent hosts can come from an Ansible inventory (a wrong path is
// refused when typed) or from the CM API at each run.
func TestHostsFromInventoryOrAPI(t *testing.T) {
	for _, source := range []string{"inventory", "api"} {
		f := parse(t, partialInit)
		f.Server.Host = "cm1.example.com"
		f.Agents.Hosts = nil
		f.Agents.SSH = &answers.SSH{User: "root"}
		d := Discovered{CheckInventory: func(p string) error {
			if p != "hosts.ini" {
				return errors.New("cannot read the inventory: no such file")
			}
			return nil
		}}
		w := NewInitForm(f, d, Options{Width: 80})
		view, send := startModel(t, w)
		must(t, view, "Where do the agent hosts come from?")
		if source == "inventory" {
			send(key(tea.KeyDown), key(tea.KeyEnter))
			must(t, view, "Ansible inventory file")
			send(typed("nope.ini"), key(tea.KeyEnter))
			must(t, view, "cannot read the inventory")
			send(key(tea.KeyCtrlU))
			for range "nope.ini" {
				send(key(tea.KeyBackspace))
			}
			send(typed("hosts.ini"), key(tea.KeyEnter))
		} else {
			send(key(tea.KeyDown), key(tea.KeyDown), key(tea.KeyEnter))
		}
		if w.Form.State != huh.StateCompleted {
			t.Fatalf("%s: not completed:\n%s", source, view())
		}
		if err := w.Commit(); err != nil {
			t.Fatalf("%s: %v", source, err)
		}
		if source == "inventory" && (f.Agents.Inventory != "hosts.ini" || len(f.Agents.Hosts) != 0 || f.Agents.FromAPI) {
			t.Fatalf("inventory: %+v", f.Agents)
		}
		if source == "api" && (!f.Agents.FromAPI || f.Agents.Inventory != "" || len(f.Agents.Hosts) != 0) {
			t.Fatalf("api: %+v", f.Agents)
		}
	}
}
