package steps

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/pki/pkitest"
	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/steps/answers"
)

// heartbeatWatch polls the hosts API and keeps every distinct lastHeartbeat
// of every host: the heartbeats the server received, as CM shows them.
type heartbeatWatch struct {
	mu    sync.Mutex
	seen  map[string][]time.Time
	stop  chan struct{}
	done  chan struct{}
	polls int
}

func watchHeartbeats(t *testing.T, url string) *heartbeatWatch {
	api, err := cmapi.New(url, "admin", []byte("admin"))
	must(t, err)
	w := &heartbeatWatch{seen: map[string][]time.Time{}, stop: make(chan struct{}), done: make(chan struct{})}
	tick := time.NewTicker(40 * time.Millisecond)
	go func() {
		defer close(w.done)
		defer tick.Stop()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			hosts, err := api.Hosts(ctx)
			cancel()
			if err == nil {
				w.mu.Lock()
				w.polls++
				for _, h := range hosts {
					ts := w.seen[h.Hostname]
					if len(ts) == 0 || !ts[len(ts)-1].Equal(h.LastHeartbeat) {
						w.seen[h.Hostname] = append(ts, h.LastHeartbeat)
					}
				}
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(w.Stop)
	return w
}

func (w *heartbeatWatch) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// longestGap is the longest time between two heartbeats of any host in
// [from, to] (the last heartbeat before from counts as the start, and to
// as the end), and the host it was seen on.
func (w *heartbeatWatch) longestGap(from, to time.Time) (time.Duration, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var worst time.Duration
	var who string
	for h, ts := range w.seen {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		prev := time.Time{}
		for _, t := range ts {
			if t.After(to) {
				break
			}
			if !t.After(from) {
				prev = t
				continue
			}
			if !prev.IsZero() && t.Sub(prev) > worst {
				worst, who = t.Sub(prev), h
			}
			prev = t
		}
		if !prev.IsZero() && to.Sub(prev) > worst {
			worst, who = to.Sub(prev), h+" (at the end)"
		}
	}
	return worst, who
}

// logSizes is the size of every agent's log now.
func (c *cluster) logSizes() map[string]int64 {
	out := map[string]int64{}
	for n := range c.agents {
		if st, err := os.Stat(filepath.Join(c.dir, n, "agent.log")); err == nil {
			out[n] = st.Size()
		}
	}
	return out
}

// failedHeartbeat is one "Heartbeating to ... failed." of an agent log,
// with the last line of its traceback (the reason).
type failedHeartbeat struct{ host, reason string }

// certificate reports whether the failure is the certificate's (the agent
// refused it, or spoke TLS to a plain port): what a renewal must avoid. The
// others (connection refused or reset, the peer closing) are the server's
// restart itself.
func (f failedHeartbeat) certificate() bool {
	for _, r := range []string{"certificate verify failed", "WrongHost", "unknown protocol", "bad certificate", "certificate has expired"} {
		if strings.Contains(f.reason, r) {
			return true
		}
	}
	return false
}

// failedSince returns the failed heartbeats each agent logged after the
// offsets.
func (c *cluster) failedSince(off map[string]int64) []failedHeartbeat {
	var out []failedHeartbeat
	for name := range c.agents {
		b, err := os.ReadFile(filepath.Join(c.dir, name, "agent.log"))
		if err != nil {
			continue
		}
		lines := strings.Split(string(b[min(off[name], int64(len(b))):]), "\n")
		for i, l := range lines {
			if strings.Contains(l, "Heartbeating to") && strings.Contains(l, "failed") {
				// the traceback's last line is the reason
				reason := ""
				for _, r := range lines[i+1:] {
					if strings.HasPrefix(r, "[") {
						break
					}
					reason = strings.TrimSpace(r)
				}
				out = append(out, failedHeartbeat{name, reason})
			}
		}
	}
	return out
}

// split counts the certificate's failures and the restart's, per host.
func split(fs []failedHeartbeat) (cert []failedHeartbeat, restart map[string][]string) {
	restart = map[string][]string{}
	for _, f := range fs {
		if f.certificate() {
			cert = append(cert, f)
		} else {
			restart[f.host] = append(restart[f.host], f.reason)
		}
	}
	return cert, restart
}

// agentsVerify checks, as the Python agent does, that every agent's
// verify_cert_file verifies the certificate its server_host:server_port
// serves, for server_host as written; and that it is want.
func (c *cluster) agentsVerify(t *testing.T, ctx context.Context, f *answers.File, want []byte) {
	t.Helper()
	for _, a := range f.AgentHosts() {
		ini, err := os.ReadFile(a.ConfigPath)
		must(t, err)
		ai, err := parseAgentINI(ini)
		must(t, err)
		pemFile, err := os.ReadFile(ai.VerifyCertFile)
		must(t, err)
		if want != nil && !bytes.Equal(pemFile, want) {
			t.Errorf("%s: %s is not the planned PEM", a.Name, ai.VerifyCertFile)
		}
		roots, err := pki.ParseCertificates(pemFile)
		must(t, err)
		chain, err := servedChain(ctx, net.JoinHostPort(ai.ServerHost, ai.ServerPort))
		must(t, err)
		if _, err := pki.VerifyChain(chain[0], chain[1:], roots, ai.ServerHost, time.Now()); err != nil {
			t.Errorf("%s: the served certificate does not verify with %s: %v", a.Name, ai.VerifyCertFile, err)
		}
	}
}

// slowRestart is an agent host whose restart command takes a while, as
// `service cloudera-scm-agent restart` does (the supervisor stops the
// agent's processes first): the old agent keeps heartbeating, with the PEM
// it loaded at start, until the restart swaps it.
type slowRestart struct {
	*ctlHost
	d time.Duration
}

func (h *slowRestart) Run(ctx context.Context, cmd string, stdin io.Reader) (*remote.Result, error) {
	if cmd == "restart" {
		t := time.NewTimer(h.d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	return h.ctlHost.Run(ctx, cmd, stdin)
}

// slowEnv is c.env whose agents restart in d.
func (c *cluster) slowEnv(f *answers.File, rep Reporter, d time.Duration) *Env {
	env := c.env(f, rep)
	env.Dial = func(ctx context.Context, a answers.AgentHost) (remote.Host, error) {
		return &slowRestart{ctlHost: &ctlHost{Host: remote.NewLocal(a.Name), proc: c.agents[a.Name]}, d: d}, nil
	}
	return env
}

func serverLeaf(t *testing.T, f *answers.File) *pki.Keystore {
	t.Helper()
	b, err := os.ReadFile(f.Server.Keystore.Path)
	must(t, err)
	ks, err := pki.ReadKeystore(b, f.Server.Keystore.Password.Value())
	must(t, err)
	return ks
}

// The renewal on 5 agents heartbeating every second: a new certificate,
// served by the heartbeat port and verified by every agent with its own
// verify_cert_file, with no failed heartbeat in any agent log after the
// renewal began and no host missing a heartbeat interval in the hosts API.
// Then "today's way", init again with a new keystore, for the figure to
// compare with: its longest gap and failed heartbeats.
func TestE2ERenewZeroGap(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 0)
	c.interval = time.Second
	for i := range 5 {
		c.addAgent(fmt.Sprintf("agent%d", i+1), "localhost")
	}
	f := c.answers(false)
	f.Verify.HeartbeatTimeout = answers.Duration(20 * time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	col := &Collector{}
	if _, err := Run(ctx, c.env(f, col), TLSSteps(), Options{}); err != nil {
		t.Fatalf("init: %v\n%s", err, eventsText(col))
	}
	// an agent restart takes this long (the old agent runs meanwhile)
	const agentRestart = 500 * time.Millisecond
	oldDER, err := serverLeaf(t, f).ExportDER(f.Server.Keystore.Alias)
	must(t, err)

	w := watchHeartbeats(t, f.Server.API.URL)
	off := c.logSizes()
	before := c.restarts()
	start := time.Now()
	col = &Collector{}
	res, err := Run(ctx, c.slowEnv(f, col, agentRestart), NewRenewSteps(RenewOptions{}), Options{})
	end := time.Now()
	if err != nil {
		t.Fatalf("renew: %v\n%s", err, eventsText(col))
	}
	for _, h := range res.Hosts {
		if h.Status != HostVerified && h.Status != HostUnchanged {
			t.Errorf("%s: %+v", h.Host, h)
		}
	}
	gap, who := w.longestGap(start, end)
	certFails, restartFails := split(c.failedSince(off))
	t.Logf("renew took %s; longest gap between two heartbeats of any agent: %s (%s); failed heartbeats logged: %d for the certificate, %d in the server restart's own window %v",
		end.Sub(start).Round(time.Millisecond), gap.Round(time.Millisecond), who, len(certFails), len(restartFails), restartFails)
	if len(certFails) > 0 {
		t.Errorf("agents refused the certificate during the renewal: %v", certFails)
	}
	// The server's restart (in-process, a few ms to ~100 ms without a
	// listener) is a window in which a heartbeat can meet "Connection
	// refused": the restart's, the same in any procedure. One such
	// heartbeat per agent at most; an agent that met it misses that one.
	for h, why := range restartFails {
		if len(why) > 1 {
			t.Errorf("%s: %d heartbeats failed around the server's restart, want at most 1: %v", h, len(why), why)
		}
	}
	// A missed interval: no heartbeat for two intervals (one interval,
	// the agent's restart and the poll's jitter are normal).
	if gap >= 2*c.interval && len(restartFails) == 0 {
		t.Errorf("a host missed a heartbeat interval during the renewal: %s without a heartbeat (%s)", gap, who)
	}
	if gap >= 3*c.interval {
		t.Errorf("a host went %s without a heartbeat during the renewal (%s)", gap, who)
	}

	// The new certificate: in the keystore, served, trusted alone.
	newDER, err := serverLeaf(t, f).ExportDER(f.Server.Keystore.Alias)
	must(t, err)
	if bytes.Equal(newDER, oldDER) {
		t.Fatal("the keystore still holds the old certificate")
	}
	served, err := servedCert(ctx, net.JoinHostPort("localhost", strconv.Itoa(c.ports.Ports.Agent)))
	must(t, err)
	if !bytes.Equal(served.Raw, newDER) {
		t.Error("the heartbeat port does not serve the new certificate")
	}
	c.agentsVerify(t, ctx, f, pki.EncodePEM(newDER))
	pemPath, err := os.ReadFile(f.Server.PEMPath)
	must(t, err)
	if !bytes.Equal(pemPath, pki.EncodePEM(newDER)) {
		t.Error("server.pem is not the new certificate")
	}
	if m, _ := filepath.Glob(f.Server.Keystore.Path + ".cmtls-*.bak"); len(m) == 0 {
		t.Error("no backup of the old keystore")
	}
	if _, err := os.Stat(renewStagingPath(f.Server.Keystore.Path)); !os.IsNotExist(err) {
		t.Errorf("the staging keystore is still there: %v", err)
	}
	if p := ReadRenewPhase(ctx, c.env(f, nil)); p != "" {
		t.Errorf("phase after the renewal: %q", p)
	}
	// each agent restarted twice (phases a and c), the server once
	after := c.restarts()
	for n, k := range after {
		want := int32(2)
		if n == "server" {
			want = 1
		}
		if k-before[n] != want {
			t.Errorf("%s restarted %d times, want %d", n, k-before[n], want)
		}
	}
	// check after the renewal: OK, 180 days left
	r := ReadStatus(ctx, c.env(f, nil))
	if ck := Check(r, CheckOptions{Warn: 30 * 24 * time.Hour, Critical: 7 * 24 * time.Hour, Now: time.Now()}); ck.State != CheckOK {
		t.Errorf("check after renew: %s", ck.Line())
	}

	// Today's way: init again with a new keystore. The server switches
	// before the agents trust the new certificate.
	f2 := c.answers(false)
	f2.Verify.HeartbeatTimeout = answers.Duration(20 * time.Second)
	f2.Server.Keystore.Path = filepath.Join(c.dir, "server", "cm-new.keystore")
	off = c.logSizes()
	start = time.Now()
	col = &Collector{}
	if _, err := Run(ctx, c.slowEnv(f2, col, agentRestart), TLSSteps(), Options{}); err != nil {
		t.Fatalf("init with a new keystore: %v\n%s", err, eventsText(col))
	}
	end = time.Now()
	w.Stop()
	initGap, initWho := w.longestGap(start, end)
	initCert, initRestart := split(c.failedSince(off))
	t.Logf("init with a new keystore took %s; longest gap between two heartbeats of any agent: %s (%s); failed heartbeats logged: %d for the certificate, %d in the server restart's own window",
		end.Sub(start).Round(time.Millisecond), initGap.Round(time.Millisecond), initWho, len(initCert), len(initRestart))
	if len(initCert) == 0 {
		t.Error("init with a new keystore logged no certificate failure: the comparison measures nothing")
	}
}

// snapshot is the bytes of every file a renewal may change, to prove that
// a refused one changed nothing.
func (c *cluster) snapshot(t *testing.T, f *answers.File) map[string]string {
	t.Helper()
	out := map[string]string{}
	paths := []string{f.Server.Keystore.Path, f.Server.PEMPath, f.Server.DERPath,
		renewStatePath(f.Server.Keystore.Path), renewStagingPath(f.Server.Keystore.Path)}
	for _, a := range f.AgentHosts() {
		paths = append(paths, a.PEMDest, a.ConfigPath)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			out[p] = "missing"
			continue
		}
		out[p] = string(b)
	}
	return out
}

func sameFiles(t *testing.T, before, after map[string]string) {
	t.Helper()
	for p, b := range before {
		if after[p] != b {
			t.Errorf("%s changed", p)
		}
	}
}

// A new certificate whose SANs miss an agent's server_host (as written in
// its config.ini) is refused in the pre-flight: exit 2, nothing changed.
func TestE2ERenewPreflightSANs(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1)
	c.addAgent("agent2", "127.0.0.1")
	f := c.answers(false)
	f.Server.Keystore.Generate.SAN = []string{"127.0.0.1"}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	col := &Collector{}
	if _, err := Run(ctx, c.env(f, col), TLSSteps(), Options{}); err != nil {
		t.Fatalf("init: %v\n%s", err, eventsText(col))
	}
	f.Server.Keystore.Generate.SAN = []string{"localhost"}
	before, restarts := c.snapshot(t, f), c.restarts()
	_, err := Run(ctx, c.env(f, nil), NewRenewSteps(RenewOptions{}), Options{})
	if exitOf(err) != 2 || !strings.Contains(err.Error(), "agent2 (server_host=127.0.0.1") {
		t.Fatalf("renew: %v (exit %d), want the pre-flight refusal naming agent2", err, exitOf(err))
	}
	sameFiles(t, before, c.snapshot(t, f))
	if fmt.Sprint(restarts) != fmt.Sprint(c.restarts()) {
		t.Errorf("restarts %v -> %v", restarts, c.restarts())
	}
	// Without the answers naming SANs, the old certificate's are kept:
	// the renewal goes through and agent2 still verifies.
	f.Server.Keystore.Generate.SAN = nil
	col = &Collector{}
	if _, err := Run(ctx, c.env(f, col), NewRenewSteps(RenewOptions{}), Options{}); err != nil {
		t.Fatalf("renew: %v\n%s", err, eventsText(col))
	}
	c.agentsVerify(t, ctx, f, nil)
}

// The CA-signed way: renew --csr writes the CSR and stops; a certificate
// for another key is refused (nothing changed); the right one continues.
// A renewal cut off after phase a is named by status and continues.
func TestE2ERenewCSRImportResume(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	f := c.answers(false)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	col := &Collector{}
	if _, err := Run(ctx, c.env(f, col), TLSSteps(), Options{}); err != nil {
		t.Fatalf("init: %v\n%s", err, eventsText(col))
	}
	csrPath := filepath.Join(c.dir, "cm.csr")
	before := c.snapshot(t, f)
	col = &Collector{}
	if _, err := Run(ctx, c.env(f, col), NewRenewSteps(RenewOptions{CSR: csrPath}), Options{}); err != nil {
		t.Fatalf("renew --csr: %v\n%s", err, eventsText(col))
	}
	for _, a := range f.AgentHosts() {
		if b, _ := os.ReadFile(a.PEMDest); string(b) != before[a.PEMDest] {
			t.Errorf("%s: renew --csr changed %s", a.Name, a.PEMDest)
		}
	}
	if b, _ := os.ReadFile(f.Server.Keystore.Path); string(b) != before[f.Server.Keystore.Path] {
		t.Error("renew --csr changed the keystore")
	}
	if p := ReadRenewPhase(ctx, c.env(f, nil)); !strings.HasPrefix(p, "csr") {
		t.Errorf("phase after --csr: %q", p)
	}
	csrPEM, err := os.ReadFile(csrPath)
	must(t, err)
	blk, _ := pem.Decode(csrPEM)
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		t.Fatalf("CSR file: %q", csrPEM)
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	must(t, err)
	must(t, csr.CheckSignature())
	if !slices.Contains(csr.DNSNames, "localhost") {
		t.Errorf("CSR SANs %v", csr.DNSNames)
	}

	ca := pkitest.NewCA(t, "cmtls test CA")
	now := time.Now()
	writePEM := func(name string, certs ...*x509.Certificate) string {
		var b []byte
		for _, c := range certs {
			b = append(b, pki.EncodePEM(c.Raw)...)
		}
		p := filepath.Join(c.dir, name)
		must(t, os.WriteFile(p, b, 0o644))
		return p
	}
	chain := writePEM("ca.pem", ca.Cert)
	// a certificate for another key: refused, nothing changed
	other, _ := ca.Leaf(t, "localhost", []string{"localhost"}, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	f.Server.Keystore.Generate = nil
	f.Server.Keystore.Import = &answers.Import{Cert: writePEM("other.crt", other), Chain: chain}
	before = c.snapshot(t, f)
	_, err = Run(ctx, c.env(f, nil), NewRenewSteps(RenewOptions{}), Options{})
	if exitOf(err) != 2 || !strings.Contains(err.Error(), "not for the key of the CSR") {
		t.Fatalf("renew with a certificate for another key: %v (exit %d)", err, exitOf(err))
	}
	sameFiles(t, before, c.snapshot(t, f))

	// the right one, cut off once phase a is verified
	signed := ca.LeafForKey(t, csr.PublicKey, "localhost", []string{"localhost"}, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	f.Server.Keystore.Import.Cert = writePEM("cm.crt", signed)
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	cut := ReporterFunc(func(e Event) {
		if e.Step == "renew-bundle" && e.Phase == PhaseVerify && e.Status == StatusOK && e.Host == "" {
			stop()
		}
	})
	_, err = Run(cctx, c.env(f, cut), NewRenewSteps(RenewOptions{}), Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cut-off renew: %v", err)
	}
	env := c.env(f, nil)
	if st := ReadStatus(ctx, env); !strings.Contains(st.Server.RenewPhase, "switch") {
		t.Errorf("status after phase a: renew phase %q", st.Server.RenewPhase)
	}
	env.Close()
	col = &Collector{}
	res, err := Run(ctx, c.env(f, col), NewRenewSteps(RenewOptions{}), Options{})
	if err != nil {
		t.Fatalf("renew again: %v\n%s", err, eventsText(col))
	}
	if len(res.Plan) < 2 || !res.Plan[1].Empty() || !strings.Contains(strings.Join(res.Plan[0].Notes, " "), "continuing the renewal") {
		var b strings.Builder
		_ = res.Plan.WriteText(&b)
		t.Errorf("the second run does not continue from phase b:\n%s", b.String())
	}
	served, err := servedCert(ctx, net.JoinHostPort("localhost", strconv.Itoa(c.ports.Ports.Agent)))
	must(t, err)
	if !served.Equal(signed) {
		t.Error("the heartbeat port does not serve the CA-signed certificate")
	}
	c.agentsVerify(t, ctx, f, append(pki.EncodePEM(signed.Raw), pki.EncodePEM(ca.Cert.Raw)...))
	if p := ReadRenewPhase(ctx, c.env(f, nil)); p != "" {
		t.Errorf("phase after the renewal: %q", p)
	}
	onHost := 0
	for _, e := range col.Events() {
		if strings.Contains(e.Detail, "verifies with the new certificate alone (openssl s_client on the host)") {
			onHost++
		}
	}
	if onHost != 2 {
		t.Errorf("%d agents proved on the host with openssl, want 2\n%s", onHost, eventsText(col))
	}
	// the proof can fail: a PEM of another certificate does not verify
	env = c.env(f, nil)
	env.init()
	env.discover(ctx)
	defer env.Close()
	r := &renewRun{newPEM: pki.EncodePEM(other.Raw)}
	if where, err := r.newAlone(ctx, env, env.Agents[0]); err == nil || !strings.Contains(err.Error(), "does not verify with the new certificate alone (openssl s_client on the host)") {
		t.Errorf("proof with another certificate: %q, %v", where, err)
	}
}

// With console TLS on, the API is reached over TLS: the renewal moves its
// client to trust the new certificate across the server's restart, the
// console serves the new certificate afterwards, and the run says what
// else trusts the console.
func TestE2ERenewConsoleTLS(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	f := c.answers(true)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	col := &Collector{}
	if _, err := Run(ctx, c.env(f, col), TLSSteps(), Options{}); err != nil {
		t.Fatalf("init: %v\n%s", err, eventsText(col))
	}
	env := c.env(f, nil)
	must(t, env.FollowConsoleTLS(ctx))
	to, err := env.redirectTarget(ctx)
	must(t, err)
	// what trusts the console: a Management Service truststore CM names
	// (its password, which CM shows REDACTED, is not the keystore's, as
	// when Step 7 generated it: the truststore is written anew, every entry
	// kept, under a password given to CM), and the SAML answers'
	// server.api.ca_file, both holding the old certificate
	oldPEM, err := os.ReadFile(f.Server.PEMPath)
	must(t, err)
	pw := f.Server.Keystore.Password.Value()
	tsPath := filepath.Join(c.dir, "server", "cm-truststore.jks")
	if out, err := exec.Command("keytool", "-importcert", "-noprompt", "-alias", "cm-server", "-file", f.Server.PEMPath,
		"-keystore", tsPath, "-storetype", "JKS", "-storepass", "generated-elsewhere").CombinedOutput(); err != nil {
		t.Fatalf("keytool -importcert: %v\n%s", err, out)
	}
	other := pkitest.NewCA(t, "other-ca.example.com").Cert
	otherPEM := filepath.Join(c.dir, "other.pem")
	must(t, os.WriteFile(otherPEM, pki.EncodePEM(other.Raw), 0o644))
	if out, err := exec.Command("keytool", "-importcert", "-noprompt", "-alias", "some-other-ca", "-file", otherPEM,
		"-keystore", tsPath, "-storetype", "JKS", "-storepass", "generated-elsewhere").CombinedOutput(); err != nil {
		t.Fatalf("keytool -importcert: %v\n%s", err, out)
	}
	api, ok := env.API.(*cmapi.Client)
	if !ok {
		t.Fatalf("API is %T", env.API)
	}
	must(t, api.SetServiceConfig(ctx, map[string]string{settingMgmtTruststore: tsPath, settingMgmtTruststorePass: "generated-elsewhere"}))
	samlDir := t.TempDir()
	caFile := filepath.Join(samlDir, "console-ca.pem")
	must(t, os.WriteFile(caFile, oldPEM, 0o644))

	col = &Collector{}
	env.Reporter = col
	res, err := Run(ctx, env, NewRenewSteps(RenewOptions{SAMLCAFile: caFile, SAMLAnswers: "saml-answers.yaml"}), Options{})
	if err != nil {
		t.Fatalf("renew: %v\n%s", err, eventsText(col))
	}
	var b strings.Builder
	_ = res.Plan.WriteText(&b)
	for _, want := range []string{tsPath + " alias cmtls-", "Cloudera Management Service restart", caFile, "browsers and API clients"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the plan does not name %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "server.api.ca_file of the SAML answers naming another file") {
		t.Errorf("the plan names the SAML answers as still trusting the old certificate, though renew rewrites them:\n%s", b.String())
	}
	pemFile, err := os.ReadFile(f.Server.PEMPath)
	must(t, err)
	leaf, err := pki.ParseCertificate(pemFile)
	must(t, err)
	// the truststore: the new certificate and the other CA, not the old
	// certificate; keytool opens it with the password CM now has
	cmPass := c.srv.Load().ServiceConfig()[settingMgmtTruststorePass]
	if cmPass == "" || cmPass == "generated-elsewhere" || cmPass == string(pw) {
		t.Fatalf("CM's truststore password was not replaced")
	}
	out, kerr := exec.Command("keytool", "-list", "-rfc", "-keystore", tsPath, "-storepass", cmPass).CombinedOutput()
	if kerr != nil {
		t.Fatalf("keytool -list with CM's password: %v\n%s", kerr, out)
	}
	listed, err := pki.ParseCertificates(out)
	must(t, err)
	if len(listed) != 2 || !slices.ContainsFunc(listed, leaf.Equal) || !slices.ContainsFunc(listed, other.Equal) {
		t.Errorf("the truststore holds %d certificate(s), want the new one and the other CA:\n%s", len(listed), out)
	}
	if strings.Contains(eventsText(col), cmPass) {
		t.Error("the truststore password was shown")
	}
	if baks, _ := filepath.Glob(tsPath + ".cmtls-*.bak"); len(baks) < 2 {
		t.Errorf("truststore backups: %v", baks)
	}
	if n := c.srv.Load().Restarts(); n < 1 {
		t.Errorf("the Management Service was not restarted after the old certificate left its truststore")
	}
	if got, _ := os.ReadFile(caFile); !bytes.Equal(got, pemFile) {
		t.Errorf("the SAML answers' ca_file is not the new certificate")
	}
	if baks, _ := filepath.Glob(caFile + ".cmtls-*.bak"); len(baks) != 1 {
		t.Errorf("ca_file backups: %v", baks)
	} else if old, _ := os.ReadFile(baks[0]); !bytes.Equal(old, oldPEM) {
		t.Error("the ca_file backup is not the old certificate")
	}
	served, err := servedCert(ctx, to.Host)
	must(t, err)
	if !served.Equal(leaf) {
		t.Error("the TLS console does not serve the new certificate")
	}
	if _, err := env.API.Hosts(ctx); err != nil {
		t.Errorf("the API client after the renewal: %v", err)
	}
}

// The answers' keystore must be the one the server serves: a keystore the
// server does not use (another KEYSTORE_PATH), or one it has not loaded
// (the heartbeat port serves another certificate), would give the agents a
// bundle without the certificate they meet. Refused, nothing changed.
func TestE2ERenewKeystoreNotServed(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	f := c.answers(false)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	col := &Collector{}
	if _, err := Run(ctx, c.env(f, col), TLSSteps(), Options{}); err != nil {
		t.Fatalf("init: %v\n%s", err, eventsText(col))
	}
	ksBytes, err := os.ReadFile(f.Server.Keystore.Path)
	must(t, err)
	other := filepath.Join(c.dir, "server", "copy.keystore")
	must(t, os.WriteFile(other, ksBytes, 0o600))
	g := c.answers(false)
	g.Server.Keystore.Path = other
	before, restarts := c.snapshot(t, f), c.restarts()
	_, err = Run(ctx, c.env(g, nil), NewRenewSteps(RenewOptions{}), Options{})
	if exitOf(err) != 2 || !strings.Contains(err.Error(), "KEYSTORE_PATH") {
		t.Fatalf("renew of a keystore the server does not use: %v (exit %d)", err, exitOf(err))
	}
	sameFiles(t, before, c.snapshot(t, f))

	// a new keystore in place that the server has not loaded
	fresh := pkitest.SelfSignedKeystore(t, "jks", "jetty", "localhost", []string{"localhost"}, []byte("changeit"))
	must(t, os.WriteFile(f.Server.Keystore.Path, fresh, 0o600))
	before = c.snapshot(t, f)
	_, err = Run(ctx, c.env(f, nil), NewRenewSteps(RenewOptions{}), Options{})
	if exitOf(err) != 2 || !strings.Contains(err.Error(), "serves another certificate") || !strings.Contains(hint(err), "cmtls init") {
		t.Fatalf("renew of a keystore the server has not loaded: %v (exit %d)", err, exitOf(err))
	}
	sameFiles(t, before, c.snapshot(t, f))
	if fmt.Sprint(restarts) != fmt.Sprint(c.restarts()) {
		t.Errorf("restarts %v -> %v", restarts, c.restarts())
	}

}

// failRestart is an agent host whose restart command fails.
type failRestart struct{ *ctlHost }

func (h *failRestart) Run(ctx context.Context, cmd string, stdin io.Reader) (*remote.Result, error) {
	if cmd == "restart" {
		return &remote.Result{Code: 1, Stderr: []byte("Job for cloudera-scm-agent.service failed")}, nil
	}
	return h.ctlHost.Run(ctx, cmd, stdin)
}

// Phase a goes canary first: when the canary's restart fails, the other
// agents are left as they were and the server does not switch.
func TestE2ERenewCanaryFails(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	f := c.answers(false)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	col := &Collector{}
	if _, err := Run(ctx, c.env(f, col), TLSSteps(), Options{}); err != nil {
		t.Fatalf("init: %v\n%s", err, eventsText(col))
	}
	before := c.snapshot(t, f)
	env := c.env(f, nil)
	env.Dial = func(ctx context.Context, a answers.AgentHost) (remote.Host, error) {
		h := &ctlHost{Host: remote.NewLocal(a.Name), proc: c.agents[a.Name]}
		if a.Name == "agent1" {
			return &failRestart{h}, nil
		}
		return h, nil
	}
	res, err := Run(ctx, env, NewRenewSteps(RenewOptions{}), Options{})
	if err == nil || !strings.Contains(err.Error(), "the server has not switched") && !strings.Contains(err.Error(), "not switching the server") {
		t.Fatalf("renew with a failing canary: %v", err)
	}
	after := c.snapshot(t, f)
	for _, p := range []string{f.Server.Keystore.Path, f.Server.PEMPath} {
		if before[p] != after[p] {
			t.Errorf("%s changed although the canary failed", p)
		}
	}
	for _, a := range f.AgentHosts()[1:] {
		if before[a.PEMDest] != after[a.PEMDest] {
			t.Errorf("%s: its PEM changed although the canary failed", a.Name)
		}
	}
	for _, h := range res.Hosts {
		if h.Host != "agent1" && !strings.Contains(h.Error, "the canary failed") {
			t.Errorf("%s: %+v", h.Host, h)
		}
	}
	if p := ReadRenewPhase(ctx, c.env(f, nil)); !strings.HasPrefix(p, "a, bundle") {
		t.Errorf("phase %q", p)
	}

	// Again, with agent3 failing instead: the canary (agent1, whose
	// restart is still owed) and agent2 take the bundle; the server does
	// not switch while agent3 may not trust the new certificate.
	env = c.env(f, nil)
	env.Dial = func(ctx context.Context, a answers.AgentHost) (remote.Host, error) {
		h := &ctlHost{Host: remote.NewLocal(a.Name), proc: c.agents[a.Name]}
		if a.Name == "agent3" {
			return &failRestart{h}, nil
		}
		return h, nil
	}
	_, err = Run(ctx, env, NewRenewSteps(RenewOptions{}), Options{})
	if err == nil || !strings.Contains(err.Error(), "not switching the server: 1 agent(s) may not trust the new certificate yet (agent3)") {
		t.Fatalf("renew with agent3 failing: %v", err)
	}
	after = c.snapshot(t, f)
	if before[f.Server.Keystore.Path] != after[f.Server.Keystore.Path] {
		t.Error("the keystore switched although agent3 failed")
	}
	if b, _ := os.ReadFile(f.AgentHosts()[1].PEMDest); strings.Count(string(b), "BEGIN CERTIFICATE") != 2 {
		t.Errorf("agent2's PEM is not the bundle:\n%s", b)
	}
}

// renew --rollback goes back to the key and certificate from before the
// last renewal, through the same phases; with none, it is refused.
func TestE2ERenewRollback(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	f := c.answers(false)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	col := &Collector{}
	if _, err := Run(ctx, c.env(f, col), TLSSteps(), Options{}); err != nil {
		t.Fatalf("init: %v\n%s", err, eventsText(col))
	}
	before := c.snapshot(t, f)
	_, err := Run(ctx, c.env(f, nil), NewRenewSteps(RenewOptions{Rollback: true}), Options{})
	if exitOf(err) != 2 || !strings.Contains(err.Error(), "no keystore from before a renewal") {
		t.Fatalf("rollback with no renewal: %v (exit %d)", err, exitOf(err))
	}
	sameFiles(t, before, c.snapshot(t, f))

	origPEM := before[f.Server.PEMPath]
	col = &Collector{}
	if _, err := Run(ctx, c.env(f, col), NewRenewSteps(RenewOptions{}), Options{}); err != nil {
		t.Fatalf("renew: %v\n%s", err, eventsText(col))
	}
	renewed, err := os.ReadFile(f.Server.PEMPath)
	must(t, err)
	if string(renewed) == origPEM {
		t.Fatal("renew left the certificate as it was")
	}
	col = &Collector{}
	if _, err := Run(ctx, c.env(f, col), NewRenewSteps(RenewOptions{Rollback: true}), Options{}); err != nil {
		t.Fatalf("rollback: %v\n%s", err, eventsText(col))
	}
	back, err := os.ReadFile(f.Server.PEMPath)
	must(t, err)
	if string(back) != origPEM {
		t.Error("server.pem is not the certificate from before the renewal")
	}
	leaf, err := pki.ParseCertificate(back)
	must(t, err)
	if der, err := serverLeaf(t, f).ExportDER(f.Server.Keystore.Alias); err != nil || !bytes.Equal(der, leaf.Raw) {
		t.Errorf("the keystore does not hold the certificate from before the renewal: %v", err)
	}
	served, err := servedCert(ctx, net.JoinHostPort("localhost", strconv.Itoa(c.ports.Ports.Agent)))
	must(t, err)
	if !served.Equal(leaf) {
		t.Error("the heartbeat port does not serve the certificate from before the renewal")
	}
	c.agentsVerify(t, ctx, f, back)
}

// After a renewal, plain rollback (TLS off altogether) says that the most
// recent change was a renewal and names renew --rollback; in the middle of
// a renewal it is refused, nothing changed.
func TestE2ERollbackAfterRenew(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	f := c.answers(false)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	pristine := map[string][]byte{}
	for _, h := range f.AgentHosts() {
		b, err := os.ReadFile(h.ConfigPath)
		must(t, err)
		pristine[h.Name] = b
	}
	col := &Collector{}
	if _, err := Run(ctx, c.env(f, col), TLSSteps(), Options{}); err != nil {
		t.Fatalf("init: %v\n%s", err, eventsText(col))
	}
	// before any renewal: no note
	res, err := Run(ctx, c.env(f, nil), RollbackSteps(), Options{DryRun: true})
	must(t, err)
	var b strings.Builder
	_ = res.Plan.WriteText(&b)
	if strings.Contains(b.String(), "renew --rollback") {
		t.Errorf("a note about a renewal that never was:\n%s", b.String())
	}
	col = &Collector{}
	if _, err := Run(ctx, c.env(f, col), NewRenewSteps(RenewOptions{}), Options{}); err != nil {
		t.Fatalf("renew: %v\n%s", err, eventsText(col))
	}
	res, err = Run(ctx, c.env(f, nil), RollbackSteps(), Options{DryRun: true})
	must(t, err)
	b.Reset()
	_ = res.Plan.WriteText(&b)
	if !strings.Contains(b.String(), "the most recent certificate change was a renewal") || !strings.Contains(b.String(), "run cmtls renew --rollback instead") {
		t.Errorf("the rollback plan does not name the renewal:\n%s", b.String())
	}

	// a renewal under way (its state file at phase b): refused
	sp := renewStatePath(f.Server.Keystore.Path)
	st, err := os.ReadFile(sp)
	must(t, err)
	must(t, os.WriteFile(sp, bytes.Replace(st, []byte(`"phase": "done"`), []byte(`"phase": "switch"`), 1), 0o600))
	before, restarts := c.snapshot(t, f), c.restarts()
	_, err = Run(ctx, c.env(f, nil), RollbackSteps(), Options{})
	if exitOf(err) != 2 || !strings.Contains(err.Error(), "under way") || !strings.Contains(hint(err), "cmtls renew --rollback") {
		t.Fatalf("rollback during a renewal: %v (exit %d)", err, exitOf(err))
	}
	sameFiles(t, before, c.snapshot(t, f))
	if fmt.Sprint(restarts) != fmt.Sprint(c.restarts()) {
		t.Errorf("restarts %v -> %v", restarts, c.restarts())
	}

	// after the finished renewal, rollback turns TLS off altogether: every
	// agent's config.ini back to its bytes before cmtls (undoing the
	// renewal's PEM alone would cut the agents off the new certificate),
	// AGENT_TLS off, plain heartbeats verified
	must(t, os.WriteFile(sp, st, 0o600))
	col = &Collector{}
	if _, err := Run(ctx, c.env(f, col), RollbackSteps(), Options{}); err != nil {
		t.Fatalf("rollback after the renewal: %v\n%s", err, eventsText(col))
	}
	for _, h := range f.AgentHosts() {
		cur, err := os.ReadFile(h.ConfigPath)
		must(t, err)
		if !bytes.Equal(cur, pristine[h.Name]) {
			t.Errorf("%s: config.ini after rollback differs from before cmtls:\n%s", h.Name, cur)
		}
		if _, err := os.Stat(h.PEMDest); err == nil {
			t.Errorf("%s: %s left behind", h.Name, h.PEMDest)
		}
	}
	if agentTLSOn(t, ctx, c) {
		t.Error("AGENT_TLS still on after the rollback")
	}
	// the renewal's state is kept aside, so that the next rollback is of
	// the next change only
	if _, err := os.Stat(sp); err == nil {
		t.Errorf("%s still in place after the rollback", sp)
	}
	if m, _ := filepath.Glob(sp + ".undone-*"); len(m) != 1 {
		t.Errorf("the renewal's state was not kept aside: %v", m)
	}
}
