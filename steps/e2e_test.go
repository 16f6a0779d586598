package steps

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cmtls/cmtls/daemon/agent"
	"github.com/cmtls/cmtls/daemon/cmserver"
	"github.com/cmtls/cmtls/daemon/daemontest"
	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/pki/pkitest"
	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/remote/cmapi/cmapitest"
	"github.com/cmtls/cmtls/steps/answers"
)

// cluster runs the embedded CM server and agents in-process on 127.0.0.1,
// with real TLS between them. Hosts are local hosts whose restart and
// check commands stop and start the in-process daemons, so the steps carry
// out real restarts that pick up the files they wrote.
type cluster struct {
	t      *testing.T
	dir    string
	fc     *cmserver.FileConfig
	server *daemontest.Proc
	agents map[string]*daemontest.Proc
	ports  cmserver.State
	srv    atomic.Pointer[cmserver.Server] // the server running now
	// interval is the heartbeat interval of agents added from now on
	// (0: 150 ms).
	interval time.Duration
	// editINI, when set, rewrites the config.ini of agents added from now
	// on before they start.
	editINI func(name, ini string) string
}

// seenHost is how a host's last heartbeat reached the in-process server.
type seenHost struct {
	Hostname string
	AgentTLS *cmserver.TLSState
}

// hostsSeen asks the in-process server how each heartbeat arrived: CM's
// API does not say, so it is not asked through the API.
func (c *cluster) hostsSeen(context.Context) ([]seenHost, error) {
	var out []seenHost
	for _, h := range c.srv.Load().Hosts() {
		t := h.TLS
		out = append(out, seenHost{Hostname: h.Hostname, AgentTLS: &t})
	}
	return out, nil
}

// ctlHost is a local host whose "restart" and "check" commands act on an
// in-process daemon.
type ctlHost struct {
	remote.Host
	proc *daemontest.Proc
}

func (h *ctlHost) Run(ctx context.Context, cmd string, stdin io.Reader) (*remote.Result, error) {
	switch cmd {
	case "restart":
		h.proc.Restart()
		return &remote.Result{}, nil
	case "check":
		if h.proc.Alive() {
			return &remote.Result{}, nil
		}
		return &remote.Result{Code: 3}, nil
	}
	return h.Host.Run(ctx, cmd, stdin)
}

// clusterSlots bounds how many in-process clusters run at once: each is a
// server, agents heartbeating and TLS checks from the hosts, and on 2 cores
// (CI's machine) more at once only turns their deadlines into a race with
// the scheduler. A test waits for a slot before its clock starts.
var clusterSlots = make(chan struct{}, 2)

func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	return newClusterWith(t, n, "")
}

// newClusterWith is newCluster with extra lines of the server's YAML
// (e.g. "management_service: false\n").
func newClusterWith(t *testing.T, n int, extra string) *cluster {
	t.Helper()
	select {
	case clusterSlots <- struct{}{}:
	case <-t.Context().Done():
		t.Fatal("no cluster slot before the test ended")
	}
	t.Cleanup(func() { <-clusterSlots })
	dir := t.TempDir()
	c := &cluster{t: t, dir: dir, agents: map[string]*daemontest.Proc{}}
	sd := filepath.Join(dir, "server")
	must(t, os.MkdirAll(sd, 0o755))
	must(t, os.WriteFile(filepath.Join(sd, "admin-password"), []byte("admin\n"), 0o600))
	// The server imitates CM 7.5.3; CM's v45 definition judges every API
	// exchange.
	must(t, os.WriteFile(filepath.Join(sd, "server.yaml"), []byte("host: localhost\nbind: 127.0.0.1\ncm_version: 7.5.3\ncommand_duration: 50ms\nadmin: {user: admin, password_file: admin-password}\n"+extra), 0o600))
	fc, err := cmserver.LoadFileConfig(filepath.Join(sd, "server.yaml"))
	must(t, err)
	c.fc = fc
	chk := cmapitest.New(t)
	ready := make(chan struct{}, 1)
	c.server = &daemontest.Proc{Run: func(ctx context.Context) error {
		return cmserver.Run(ctx, fc, cmserver.RunOptions{Middleware: chk.Handler, Ready: func(srv *cmserver.Server, _ cmserver.Listeners) {
			c.srv.Store(srv)
			select {
			case ready <- struct{}{}:
			default:
			}
		}})
	}}
	c.server.Start()
	t.Cleanup(func() { _ = c.server.Stop() })
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	c.ports, err = cmserver.ReadState(fc.State)
	must(t, err)
	for i := range n {
		c.addAgent(fmt.Sprintf("agent%d", i+1), "localhost")
	}
	return c
}

