package sandbox

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/cmtls/cmtls/daemon/cmserver"
	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/remote/cmapi/cmapitest"
	"github.com/cmtls/cmtls/steps/answers"
)

var (
	buildOnce sync.Once
	builtExe  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtExe != "" {
		os.RemoveAll(filepath.Dir(builtExe))
	}
	os.Exit(code)
}

// cmtlsBinary builds cmd/cmtls once: the sandbox runs real processes.
func cmtlsBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = err
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		dir, err := os.MkdirTemp("", "cmtls-sandbox-test")
		if err != nil {
			buildErr = err
			return
		}
		builtExe = filepath.Join(dir, "cmtls")
		cmd := exec.Command("go", "build", "-o", builtExe, "./cmd/cmtls")
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New(string(b))
		}
	})
	if buildErr != nil {
		t.Fatalf("build cmtls: %v", buildErr)
	}
	return builtExe
}

func TestUpFiveAgentsDown(t *testing.T) {
	exe := cmtlsBinary(t)
	dir := t.TempDir()
	const interval = time.Second
	ctx := context.Background()
	m, err := Up(ctx, Options{Dir: dir, Agents: 5, Exe: exe, Interval: interval})
	if err != nil {
		t.Fatal(err)
	}
	upDone := time.Now()
	downed := false
	t.Cleanup(func() {
		if !downed {
			Down(dir)
		}
	})
	l := NewLayout(dir)

	// The answers file is what init accepts.
	f, err := answers.Load(l.Answers)
	if err != nil {
		t.Fatal(err)
	}
	f.ApplyDefaults()
	if err := f.ValidateInit(); err != nil {
		t.Fatal(err)
	}
	if err := f.ResolveSecrets(func(string) (string, bool) { return "", false }); err != nil {
		t.Fatal(err)
	}

	// Every agent heartbeats (plain, level 0) within two intervals.
	c, err := cmapi.New(f.Server.API.URL, f.Server.API.User, f.Server.API.Password.Value(), cmapi.WithTransport(cmapitest.New(t).Transport))
	if err != nil {
		t.Fatal(err)
	}
	// The default profile: CM 7.5.3, API v45.
	if v, err := c.CMVersion(ctx); err != nil || v.Version != cmserver.DefaultVersion {
		t.Fatalf("CM version %+v, %v", v, err)
	}
	deadline := upDone.Add(2 * interval)
	var hosts []cmapi.Host
	for {
		hosts, err = c.Hosts(ctx)
		fresh := 0
		for _, h := range hosts {
			if h.LastHeartbeat.After(upDone.Add(-10*time.Millisecond)) && h.HealthSummary == "GOOD" {
				fresh++
			}
		}
		if err == nil && fresh == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 2 intervals: %d fresh hosts of %+v (err %v)", fresh, hosts, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	names := map[string]bool{}
	for _, h := range hosts {
		names[h.Hostname] = true
	}
	for i := 1; i <= 5; i++ {
		if !names[HostName(i)] {
			t.Errorf("host %s missing from %v", HostName(i), names)
		}
	}

	// Each host's SSH endpoint: known_hosts pins it, the identity logs in,
	// and the check command runs there.
	kh, err := knownhosts.New(l.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := os.ReadFile(l.Identity)
	signer, err := ssh.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	sshRun := func(h answers.AgentHost, command string) (string, error) {
		cl, err := ssh.Dial("tcp", net.JoinHostPort(h.Address, strconv.Itoa(h.Port)), &ssh.ClientConfig{
			User: h.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: kh, Timeout: 5 * time.Second})
		if err != nil {
			return "", err
		}
		defer cl.Close()
		s, _ := cl.NewSession()
		type result struct {
			out []byte
			err error
		}
		done := make(chan result, 1)
		go func() { o, err := s.CombinedOutput(command); done <- result{o, err} }()
		select {
		case r := <-done:
			return string(r.out), r.err
		case <-time.After(30 * time.Second):
			return "", errors.New("ssh command did not return (a daemon holding the session?)")
		}
	}
	for _, h := range f.AgentHosts() {
		out, err := sshRun(h, h.CheckCommand)
		if err != nil || !strings.Contains(out, "cloudera-scm-agent is running") {
			t.Fatalf("%s: check command: %v %s", h.Name, err, out)
		}
	}

	// The answers' restart command re-reads config.ini: use_tls=1 against
	// the plain port gives the real agent's "unknown protocol".
	h1 := f.AgentHosts()[0]
	ini, _ := os.ReadFile(h1.ConfigPath)
	logSize := fileSize(h1.LogPath)
	os.WriteFile(h1.ConfigPath, []byte(strings.Replace(string(ini), "\nuse_tls=0\n", "\nuse_tls=1\n", 1)), 0o644)
	// Over SSH, as init runs it: the session must end although the agent
	// it starts lives on.
	if out, err := sshRun(h1, h1.RestartCommand); err != nil {
		t.Fatalf("agent restart over ssh: %v %s", err, out)
	}
	waitLog(t, h1.LogPath, logSize, "ERROR    Heartbeating to localhost:"+strconv.Itoa(m.Ports["agent"])+" failed.", "SSLError: unknown protocol")

	// The server restart command fails (exit non-zero) with TLS on and no
	// keystore, and the log says why the way CM does.
	settingsPath := filepath.Join(dir, "server", "settings.json")
	before, _ := os.ReadFile(settingsPath)
	if err := c.SetConfig(ctx, map[string]string{"AGENT_TLS": "true", "KEYSTORE_PATH": l.Keystore, "KEYSTORE_PASSWORD": "changeit"}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/bin/sh", "-c", f.Server.RestartCommand).CombinedOutput()
	if err == nil {
		t.Fatalf("server restart with a missing keystore succeeded: %s", out)
	}
	if !strings.Contains(string(out), "AvroRuntimeException: java.io.FileNotFoundException: "+l.Keystore) {
		t.Fatalf("restart output lacks the CM line:\n%s", out)
	}
	// Back to level 0 (as CM admins do on the database), and up again.
	os.WriteFile(settingsPath, before, 0o600)
	if out, err := exec.Command("/bin/sh", "-c", f.Server.RestartCommand).CombinedOutput(); err != nil {
		t.Fatalf("server restart: %v %s", err, out)
	}
	os.WriteFile(h1.ConfigPath, ini, 0o644)
	logSize = fileSize(h1.LogPath)
	if out, err := exec.Command("/bin/sh", "-c", h1.RestartCommand).CombinedOutput(); err != nil {
		t.Fatalf("agent restart: %v %s", err, out)
	}
	waitLog(t, h1.LogPath, logSize, "Heartbeating to localhost:"+strconv.Itoa(m.Ports["agent"])+" succeeded.")

	// Up again while running is refused, and changes nothing.
	var se *StateError
	if _, err := Up(ctx, Options{Dir: dir, Agents: 5, Exe: exe}); !errors.As(err, &se) {
		t.Fatalf("second up = %v", err)
	}

	// Down: no process left, nothing listening.
	var pids []int
	for _, s := range Services(dir, m) {
		pid, ok := s.Status()
		if !ok {
			t.Fatalf("%s not running before down", s.Name)
		}
		pids = append(pids, pid)
	}
	if err := Down(dir); err != nil {
		t.Fatal(err)
	}
	downed = true
	for _, pid := range pids {
		if Alive(pid) {
			t.Errorf("pid %d still alive after down", pid)
		}
	}
	for name, p := range m.Ports {
		if conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p), time.Second); err == nil {
			conn.Close()
			t.Errorf("port %d (%s) still listening after down", p, name)
		}
	}
	// A stopped sandbox comes up again in the same directory.
	if _, err := Up(ctx, Options{Dir: dir, Agents: 1, Exe: exe}); err != nil {
		t.Fatalf("up on a stopped sandbox: %v", err)
	}
	if err := Down(dir); err != nil {
		t.Fatal(err)
	}
}

func TestDirtyDirRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "precious.txt"), []byte("x"), 0o644)
	var se *StateError
	if _, err := Up(context.Background(), Options{Dir: dir, Agents: 1, Exe: "/bin/true"}); !errors.As(err, &se) {
		t.Fatalf("up on a foreign dir = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "precious.txt")); err != nil {
		t.Fatal("foreign file touched")
	}
	if err := Down(dir); !errors.As(err, &se) {
		t.Fatalf("down on a foreign dir = %v", err)
	}
}

