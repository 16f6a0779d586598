package cmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/answers"
)

// fakeCMHosts is a CM API that knows hosts and wants admin:api-secret; it
// answers nothing else (a run against it stops in its read-only phase).
func fakeCMHosts(t *testing.T, hosts ...string) (url string, hostCalls *atomic.Int32) {
	t.Helper()
	hostCalls = &atomic.Int32{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "admin" || p != "api-secret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/api/version":
			fmt.Fprint(w, "v19")
		case "/api/v19/hosts":
			hostCalls.Add(1)
			var items []string
			for i, h := range hosts {
				items = append(items, fmt.Sprintf(`{"hostId":"id%d","hostname":%q,"ipAddress":"127.0.0.1"}`, i, h))
			}
			fmt.Fprintf(w, `{"items":[%s]}`, strings.Join(items, ","))
		default:
			http.Error(w, "not here", http.StatusNotFound)
		}
	}))
	t.Cleanup(ts.Close)
	return ts.URL, hostCalls
}

// The wizard's host lookup is the CM API client: it sends the answered
// user and password (a password given by reference is read first) and
// returns the API's host names; a wrong password is an error the wizard
// shows.
func TestAPIHostLookup(t *testing.T) {
	url, _ := fakeCMHosts(t, "h1.example.com", "h2.example.com")
	f, _, _ := testFactory(map[string]string{"CM_PW": "api-secret"})
	lookup := apiHostLookup(f, t.TempDir())
	got, err := lookup(context.Background(), answers.API{URL: url, User: "admin", Password: answers.Secret{Env: "CM_PW"}})
	if err != nil || strings.Join(got, " ") != "h1.example.com h2.example.com" {
		t.Fatalf("hosts %v, err %v", got, err)
	}
	if _, err := lookup(context.Background(), answers.API{URL: url, User: "admin", Password: answers.NewSecret([]byte("wrong"))}); err == nil {
		t.Fatal("a refused password listed hosts")
	}
	if _, err := lookup(context.Background(), answers.API{URL: url, User: "admin", Password: answers.Secret{Env: "UNSET"}}); err == nil ||
		!strings.Contains(err.Error(), "UNSET") {
		t.Fatalf("unset password variable: %v", err)
	}
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return p
}