// addAgent writes a stock config.ini for name pointing at serverHost and
// starts its agent.
func (c *cluster) addAgent(name, serverHost string) {
	t := c.t
	ad := filepath.Join(c.dir, name)
	must(t, os.MkdirAll(ad, 0o755))
	ini := strings.Replace(sampleINI, "server_host=%s", "server_host="+serverHost, 1)
	ini = strings.Replace(ini, "server_port=7182", fmt.Sprintf("server_port=%d\nlistening_hostname=%s", c.ports.Ports.Agent, name), 1)
	if c.editINI != nil {
		ini = c.editINI(name, ini)
	}
	must(t, os.WriteFile(filepath.Join(ad, "config.ini"), []byte(ini), 0o644))
	every := c.interval
	if every == 0 {
		every = 150 * time.Millisecond
	}
	p := &daemontest.Proc{Run: func(ctx context.Context) error {
		return agent.RunDaemon(ctx, filepath.Join(ad, "config.ini"), agent.RunOptions{Interval: every, LogPath: filepath.Join(ad, "agent.log")})
	}}
	c.agents[name] = p
	p.Start()
	t.Cleanup(func() { _ = p.Stop() })
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (c *cluster) answers(admin bool) *answers.File {
	sd := filepath.Join(c.dir, "server")
	var hosts []answers.Host
	for _, name := range sortedKeys(c.agents) {
		ad := filepath.Join(c.dir, name)
		hosts = append(hosts, answers.Host{Name: name, PEMDest: filepath.Join(ad, "cmf", "server.pem"), ConfigPath: filepath.Join(ad, "config.ini"), LogPath: filepath.Join(ad, "agent.log")})
	}
	yes := true
	f := &answers.File{Version: 1,
		Server: &answers.Server{Host: "localhost",
			API: &answers.API{URL: fmt.Sprintf("http://127.0.0.1:%d", c.ports.Ports.HTTP), User: "admin", Password: answers.NewSecret([]byte("admin"))},
			Keystore: &answers.Keystore{Path: filepath.Join(sd, "cm.keystore"), Password: answers.NewSecret([]byte("changeit")),
				Generate: &answers.Generate{KeyAlgorithm: "EC", KeySize: 256}},
			DERPath: filepath.Join(sd, "x509", "server.der"), PEMPath: filepath.Join(sd, "x509", "server.pem"), RestartCommand: "restart",
			Truststore: &answers.Truststore{Path: filepath.Join(sd, "x509", "cms-truststore.jks")}},
		Agents: &answers.Agents{Hosts: hosts, RestartCommand: "restart", CheckCommand: "check", Parallelism: 8},
		TLS:    &answers.TLS{AgentEncryption: &yes, AdminConsole: admin},
		Verify: &answers.Verify{HeartbeatTimeout: answers.Duration(10 * time.Second), PollInterval: answers.Duration(100 * time.Millisecond)},
	}
	f.ApplyDefaults()
	return f
}

func (c *cluster) env(f *answers.File, rep Reporter) *Env {
	api, err := cmapi.New(f.Server.API.URL, "admin", []byte("admin"))
	must(c.t, err)
	env := &Env{Answers: f, API: api, Now: time.Now, Rand: rand.Reader, Reporter: rep,
		Server: &ctlHost{Host: remote.NewLocal("localhost"), proc: c.server}}
	env.NewAPI = func(url string, caPEM []byte) (API, error) {
		p := filepath.Join(c.t.TempDir(), "ca.pem")
		if err := os.WriteFile(p, caPEM, 0o644); err != nil {
			return nil, err
		}
		return cmapi.New(url, "admin", []byte("admin"), cmapi.WithCAFile(p))
	}
	env.Dial = func(ctx context.Context, a answers.AgentHost) (remote.Host, error) {
		return &ctlHost{Host: remote.NewLocal(a.Name), proc: c.agents[a.Name]}, nil
	}
	for _, a := range f.AgentHosts() {
		env.Agents = append(env.Agents, &Agent{AgentHost: a})
	}
	return env
}

func (c *cluster) restarts() map[string]int32 {
	out := map[string]int32{"server": c.server.Restarts.Load()}
	for n, p := range c.agents {
		out[n] = p.Restarts.Load()
	}
	return out
}

func TestE2EInitSecondRunRollback(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	origINI := map[string][]byte{}
	for n := range c.agents {
		b, err := os.ReadFile(filepath.Join(c.dir, n, "config.ini"))
		must(t, err)
		origINI[n] = b
	}
	f := c.answers(false)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	col := &Collector{}
	res, err := Run(ctx, c.env(f, col), TLSSteps(), Options{})
	if err != nil {
		t.Fatalf("init: %v\n%s", err, eventsText(col))
	}
	for _, h := range res.Hosts {
		if h.Status != HostVerified {
			t.Errorf("%s: %+v", h.Host, h)
		}
	}
	// The embedded server says how each heartbeat came: over TLS, with
	// the agent verifying the server certificate against the pushed PEM.
	hosts, err := c.hostsSeen(ctx)
	must(t, err)
	for _, h := range hosts {
		if h.AgentTLS == nil || !h.AgentTLS.Enabled || !h.AgentTLS.Verified {
			t.Errorf("%s heartbeats with TLS state %+v", h.Hostname, h.AgentTLS)
		}
	}
	if got := c.restarts(); got["server"] != 1 || got["agent1"] != 1 || got["agent3"] != 1 {
		t.Errorf("restarts after init: %v", got)
	}

	before := c.restarts()
	res, err = Run(ctx, c.env(f, nil), TLSSteps(), Options{})
	if err != nil {
		t.Fatalf("second init: %v", err)
	}
	if !res.Plan.Empty() {
		var b strings.Builder
		_ = res.Plan.WriteText(&b)
		t.Errorf("second init planned:\n%s", b.String())
	}
	if got := c.restarts(); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("second init restarted something: %v -> %v", before, got)
	}

	col = &Collector{}
	if _, err := Run(ctx, c.env(f, col), RollbackSteps(), Options{}); err != nil {
		t.Fatalf("rollback: %v\n%s", err, eventsText(col))
	}
	for n, want := range origINI {
		got, err := os.ReadFile(filepath.Join(c.dir, n, "config.ini"))
		must(t, err)
		if string(got) != string(want) {
			t.Errorf("%s: config.ini not restored byte for byte", n)
		}
	}
	hosts, err = c.hostsSeen(ctx)
	must(t, err)
	for _, h := range hosts {
		if h.AgentTLS == nil || h.AgentTLS.Enabled {
			t.Errorf("%s after rollback: TLS state %+v", h.Hostname, h.AgentTLS)
		}
	}
}