// TestStopSparesStrangers: a stale pid file naming another process (here
// the test itself) is never signalled.
func TestStopSparesStrangers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "x.pid")
	os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())), 0o644)
	s := Service{Name: "x", Args: []string{"daemon", "agent", "run", "--config", "/nonexistent/config.ini"}, PidFile: pidFile}
	if _, ok := s.Status(); ok {
		t.Fatal("a stranger's pid counted as the service")
	}
	if err := s.Stop(time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Fatal("stale pid file kept")
	}
}

func TestAgentINIKeepsLayout(t *testing.T) {
	t.Parallel()
	out := string(agentINI(stockConfig, 41234, "agent7", "/s/log", "/s/lib"))
	for _, want := range []string{"\nserver_host=localhost\n", "\nserver_port=41234\n", "\nlistening_hostname=agent7\n", "\nlog_file=/s/log\n", "\nlib_dir=/s/lib\n", "\n# verify_cert_file=\n", "\nuse_tls=0\n", "#cdh_hadoop_home=/usr/lib/hadoop"} {
		if !strings.Contains(out, want) {
			t.Errorf("config.ini lacks %q", want)
		}
	}
	if strings.Count(out, "\n") != strings.Count(string(stockConfig), "\n") {
		t.Error("line count changed")
	}
}

// waitLog waits (bounded) until the file holds every one of want.
func waitLog(t *testing.T, path string, from int64, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if int64(len(b)) >= from {
			b = b[from:]
		}
		all := true
		for _, w := range want {
			all = all && strings.Contains(string(b), w)
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s lacks %q:\n%s", path, want, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}
