package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/remotetest"
	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/agentcfg"
	"github.com/cmtls/cmtls/steps/ini"
)

// agentHost is one fake agent host: a real sshd, and a directory of its
// own standing in for / (per-host config_path and pem_dest).
type agentHost struct {
	name  string
	sshd  *remotetest.SSHD
	addr  string // for hosts without sshd (unreachable)
	root  string
	extra string // more YAML for the host object
}

func (h *agentHost) cfg() string { return filepath.Join(h.root, "etc/cloudera-scm-agent/config.ini") }
func (h *agentHost) pem() string { return filepath.Join(h.root, "etc/cmf/server.pem") }
func (h *agentHost) restarts() int {
	b, _ := os.ReadFile(filepath.Join(h.root, "restarts"))
	return strings.Count(string(b), "restart")
}

type agentFleet struct {
	t       *testing.T
	dir     string
	key     *remotetest.Key
	kh      string
	sshCfg  string
	pemFile string
	pem     []byte
	hosts   []*agentHost
	stock   []byte
}

func newAgentFleet(t *testing.T) *agentFleet {
	t.Helper()
	remotetest.RequireSSHD(t)
	dir := t.TempDir()
	fl := &agentFleet{t: t, dir: dir, key: remotetest.NewKey(t, dir, "id_ed25519", nil),
		kh: filepath.Join(dir, "known_hosts"), sshCfg: filepath.Join(dir, "ssh_config"), pemFile: filepath.Join(dir, "server.pem")}
	for _, p := range []string{fl.kh, fl.sshCfg} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", filepath.Join(dir, "server.key"), "-out", fl.pemFile, "-days", "30", "-subj", "/CN=cm1.example.com").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl: %v %s", err, out)
	}
	fl.pem, _ = os.ReadFile(fl.pemFile)
	fl.stock, err = os.ReadFile("../testdata/config.ini/stock.ini")
	if err != nil {
		t.Fatal(err)
	}
	return fl
}

// add starts a host with the stock config.ini.
func (fl *agentFleet) add(name string, o remotetest.SSHDOptions) *agentHost {
	t := fl.t
	h := &agentHost{name: name, root: filepath.Join(fl.dir, name)}
	if err := os.MkdirAll(filepath.Dir(h.cfg()), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.cfg(), fl.stock, 0o640); err != nil {
		t.Fatal(err)
	}
	if o.AuthorizedKeys == nil {
		o.AuthorizedKeys = []ssh.PublicKey{fl.key.Public()}
	}
	h.sshd = remotetest.StartSSHD(t, o)
	h.addr = h.sshd.Addr
	remotetest.AddKnownHost(t, fl.kh, h.sshd.Addr, h.sshd.HostKey)
	fl.hosts = append(fl.hosts, h)
	return h
}

func (fl *agentFleet) answers(extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\nagents:\n  hosts:\n")
	for _, h := range fl.hosts {
		host, port, _ := strings.Cut(h.addr, ":")
		fmt.Fprintf(&b, "    - name: %s\n      address: %s\n      port: %s\n      config_path: %s\n      pem_dest: %s\n      restart_command: %q\n      check_command: %q\n%s",
			h.name, host, port, h.cfg(), h.pem(), "echo restart >> "+filepath.Join(h.root, "restarts"), "test -s "+filepath.Join(h.root, "restarts"), h.extra)
	}
	fmt.Fprintf(&b, "  ssh:\n    user: root\n    identity_file: %s\n    known_hosts: %s\n    config: %s\n    timeout: 5s\n  parallelism: 4\n  canary: 0\n%s",
		fl.key.Path, fl.kh, fl.sshCfg, extra)
	p := filepath.Join(fl.dir, fmt.Sprintf("answers-%d.yaml", time.Now().UnixNano()))
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		fl.t.Fatal(err)
	}
	return p
}

func (fl *agentFleet) push(args ...string) (int, string, string) {
	f, out, errOut := testFactory(map[string]string{})
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := Run(c, f, append([]string{"agents", "push"}, args...))
	return code, out.String(), errOut.String()
}