func TestE2EConsoleTLS(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	f := c.answers(true)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	// Step 7 alone, before Steps 1-6: refused, nothing changed.
	_, err := Run(ctx, c.env(f, nil), TLSSteps(), Options{Only: []string{"console-tls"}})
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("console-tls alone: %v, want a refusal", err)
	}
	col := &Collector{}
	env := c.env(f, col)
	if _, err := Run(ctx, env, TLSSteps(), Options{}); err != nil {
		t.Fatalf("init with console TLS: %v\n%s", err, eventsText(col))
	}
	// The plain console redirects to https, which serves the new
	// certificate and verifies against the server PEM.
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(f.Server.API.URL + "/")
	must(t, err)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode/100 != 3 || !strings.HasPrefix(loc, "https://") {
		t.Fatalf("console answers %d Location %q", resp.StatusCode, loc)
	}
	pemBytes, err := os.ReadFile(f.Server.PEMPath)
	must(t, err)
	leaf, err := pki.ParseCertificate(pemBytes)
	must(t, err)
	served, err := servedCert(ctx, strings.TrimPrefix(strings.SplitN(strings.TrimPrefix(loc, "https://"), "/", 2)[0], ""))
	must(t, err)
	if !served.Equal(leaf) {
		t.Error("the TLS console serves another certificate")
	}
	// The Management Service trusts the certificate: its setting names
	// the truststore written on the server, a JKS holding the PEM's
	// certificate, and its restart ran once, after the server's.
	cms := c.srv.Load().ServiceConfig()
	if cms["ssl_client_truststore_location"] != f.Server.Truststore.Path || cms["ssl_client_truststore_password"] == "" {
		t.Errorf("management service settings %v", cms)
	}
	tsData, err := os.ReadFile(f.Server.Truststore.Path)
	must(t, err)
	ts, err := pki.ReadKeystore(tsData, []byte(cms["ssl_client_truststore_password"]))
	must(t, err)
	if got, err := ts.Certificate("cm-server"); err != nil || !got.Equal(leaf) {
		t.Errorf("truststore entry: %v", err)
	}
	if st, err := os.Stat(f.Server.Truststore.Path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("truststore mode: %v %v", st.Mode(), err)
	}
	if n := c.srv.Load().Restarts(); n != 1 {
		t.Errorf("management service restarted %d times since the server's restart, want 1", n)
	}
	var undo bool
	for _, e := range col.Events() {
		if strings.Contains(e.Detail, cms["ssl_client_truststore_password"]) {
			t.Errorf("the truststore password was shown: %q", e.Detail)
		}
		if strings.Contains(e.Detail, "to undo console TLS") {
			undo = true
		}
	}
	if !undo {
		t.Error("no undo instructions reported")
	}
	// A second run finds the console on TLS, follows it, and plans nothing.
	env2 := c.env(f, nil)
	must(t, env2.FollowConsoleTLS(ctx))
	before := c.restarts()
	res, err := Run(ctx, env2, TLSSteps(), Options{})
	if err != nil || !res.Plan.Empty() {
		var b strings.Builder
		_ = res.Plan.WriteText(&b)
		t.Errorf("second run: %v\n%s", err, b.String())
	}
	if fmt.Sprint(before) != fmt.Sprint(c.restarts()) {
		t.Errorf("second run restarted: %v -> %v", before, c.restarts())
	}
	// Rollback turns console TLS off again and the API is plain once more.
	env3 := c.env(f, nil)
	must(t, env3.FollowConsoleTLS(ctx))
	if _, err := Run(ctx, env3, RollbackSteps(), Options{}); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	resp, err = hc.Get(f.Server.API.URL + "/api/version")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("plain API after rollback answers %d", resp.StatusCode)
	}
}