// `cmtls init` at a terminal (line prompts): the API answers are followed
// by the API's hosts as the default, the answers are saved to the path
// given, and the end of the run says what to export and which command
// repeats it. The saved file holds the API's hosts and no secret.
func TestInitWizardLooksUpHostsAndSaves(t *testing.T) {
	dir := t.TempDir()
	url, calls := fakeCMHosts(t, "localhost", "127.0.0.1")
	partial := filepath.Join(dir, "partial.yaml")
	if err := os.WriteFile(partial, fmt.Appendf(nil, `version: 1
server:
  host: cm1.example.com
  keystore: {path: %s, password: {env: KS_PW}}
  restart_command: "true"
agents:
  ssh: {user: root, port: %d, known_hosts: %s}
  pem_dest: /etc/cmf/server.pem
  config_path: /etc/a.ini
  restart_command: "true"
  parallelism: 2
  canary: 0
tls: {agent_encryption: true}
verify: {heartbeat_timeout: 5s}
`, filepath.Join(dir, "ks.jks"), closedPort(t), filepath.Join(dir, "known_hosts")), 0o600); err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(dir, "saved.yaml")
	lines := []string{url, "", "api-secret", // API url, user (default), password
		"",    // where the hosts come from: a list
		"",    // agent hosts: the API's
		"",    // per-host settings: none
		"",    // save: yes
		saved, // where
	}
	f, _, errOut := testFactory(map[string]string{"TERM": "dumb", "KS_PW": "changeit", "HOME": dir})
	f.IsTerminal = func() bool { return true }
	f.In = strings.NewReader(strings.Join(lines, "\n") + "\n")
	code := Run(context.Background(), f, []string{"init", "--answers", partial, "--skip", "console-tls"})
	stderr := errOut.String()
	if calls.Load() == 0 {
		t.Fatalf("the CM API was not asked for hosts (exit %d):\n%s", code, stderr)
	}
	g, err := answers.Load(saved)
	if err != nil {
		t.Fatalf("saved answers: %v\n%s", err, stderr)
	}
	var hosts []string
	for _, h := range g.Agents.Hosts {
		hosts = append(hosts, h.Name)
	}
	if strings.Join(hosts, " ") != "localhost 127.0.0.1" {
		t.Errorf("saved hosts %v, want the API's", hosts)
	}
	if g.Server.API.URL != url || g.Server.API.Password.Env != "CM_ADMIN_PASSWORD" || g.Server.Keystore.Password.Env != "KS_PW" {
		t.Errorf("saved api %+v keystore password %+v", g.Server.API, g.Server.Keystore.Password)
	}
	b, _ := os.ReadFile(saved)
	if strings.Contains(string(b), "api-secret") || strings.Contains(string(b), "changeit") || strings.Contains(stderr, "api-secret") {
		t.Fatalf("a secret was written or printed:\n%s\n%s", b, stderr)
	}
	for _, want := range []string{
		"export CM_ADMIN_PASSWORD=...   # server.api.password",
		"export KS_PW=...   # server.keystore.password",
		"cmtls init --skip console-tls --answers " + saved + " --yes",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	// the hint comes last, after the run's own output
	if i := strings.LastIndex(stderr, "To repeat this run headless"); i < 0 || strings.Contains(stderr[i:], "Summary") {
		t.Errorf("the repeat hint is not the last thing said:\n%s", stderr)
	}

	// The saved file answers everything: at a terminal it asks nothing,
	// offers no save, and the run reaches the same CM API.
	before := calls.Load()
	f, _, errOut = testFactory(map[string]string{"TERM": "dumb", "KS_PW": "changeit", "CM_ADMIN_PASSWORD": "api-secret", "HOME": dir})
	f.IsTerminal = func() bool { return true }
	Run(context.Background(), f, []string{"init", "--answers", saved, "--skip", "console-tls"})
	if s := errOut.String(); strings.Contains(s, "Save these answers") || strings.Contains(s, "CM API URL") ||
		!strings.Contains(s, "/api/v19/cm/config") {
		t.Errorf("a complete file at a terminal:\n%s", s)
	}
	if calls.Load() != before {
		t.Errorf("hosts looked up although the file names them")
	}
}

func TestSummaryOfAnInterruptedRunSaysNotFinished(t *testing.T) {
	f, out, _ := testFactory(nil)
	res := &steps.Result{Applied: true, Interrupted: true, Hosts: []steps.HostResult{
		{Host: "agent1", Status: steps.HostVerified},
		{Host: "agent2", Status: steps.HostDone},
		{Host: "agent4", Status: steps.HostNotStarted},
		{Host: "agent3", Status: steps.HostFailed, Step: "connect",
			Error: "host agent3: connect: cannot reach 127.0.0.1:9: connection refused", Hint: "check the host's address and port"},
	}}
	_ = res.WriteSummary(f.Out, fmt.Errorf("run: %w", context.Canceled))
	got := out.String()
	for _, want := range []string{
		"interrupted: 1 verified, 1 done but not verified, 1 not started, 1 failed (agent hosts)\n",
		"agent1               ok: done and verified\n",
		"agent2               done, not verified\n",
		"agent4               not started\n",
		"agent3               FAILED at connect: host agent3: connect: cannot reach",
		"fix: check the host's address and port",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "partly done") || strings.Contains(got, "agent2               FAILED") {
		t.Errorf("an interrupted host is reported as failed:\n%s", got)
	}
}

func TestSummaryWithNoHostVerifiedSaysFailed(t *testing.T) {
	f, out, _ := testFactory(nil)
	res := &steps.Result{Applied: true, Hosts: []steps.HostResult{
		{Host: "agent1", Status: steps.HostFailed, Step: "push-cert", Error: "host agent1: push-cert: disk full", Hint: "free space"},
	}}
	_ = res.WriteSummary(f.Out, errors.New("verify-heartbeats: no agent host left to verify"))
	if got := out.String(); !strings.HasPrefix(got, "failed: no agent host verified, 1 failed\n") || strings.Contains(got, "partly done") {
		t.Errorf("summary:\n%s", got)
	}
}