// checkDone: the host has the PEM and a config.ini that differs from the
// stock one exactly by the two level-2 lines.
func (fl *agentFleet) checkDone(h *agentHost) {
	t := fl.t
	t.Helper()
	got, err := os.ReadFile(h.cfg())
	if err != nil {
		t.Fatal(err)
	}
	want, _, _, _ := ini.Set(fl.stock, "Security", []ini.KV{{Key: "use_tls", Value: "1"}, {Key: "verify_cert_file", Value: h.pem()}})
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: config.ini is not the stock file plus use_tls=1 and verify_cert_file", h.name)
	}
	if st, _ := os.Stat(h.cfg()); st.Mode() != 0o640 {
		t.Fatalf("%s: config.ini mode %v", h.name, st.Mode())
	}
	if b, _ := os.ReadFile(h.pem()); !bytes.Equal(b, fl.pem) {
		t.Fatalf("%s: PEM differs", h.name)
	}
	if b, _ := os.ReadFile(agentcfg.OrigPath(h.cfg())); !bytes.Equal(b, fl.stock) {
		t.Fatalf("%s: no pristine .cmtls.orig", h.name)
	}
}

func TestAgentsPushFleet(t *testing.T) {
	t.Parallel()
	fl := newAgentFleet(t)
	for i := 1; i <= 3; i++ {
		fl.add(fmt.Sprintf("agent%d", i), remotetest.SSHDOptions{})
	}
	ans := fl.answers("")

	// dry run: the diff of every host, nothing changed, nothing claimed
	code, out, errOut := fl.push("--answers", ans, "--pem", fl.pemFile, "--dry-run")
	if code != 0 || strings.Count(out, "[Security] use_tls: 0 -> 1") != 3 || strings.Count(out, "verify_cert_file: (unset) -> ") != 3 ||
		!strings.Contains(out, "dry run: 3 would change") || strings.Contains(out, "verified") {
		t.Fatalf("dry run: %d\n%s\n%s", code, out, errOut)
	}
	for _, h := range fl.hosts {
		if b, _ := os.ReadFile(h.cfg()); !bytes.Equal(b, fl.stock) || h.restarts() != 0 {
			t.Fatalf("%s changed by --dry-run", h.name)
		}
	}
	// headless without --yes: exit 2 naming --yes, nothing changed
	code, _, errOut = fl.push("--answers", ans, "--pem", fl.pemFile)
	if code != 2 || !strings.Contains(errOut, "--yes") {
		t.Fatalf("no --yes: %d\n%s", code, errOut)
	}
	// apply
	code, out, errOut = fl.push("--answers", ans, "--pem", fl.pemFile, "--yes")
	if code != 0 || !strings.Contains(out, "done: 3 agent host(s) verified") {
		t.Fatalf("push: %d\n%s\n%s", code, out, errOut)
	}
	for _, h := range fl.hosts {
		fl.checkDone(h)
		if h.restarts() != 1 {
			t.Fatalf("%s: %d restarts", h.name, h.restarts())
		}
	}
	// again: nothing to do, no restart, verified, JSON result
	code, out, errOut = fl.push("--answers", ans, "--pem", fl.pemFile, "--yes", "--json")
	if code != 0 {
		t.Fatalf("re-run: %d\n%s", code, errOut)
	}
	var res struct {
		Hosts []struct {
			Host, Status string
		}
		Counts map[string]int
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Counts["unchanged"] != 3 || len(res.Hosts) != 3 || res.Hosts[0].Status != "unchanged" {
		t.Fatalf("json: %v\n%s", err, out)
	}
	for _, h := range fl.hosts {
		if h.restarts() != 1 {
			t.Fatalf("%s restarted by a no-op run", h.name)
		}
	}
}

func TestAgentsPushFaults(t *testing.T) {
	t.Parallel()
	fl := newAgentFleet(t)
	good1 := fl.add("good1", remotetest.SSHDOptions{})
	good2 := fl.add("good2", remotetest.SSHDOptions{})
	// unreachable: a port nothing listens on
	down := fl.add("down", remotetest.SSHDOptions{})
	down.sshd.Kill()
	// refused auth: our key is not authorized
	other := remotetest.NewKey(t, "", "other", nil)
	fl.add("noauth", remotetest.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{other.Public()}})
	// host key changed: known_hosts has another key for it
	changed := fl.add("rekeyed", remotetest.SSHDOptions{})
	b, _ := os.ReadFile(fl.kh)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	lines[len(lines)-1] = strings.Fields(lines[len(lines)-1])[0] + " " + strings.TrimSpace(other.AuthorizedLine())
	if err := os.WriteFile(fl.kh, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = changed
	// config.ini missing
	missing := fl.add("noconfig", remotetest.SSHDOptions{})
	os.Remove(missing.cfg())
	// no [Security]
	nosec := fl.add("nosecurity", remotetest.SSHDOptions{})
	if err := os.WriteFile(nosec.cfg(), []byte("[General]\nserver_host=cm1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// read-only target directory (immutable even for root)
	ro := fl.add("readonly", remotetest.SSHDOptions{})
	if out, err := exec.Command("chattr", "+i", filepath.Dir(ro.cfg())).CombinedOutput(); err != nil {
		t.Logf("chattr unavailable (%v %s): read-only case not covered here", err, out)
		ro = nil
	} else {
		t.Cleanup(func() { _ = exec.Command("chattr", "-i", filepath.Dir(fl.hosts[len(fl.hosts)-1].cfg())).Run() })
	}

	code, out, errOut := fl.push("--answers", fl.answers(""), "--pem", fl.pemFile, "--yes")
	if code != 3 {
		t.Fatalf("exit %d, want 3\n%s\n%s", code, out, errOut)
	}
	fl.checkDone(good1)
	fl.checkDone(good2)
	for name, reason := range map[string]string{
		"down":       "cannot reach",
		"noauth":     "refused every key",
		"rekeyed":    "HOST KEY CHANGED",
		"noconfig":   "config.ini not found",
		"nosecurity": "no [Security] section",
	} {
		if !hostLine(out, name, "FAILED at [a-z-]+: .*"+regexp.QuoteMeta(reason)) || !hostLine(errOut, "FAILED", name+" .*"+regexp.QuoteMeta(reason)) {
			t.Errorf("%s: reason %q not reported:\n%s\n%s", name, reason, out, errOut)
		}
	}
	if ro != nil {
		if !hostLine(out, "readonly", "FAILED at push-agents: .*cannot create (a file beside|the lock file)") {
			t.Errorf("read-only host not reported:\n%s", out)
		}
		if b, _ := os.ReadFile(ro.cfg()); !bytes.Equal(b, fl.stock) {
			t.Error("read-only host's config.ini changed")
		}
	}
	if _, err := os.Stat(missing.cfg()); !os.IsNotExist(err) {
		t.Error("a missing config.ini was created")
	}
	if b, _ := os.ReadFile(nosec.cfg()); string(b) != "[General]\nserver_host=cm1\n" {
		t.Error("config.ini without [Security] was changed")
	}
	if !strings.Contains(out, "partly done: 2 agent host(s) verified, 6 failed\n") || !hostLine(out, "good1", "ok: done and verified") {
		t.Errorf("summary:\n%s", out)
	}
}

// hostLine reports whether out has a line "  NAME   REST" (the summary's
// and the progress reporter's layout) with REST matching re.
func hostLine(out, name, re string) bool {
	return regexp.MustCompile(`(?m)^ +` + regexp.QuoteMeta(name) + ` +` + re).MatchString(out)
}

func TestAgentsPushCanaryStopsTheRest(t *testing.T) {
	t.Parallel()
	fl := newAgentFleet(t)
	bad := fl.add("canary", remotetest.SSHDOptions{})
	os.Remove(bad.cfg())
	rest := fl.add("rest", remotetest.SSHDOptions{})
	ans := fl.answers("")
	b, _ := os.ReadFile(ans)
	if err := os.WriteFile(ans, bytes.Replace(b, []byte("canary: 0"), []byte("canary: 1"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	// The canary failed and the other host was not started: nothing is
	// done, so the run failed (exit 1, not 3 "partly done").
	code, out, errOut := fl.push("--answers", ans, "--pem", fl.pemFile, "--yes")
	if code != 1 || !hostLine(out, "rest", "not started: the canary host canary failed") || !hostLine(out, "canary", "FAILED at push-agents") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(rest.cfg()); !bytes.Equal(b, fl.stock) || rest.restarts() != 0 {
		t.Fatal("a host after the failed canary was changed")
	}
}

// TestAgentsPushSSHDKilledMidPush kills one host's sshd (and everything
// under it) while its agent restarts: that host is reported, the other
// finishes, no file is half-written, and a re-run completes the restart.
func TestAgentsPushSSHDKilledMidPush(t *testing.T) {
	t.Parallel()
	fl := newAgentFleet(t)
	ok := fl.add("steady", remotetest.SSHDOptions{})
	victim := fl.add("victim", remotetest.SSHDOptions{})
	started := filepath.Join(victim.root, "restart-started")
	victim.extra = ""
	ans := fl.answers("")
	// the victim's restart hangs until its sshd is killed
	b, _ := os.ReadFile(ans)
	hang := fmt.Sprintf("%q", "touch "+started+"; sleep 60")
	b = bytes.Replace(b, []byte(fmt.Sprintf("%q", "echo restart >> "+filepath.Join(victim.root, "restarts"))), []byte(hang), 1)
	if err := os.WriteFile(ans, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var code int
	var out, errOut string
	wg.Add(1)
	go func() { defer wg.Done(); code, out, errOut = fl.push("--answers", ans, "--pem", fl.pemFile, "--yes") }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the victim's restart never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	victim.sshd.Kill()
	wg.Wait()
	if code != 3 || !hostLine(out, "victim", "FAILED at push-agents: ") || !hostLine(out, "steady", "ok: done and verified") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	fl.checkDone(ok)
	// the victim's files are whole: the new ones (renamed before the restart)
	fl.checkDone(victim)
	ents, _ := os.ReadDir(filepath.Dir(victim.cfg()))
	for _, e := range ents {
		if strings.Contains(e.Name(), ".cmtls.") && !strings.HasSuffix(e.Name(), ".orig") {
			t.Fatalf("temp file left: %s", e.Name())
		}
	}
	if _, err := os.Stat(agentcfg.PendingPath(victim.cfg())); err != nil {
		t.Fatal("no pending-restart marker after the cut restart")
	}
	// the host comes back (a new sshd, same host key), the re-run restarts it
	s := remotetest.StartSSHD(t, remotetest.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{fl.key.Public()}, HostKey: hostKeyOf(t, victim.sshd)})
	victim.sshd, victim.addr = s, s.Addr
	remotetest.AddKnownHost(t, fl.kh, s.Addr, s.HostKey)
	code, out, errOut = fl.push("--answers", fl.answers(""), "--pem", fl.pemFile, "--yes")
	if code != 0 || victim.restarts() != 1 || ok.restarts() != 1 {
		t.Fatalf("re-run: exit %d, restarts %d/%d\n%s\n%s", code, victim.restarts(), ok.restarts(), out, errOut)
	}
	if _, err := os.Stat(agentcfg.PendingPath(victim.cfg())); !os.IsNotExist(err) {
		t.Fatal("pending marker still there after the restart")
	}
}

func hostKeyOf(t *testing.T, s *remotetest.SSHD) *remotetest.Key {
	t.Helper()
	p := filepath.Join(s.Dir, "host_ed25519")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return &remotetest.Key{Signer: signer, Path: p}
}

func TestAgentsPushBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "version: 1\nagents:\n  hosts: [a1]\n")
	pem := write("server.pem", "not a pem\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no answers", []string{"--yes"}, "--answers is required"},
		{"unknown key", []string{"--answers", write("bad.yaml", "version: 1\nagents:\n  hosts: [a1]\n  colour: red\n"), "--yes"}, "colour"},
		{"no pem", []string{"--answers", good, "--yes"}, "neither --pem nor server.pem_path"},
		{"pem missing", []string{"--answers", good, "--pem", filepath.Join(dir, "nope.pem"), "--yes"}, "cannot read --pem"},
		{"not a pem", []string{"--answers", good, "--pem", pem, "--yes"}, "holds no PEM certificate"},
		{"damaged pem", []string{"--answers", good, "--pem", write("damaged.pem", "-----BEGIN CERTIFICATE-----\nthis is garbage!!\n-----END CERTIFICATE-----\n"), "--yes"}, "damaged.pem: not a usable certificate file"},
		{"from api", []string{"--answers", write("api.yaml", "version: 1\nagents:\n  from_api: true\n"), "--pem", pem, "--yes"}, "from_api"},
		{"bad inventory", []string{"--answers", write("inv.yaml", "version: 1\nagents:\n  inventory: inv.ini\n"), "--yes", "--pem", pem}, "inventory"},
		{"stray argument", []string{"--answers", good, "extra"}, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _, errOut := testFactory(map[string]string{})
			code := Run(context.Background(), f, append([]string{"agents", "push"}, tc.args...))
			if code != 2 || !strings.Contains(errOut.String(), tc.want) {
				t.Fatalf("exit %d, want 2 with %q:\n%s", code, tc.want, errOut)
			}
		})
	}
}

func TestAgentsPushInventory(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPING: per-host /etc needs mount namespaces (root)")
	}
	fl := newAgentFleet(t)
	// every host sees its own tmpfs at the same path, as real hosts
	// have their own /etc
	etc := filepath.Join(fl.dir, "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	var inv strings.Builder
	inv.WriteString("[agents]\n")
	var hosts []*remotetest.SSHD
	for i := 1; i <= 2; i++ {
		s := remotetest.StartSSHD(t, remotetest.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{fl.key.Public()}, Tmpfs: []remotetest.Tmpfs{{Path: etc, Opts: "size=1m"}}})
		remotetest.AddKnownHost(t, fl.kh, s.Addr, s.HostKey)
		view := filepath.Join(s.Root(), etc, "cloudera-scm-agent")
		if err := os.MkdirAll(view, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(view, "config.ini"), fl.stock, 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&inv, "agent%d ansible_host=127.0.0.1 ansible_port=%d\n", i, s.Port)
		hosts = append(hosts, s)
	}
	inv.WriteString("\n[agents:vars]\nansible_user=root\n")
	if err := os.WriteFile(filepath.Join(fl.dir, "inventory.ini"), []byte(inv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ans := filepath.Join(fl.dir, "inv-answers.yaml")
	y := fmt.Sprintf("version: 1\nagents:\n  inventory: inventory.ini\n  ssh: {identity_file: %s, known_hosts: %s, config: %s}\n  config_path: %s\n  pem_dest: %s\n  restart_command: %q\n  check_command: %q\n",
		fl.key.Path, fl.kh, fl.sshCfg, filepath.Join(etc, "cloudera-scm-agent/config.ini"), filepath.Join(etc, "cmf/server.pem"),
		"touch "+filepath.Join(etc, "restarted"), "test -f "+filepath.Join(etc, "restarted"))
	if err := os.WriteFile(ans, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := fl.push("--answers", ans, "--pem", fl.pemFile, "--yes")
	if code != 0 || !strings.Contains(out, "done: 2 agent host(s) verified") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, s := range hosts {
		b, err := os.ReadFile(filepath.Join(s.Root(), etc, "cloudera-scm-agent/config.ini"))
		if err != nil {
			t.Fatal(err)
		}
		if v, _, _ := ini.Get(b, "Security", "verify_cert_file"); v != filepath.Join(etc, "cmf/server.pem") {
			t.Fatalf("verify_cert_file = %q", v)
		}
		if p, _ := os.ReadFile(filepath.Join(s.Root(), etc, "cmf/server.pem")); !bytes.Equal(p, fl.pem) {
			t.Fatal("PEM differs")
		}
	}
	if _, err := os.Stat(filepath.Join(etc, "restarted")); !os.IsNotExist(err) {
		t.Fatal("a host wrote outside its own namespace")
	}
}

var _ = remote.Quote

// TestAgentsPushInterrupted: Ctrl-C twice (a cancelled context, then the
// abort context) while a host's restart hangs ends with exit 130, files
// whole, and a re-run finishes the job.
func TestAgentsPushInterrupted(t *testing.T) {
	t.Parallel()
	fl := newAgentFleet(t)
	h1 := fl.add("slow", remotetest.SSHDOptions{})
	started := filepath.Join(h1.root, "restart-started")
	ans := fl.answers("")
	b, _ := os.ReadFile(ans)
	restart := fmt.Sprintf("%q", "echo restart >> "+filepath.Join(h1.root, "restarts"))
	b = bytes.Replace(b, []byte(restart), []byte(fmt.Sprintf("%q", "touch "+started+"; sleep 60")), 1)
	if err := os.WriteFile(ans, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, out, errOut := testFactory(map[string]string{})
	abort, stop := context.WithCancel(context.Background())
	defer stop()
	c, cancel := context.WithCancel(abort)
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- Run(steps.WithAbort(c, abort), f, []string{"agents", "push", "--answers", ans, "--pem", fl.pemFile, "--yes", "--json"})
	}()
	waitFile(t, started)
	cancel() // the first Ctrl-C lets the restart in flight go on
	stop()   // the second aborts it
	select {
	case code := <-done:
		if code != ExitInterrupted {
			t.Fatalf("exit %d, want 130\n%s", code, errOut)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("push did not stop after the second cancel")
	}
	var jr struct {
		ExitCode int `json:"exit_code"`
		Hosts    []struct {
			Host, Status, Error, Hint string
		}
	}
	if err := json.Unmarshal(out.Bytes(), &jr); err != nil || jr.ExitCode != ExitInterrupted {
		t.Fatalf("JSON exit_code %d (%v), want the process's 130\n%s", jr.ExitCode, err, out)
	}
	// the restart stopped by the second interrupt is said so, with the fix
	if len(jr.Hosts) != 1 || jr.Hosts[0].Status != "failed" || !strings.Contains(jr.Hosts[0].Error, "stopped while it ran") || !strings.Contains(jr.Hosts[0].Hint, "re-run") {
		t.Errorf("hosts %+v", jr.Hosts)
	}
	fl.checkDone(h1) // renamed before the restart: whole new files
	code, out2, eo := fl.push("--answers", fl.answers(""), "--pem", fl.pemFile, "--yes")
	if code != 0 || h1.restarts() != 1 {
		t.Fatalf("re-run: exit %d, restarts %d\n%s\n%s", code, h1.restarts(), out2, eo)
	}
}

// TestAgentsPushFirstInterruptLetsWorkInFlightFinish: after the first
// Ctrl-C the host being restarted finishes (restart and check), no other
// host starts, and the summary says so: exit 130, one host done and
// verified, the other not started and untouched.
func TestAgentsPushFirstInterruptLetsWorkInFlightFinish(t *testing.T) {
	t.Parallel()
	fl := newAgentFleet(t)
	h1 := fl.add("first", remotetest.SSHDOptions{})
	h2 := fl.add("second", remotetest.SSHDOptions{})
	started, goOn := filepath.Join(h1.root, "restart-started"), filepath.Join(h1.root, "go-on")
	ans := fl.answers("")
	b, _ := os.ReadFile(ans)
	restart := fmt.Sprintf("%q", "echo restart >> "+filepath.Join(h1.root, "restarts"))
	slow := "touch " + started + "; i=0; while [ ! -e " + goOn + " ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; echo restart >> " + filepath.Join(h1.root, "restarts")
	b = bytes.Replace(b, []byte(restart), []byte(fmt.Sprintf("%q", slow)), 1)
	b = bytes.Replace(b, []byte("parallelism: 4"), []byte("parallelism: 1"), 1)
	if err := os.WriteFile(ans, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, out, errOut := testFactory(map[string]string{})
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- Run(c, f, []string{"agents", "push", "--answers", ans, "--pem", fl.pemFile, "--yes"}) }()
	waitFile(t, started)
	cancel()
	if err := os.WriteFile(goOn, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var code int
	select {
	case code = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("push did not stop after cancel")
	}
	if code != ExitInterrupted {
		t.Fatalf("exit %d, want 130\n%s\n%s", code, out, errOut)
	}
	fl.checkDone(h1)
	if h1.restarts() != 1 {
		t.Fatalf("the restart in flight did not finish: %d restarts", h1.restarts())
	}
	if b, _ := os.ReadFile(h2.cfg()); !bytes.Equal(b, fl.stock) || h2.restarts() != 0 {
		t.Fatal("a host was started after the interrupt")
	}
	if !strings.Contains(out.String(), "interrupted: 1 verified, 1 not started (agent hosts)") ||
		!hostLine(out.String(), "first", "ok: done and verified") || !hostLine(out.String(), "second", "not started") {
		t.Fatalf("summary does not match the hosts:\n%s", out)
	}
}

// waitFile waits (bounded) until p exists.
func waitFile(t *testing.T, p string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(p); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAgentsPushAtTerminal: at a terminal an unknown host key is asked
// about (and recorded once trusted), the plan is shown and confirmed.
func TestAgentsPushAtTerminal(t *testing.T) {
	t.Parallel()
	fl := newAgentFleet(t)
	h := fl.add("agent1", remotetest.SSHDOptions{})
	if err := os.WriteFile(fl.kh, nil, 0o600); err != nil { // the host is unknown
		t.Fatal(err)
	}
	ans := fl.answers("")
	run := func(input string) (int, string) {
		f, _, errOut := testFactory(map[string]string{})
		f.IsTerminal = func() bool { return true }
		f.In = strings.NewReader(input)
		c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		return Run(c, f, []string{"agents", "push", "--answers", ans, "--pem", fl.pemFile}), errOut.String()
	}
	// declined host key: refused, nothing changed; with no host done the
	// run failed (exit 1)
	code, errOut := run("n\n")
	if code != 1 || !strings.Contains(errOut, "is not known: ssh-ed25519 SHA256:") || !strings.Contains(errOut, "unknown host key") {
		t.Fatalf("declined: %d\n%s", code, errOut)
	}
	// trusted, then the change declined: nothing changed, key recorded
	code, errOut = run("y\nn\n")
	if code != 0 || !strings.Contains(errOut, "apply these changes to 1 hosts?") || !strings.Contains(errOut, "nothing was changed") {
		t.Fatalf("change declined: %d\n%s", code, errOut)
	}
	if b, _ := os.ReadFile(h.cfg()); !bytes.Equal(b, fl.stock) {
		t.Fatal("changed although declined")
	}
	if b, _ := os.ReadFile(fl.kh); !strings.Contains(string(b), h.sshd.HostKey.Type()) {
		t.Fatalf("known_hosts = %q", b)
	}
	// confirmed: applied (no host key question any more)
	code, errOut = run("y\n")
	if code != 0 || strings.Contains(errOut, "is not known") {
		t.Fatalf("confirmed: %d\n%s", code, errOut)
	}
	fl.checkDone(h)
}

func TestNewAgentsPushCmd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		argv []string
		want agentsPushOptions
	}{
		{[]string{"--answers", "a.yaml"}, agentsPushOptions{answersPath: "a.yaml"}},
		{[]string{"--answers", "a.yaml", "--pem", "s.pem", "--dry-run", "--json", "--report", "r.md"}, agentsPushOptions{answersPath: "a.yaml", pemPath: "s.pem", dryRun: true, json: true, report: "r.md"}},
		{[]string{"--answers=a.yaml", "--yes", "--accept-new-host-keys"}, agentsPushOptions{answersPath: "a.yaml", yes: true, acceptNewHostKeys: true}},
	} {
		f, _, _ := testFactory(nil)
		var got *agentsPushOptions
		c := newAgentsPushCmd(f, func(_ context.Context, o *agentsPushOptions) error { got = o; return nil })
		c.SetArgs(tc.argv)
		if err := c.Execute(); err != nil {
			t.Fatalf("%v: %v", tc.argv, err)
		}
		got.f = nil
		if *got != tc.want {
			t.Fatalf("%v: got %+v, want %+v", tc.argv, *got, tc.want)
		}
	}
}

// A dry run with an unreachable host plans the others, says "could not
// plan" for it and never "done" or "verified", changes nothing, and exits
// 1 (it could not do its job for every host), with --json saying the same.
func TestAgentsPushDryRunUnreachable(t *testing.T) {
	t.Parallel()
	fl := newAgentFleet(t)
	good := fl.add("good", remotetest.SSHDOptions{})
	down := fl.add("down", remotetest.SSHDOptions{})
	down.sshd.Kill()
	ans := fl.answers("")
	code, out, errOut := fl.push("--answers", ans, "--pem", fl.pemFile, "--dry-run")
	if code != 1 || !strings.Contains(out, "dry run: 1 would change, 1 could not plan (agent hosts); nothing was changed") ||
		!hostLine(out, "down", `could not plan \(connect\): .*cannot reach`) || strings.Contains(out, "verified") || strings.Contains(out, "done") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(good.cfg()); !bytes.Equal(b, fl.stock) {
		t.Fatal("a dry run changed a host")
	}
	code, out, _ = fl.push("--answers", ans, "--pem", fl.pemFile, "--dry-run", "--json")
	var jr struct {
		ExitCode int            `json:"exit_code"`
		Counts   map[string]int `json:"counts"`
	}
	if err := json.Unmarshal([]byte(out), &jr); err != nil || code != 1 || jr.ExitCode != 1 || jr.Counts["could-not-plan"] != 1 || jr.Counts["would-change"] != 1 {
		t.Fatalf("json: exit %d %+v (%v)\n%s", code, jr, err, out)
	}
}