func TestE2EWrongHostAgentLogReason(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	f := c.answers(false)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := Run(ctx, c.env(f, nil), TLSSteps(), Options{}); err != nil {
		t.Fatal(err)
	}
	// An agent that names the server by IP while the certificate says
	// localhost: the pre-flight stops the run with nothing changed.
	c.addAgent("agent3", "127.0.0.1")
	f = c.answers(false)
	ini3 := filepath.Join(c.dir, "agent3", "config.ini")
	before, _ := os.ReadFile(ini3)
	_, err := Run(ctx, c.env(f, nil), TLSSteps(), Options{})
	if exitOf(err) != 2 || !strings.Contains(err.Error(), "agent3 (server_host=127.0.0.1") {
		t.Fatalf("err %v, want the pre-flight refusal naming agent3", err)
	}
	if after, _ := os.ReadFile(ini3); string(after) != string(before) {
		t.Error("pre-flight changed agent3's config.ini")
	}
}

func eventsText(col *Collector) string {
	var b strings.Builder
	r := NewTextReporter(&b)
	for _, e := range col.Events() {
		r.Report(e)
	}
	return b.String()
}

func TestE2EHostDownThenRerun(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	f := c.answers(false)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	env := c.env(f, nil)
	dial := env.Dial
	env.Dial = func(ctx context.Context, a answers.AgentHost) (remote.Host, error) {
		if a.Name == "agent2" {
			return nil, errors.New("dial tcp 127.0.0.1:22: connect: connection refused")
		}
		return dial(ctx, a)
	}
	res, err := Run(ctx, env, TLSSteps(), Options{})
	if exitOf(err) != 3 {
		t.Fatalf("exit %d (%v), want 3", exitOf(err), err)
	}
	for _, h := range res.Hosts {
		if (h.Host == "agent2") != (h.Status == StatusFailed) {
			t.Errorf("%s: %s", h.Host, h.Status)
		}
	}
	// agent2 still heartbeats as before, untouched, while the others are on
	// verified TLS
	hosts, err := c.hostsSeen(ctx)
	must(t, err)
	for _, h := range hosts {
		if h.AgentTLS == nil {
			t.Fatalf("%s: no TLS state", h.Hostname)
		}
		if want := h.Hostname != "agent2"; h.AgentTLS.Verified != want {
			t.Errorf("%s verified=%v, want %v", h.Hostname, h.AgentTLS.Verified, want)
		}
	}
	before := c.restarts()
	res, err = Run(ctx, c.env(f, nil), TLSSteps(), Options{})
	if err != nil {
		t.Fatalf("re-run: %v", err)
	}
	after := c.restarts()
	if after["agent2"] != before["agent2"]+1 || after["agent1"] != before["agent1"] || after["server"] != before["server"] {
		t.Errorf("re-run restarts %v -> %v: want agent2 only", before, after)
	}
	if got := hostStatuses(res); got["agent2"] != HostVerified || got["agent1"] != HostUnchanged {
		t.Errorf("re-run hosts %v: want agent2 verified, agent1 already done", got)
	}
	hosts, err = c.hostsSeen(ctx)
	must(t, err)
	for _, h := range hosts {
		if !h.AgentTLS.Verified {
			t.Errorf("%s not verified after the re-run", h.Hostname)
		}
	}
}

func TestE2EImportCASigned(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	ca := pkitest.NewCA(t, "cmtls test root")
	inter := ca.Intermediate(t, "cmtls test issuing CA")
	dir := t.TempDir()
	now := time.Now()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, b, 0o600))
		return p
	}

	// A certificate that runs out in 10 days is refused before anything
	// changes.
	short, shortKey := inter.Leaf(t, "localhost", []string{"localhost"}, now.Add(-time.Hour), now.Add(10*24*time.Hour))
	f := c.answers(false)
	f.Server.Keystore.Generate = nil
	f.Server.Keystore.Import = &answers.Import{Cert: write("short.pem", pkitest.CertPEM(short)),
		Chain: write("chain.pem", pkitest.CertPEM(inter.Cert, ca.Cert)), Key: write("short.key", pkitest.KeyPEM(t, shortKey))}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	_, err := Run(ctx, c.env(f, nil), TLSSteps(), Options{})
	if exitOf(err) != 2 || !strings.Contains(err.Error(), "at least 30 more days") {
		t.Fatalf("short-lived certificate: %v, want exit 2", err)
	}
	if _, err := os.Stat(f.Server.Keystore.Path); err == nil {
		t.Fatal("keystore written although the pre-flight refused")
	}

	// A CA-signed certificate with its chain: the agents trust the chain
	// pushed with it and verify the server over TLS.
	leaf, key := inter.Leaf(t, "localhost", []string{"localhost"}, now.Add(-time.Hour), now.Add(365*24*time.Hour))
	f.Server.Keystore.Import.Cert = write("server.pem", pkitest.CertPEM(leaf))
	f.Server.Keystore.Import.Key = write("server.key", pkitest.KeyPEM(t, key))
	col := &Collector{}
	if _, err := Run(ctx, c.env(f, col), TLSSteps(), Options{}); err != nil {
		t.Fatalf("import: %v\n%s", err, eventsText(col))
	}
	pushed, err := os.ReadFile(filepath.Join(c.dir, "agent1", "cmf", "server.pem"))
	must(t, err)
	certs, err := pki.ParseCertificates(pushed)
	must(t, err)
	if len(certs) != 3 || !certs[0].Equal(leaf) || !certs[2].Equal(ca.Cert) {
		t.Errorf("pushed PEM holds %d certificates, want leaf, intermediate, root", len(certs))
	}
	hosts, err := c.hostsSeen(ctx)
	must(t, err)
	for _, h := range hosts {
		if h.AgentTLS == nil || !h.AgentTLS.Verified {
			t.Errorf("%s: TLS %+v", h.Hostname, h.AgentTLS)
		}
	}
	// the same import again changes nothing
	res, err := Run(ctx, c.env(f, nil), TLSSteps(), Options{})
	if err != nil || !res.Plan.Empty() {
		t.Errorf("second import run: %v, empty plan %v", err, res.Plan.Empty())
	}
}

// TestE2EConsoleTLSAloneAfterLevel2 turns on console TLS in a run of its
// own (--only console-tls) once Steps 1-6 are done and verified.
func TestE2EConsoleTLSAloneAfterLevel2(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := Run(ctx, c.env(c.answers(false), nil), TLSSteps(), Options{}); err != nil {
		t.Fatal(err)
	}
	f := c.answers(true)
	col := &Collector{}
	res, err := Run(ctx, c.env(f, col), TLSSteps(), Options{Only: []string{"console-tls"}})
	if err != nil {
		t.Fatalf("console-tls alone after Steps 1-6: %v\n%s", err, eventsText(col))
	}
	if len(res.Steps) != 1 || res.Steps[0].Status != StatusChanged {
		t.Errorf("steps %+v", res.Steps)
	}
	if c.server.Restarts.Load() != 2 {
		t.Errorf("server restarted %d times, want 2 (Step 4, Step 7)", c.server.Restarts.Load())
	}
}

// TestE2EAgentThatDoesNotComeBack: an agent whose config.ini points at a
// port nothing listens on is restarted by a repair run and does not come
// back; the run reads the reason from its agent log and names the fix, the
// other agent stays verified, and the exit code is 3.
func TestE2EAgentThatDoesNotComeBack(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	f := c.answers(false)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := Run(ctx, c.env(f, nil), TLSSteps(), Options{}); err != nil {
		t.Fatal(err)
	}
	// the repair run waits 3 s for the agent that does not come back
	f.Verify.HeartbeatTimeout = answers.Duration(3 * time.Second)
	// drift on agent2: verify_cert_file commented out, and a wrong port
	p := filepath.Join(c.dir, "agent2", "config.ini")
	b, err := os.ReadFile(p)
	must(t, err)
	s := strings.Replace(string(b), "\nverify_cert_file=", "\n# verify_cert_file=", 1)
	s = strings.Replace(s, fmt.Sprintf("server_port=%d", c.ports.Ports.Agent), "server_port=1", 1)
	must(t, os.WriteFile(p, []byte(s), 0o644))
	res, err := Run(ctx, c.env(f, nil), TLSSteps(), Options{})
	if exitOf(err) != 3 {
		t.Fatalf("exit %d (%v), want 3", exitOf(err), err)
	}
	var h2 HostResult
	for _, h := range res.Hosts {
		if h.Host == "agent2" {
			h2 = h
		} else if h.Status != HostUnchanged {
			t.Errorf("%s: %+v, want already done and verified", h.Host, h)
		}
	}
	if h2.Status != StatusFailed || h2.Log != "error: [Errno 111] Connection refused" || !strings.Contains(h2.Hint, "nothing listens on server_host:server_port") {
		t.Errorf("agent2 result %+v", h2)
	}
}

// status on the embedded CM: after init every agent is verified with a
// fresh heartbeat; an agent that is stopped goes stale (judged on the
// server's clock, the Date of its API answers) and is named, never
// "verified".
func TestE2EStatusStoppedAgent(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	f := c.answers(false)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := Run(ctx, c.env(f, nil), TLSSteps(), Options{}); err != nil {
		t.Fatal(err)
	}
	api, err := cmapi.New(f.Server.API.URL, "admin", []byte("admin"))
	must(t, err)
	must(t, api.SetConfig(ctx, map[string]string{"HEARTBEAT_INTERVAL": "1"}))
	r := ReadStatus(ctx, c.env(f, nil))
	if err := r.Err(); err != nil || r.Clock != "server" || r.HeartbeatInterval != 1 {
		t.Fatalf("after init: %v (clock %q, interval %d)", err, r.Clock, r.HeartbeatInterval)
	}
	must(t, c.agents["agent2"].Stop())
	deadline := time.Now().Add(20 * time.Second)
	for {
		r = ReadStatus(ctx, c.env(f, nil))
		if !r.Agents[1].HeartbeatFresh || time.Now().After(deadline) {
			break
		}
		must(t, (&Env{}).sleep(ctx, 200*time.Millisecond))
	}
	var ue *UnhealthyError
	if err := r.Err(); !errors.As(err, &ue) || len(ue.Hosts) != 1 || !strings.HasPrefix(ue.Hosts[0], "agent2: ") {
		t.Fatalf("stopped agent2: %v", err)
	}
	if a2 := r.Agents[1]; a2.Verified || a2.TLS != "stale" || a2.LastTLS != "verified" || !r.Agents[0].Verified {
		t.Errorf("agents %+v", r.Agents)
	}
}

// A run cut off after Step 3 (settings, keystore and agents written, the
// server not restarted): restart-server run alone plans from the same
// Facts as a full run (the heartbeat port does not serve the server's
// certificate yet), so both plan the same restart, and alone it does it.
func TestE2EOnlyRestartServerSeesTheFullRunsInputs(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1)
	f := c.answers(false)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := Run(ctx, c.env(f, nil), TLSSteps(), Options{Only: []string{"enable-agent-tls", "server-cert", "push-cert"}}); err != nil {
		t.Fatal(err)
	}
	planOf := func(opts Options) Change {
		t.Helper()
		opts.DryRun = true
		res, err := Run(ctx, c.env(f, nil), TLSSteps(), opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range res.Plan {
			if ch.Step == "restart-server" {
				return ch
			}
		}
		t.Fatal("no restart-server plan")
		return Change{}
	}
	alone, full := planOf(Options{Only: []string{"restart-server"}}), planOf(Options{})
	if len(alone.Items) != 1 || !strings.Contains(alone.Items[0].Note, "heartbeat port") {
		t.Fatalf("restart-server alone plans %+v", alone.Items)
	}
	if d := cmp.Diff(full.Items, alone.Items); d != "" {
		t.Errorf("restart-server plans differently alone (-full +alone):\n%s", d)
	}
	before := c.restarts()["server"]
	if _, err := Run(ctx, c.env(f, nil), TLSSteps(), Options{Only: []string{"restart-server"}}); err != nil {
		t.Fatal(err)
	}
	if got := c.restarts()["server"]; got != before+1 {
		t.Errorf("server restarts %d -> %d", before, got)
	}
}
