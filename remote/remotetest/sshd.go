package remotetest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHDPath is the OpenSSH server the integration tests run.
var SSHDPath = "/usr/sbin/sshd"

// Tmpfs is a file system mounted in the sshd's own mount namespace, e.g.
// a tiny one to make a disk full, or a read-only one.
type Tmpfs struct {
	Path string // must exist
	Opts string // mount -o, e.g. "size=16k" or "ro"
}

// SSHDOptions configure a real sshd.
type SSHDOptions struct {
	AuthorizedKeys []ssh.PublicKey
	HostKey        *Key // nil: a new ed25519 key
	// SetEnv are sshd_config SetEnv assignments for every session (e.g.
	// PATH=/dir/with/fake/sudo:/usr/bin:/bin).
	SetEnv []string
	// Tmpfs mounts, made in a private mount namespace (needs root and
	// unshare); the host's view of them is under Root().
	Tmpfs []Tmpfs
	// Config is added to sshd_config.
	Config string
}

// SSHD is a real OpenSSH server on 127.0.0.1 run by a test.
type SSHD struct {
	Addr    string
	Port    int
	HostKey ssh.PublicKey
	Dir     string
	cmd     *exec.Cmd
	exited  chan struct{}
	t       testing.TB
}

// RequireSSHD skips the test, loudly, when sshd cannot be run here.
func RequireSSHD(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(SSHDPath); err != nil {
		t.Skipf("SKIPPING real-sshd test: %s not found (apt-get install openssh-server): %v", SSHDPath, err)
	}
}

// StartSSHD starts sshd -D with a config, host key and port of its own;
// t.Cleanup stops it and everything it started.
func StartSSHD(t testing.TB, o SSHDOptions) *SSHD {
	t.Helper()
	RequireSSHD(t)
	if len(o.Tmpfs) > 0 && os.Geteuid() != 0 {
		t.Skip("SKIPPING: tmpfs mounts in a namespace need root")
	}
	dir := t.TempDir()
	if o.HostKey == nil {
		o.HostKey = NewKey(t, dir, "host_ed25519", nil)
	}
	var ak bytes.Buffer
	for _, k := range o.AuthorizedKeys {
		ak.Write(ssh.MarshalAuthorizedKey(k))
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ak.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers %s
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
PidFile none
AllowTcpForwarding yes
MaxStartups 100
MaxSessions 20
LogLevel ERROR
`, o.HostKey.Path, filepath.Join(dir, "authorized_keys"), u.Username)
	if len(o.SetEnv) > 0 {
		// one line: sshd takes only the first SetEnv directive
		q := make([]string, len(o.SetEnv))
		for i, e := range o.SetEnv {
			q[i] = strconv.Quote(e)
		}
		cfg += "SetEnv " + strings.Join(q, " ") + "\n"
	}
	cfg += o.Config
	cfgPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// sshd refuses to start without its privilege separation directory
		_ = os.MkdirAll("/run/sshd", 0o755)
	}
	s := &SSHD{HostKey: o.HostKey.Public(), Dir: dir, t: t}
	var lastErr error
	for try := 0; try < 5; try++ {
		port := freePort(t)
		args := []string{"-D", "-e", "-f", cfgPath, "-p", strconv.Itoa(port)}
		var cmd *exec.Cmd
		if len(o.Tmpfs) > 0 {
			// unshare -m ... /bin/sh -ec SCRIPT sh OPTS1 PATH1 ... sshd ARGS
			script := strings.Repeat("mount -t tmpfs -o \"$1\" tmpfs \"$2\"; shift 2\n", len(o.Tmpfs)) + "exec \"$@\"\n"
			argv := []string{"-m", "--propagation", "private", "/bin/sh", "-ec", script, "sh"}
			for _, m := range o.Tmpfs {
				argv = append(argv, m.Opts, m.Path)
			}
			argv = append(append(argv, SSHDPath), args...)
			cmd = exec.Command("unshare", argv...)
		} else {
			cmd = exec.Command(SSHDPath, args...)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start sshd: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := waitListening(addr, exited, 10*time.Second); err != nil {
			lastErr = fmt.Errorf("%v: %s", err, stderr.String())
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			continue
		}
		s.cmd, s.exited, s.Addr, s.Port = cmd, exited, addr, port
		t.Cleanup(s.Kill)
		return s
	}
	t.Fatalf("sshd did not start: %v", lastErr)
	return nil
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitListening(addr string, exited chan struct{}, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("sshd exited")
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("sshd not listening on %s after %s", addr, d)
}

// Pid is the sshd's process id.
func (s *SSHD) Pid() int { return s.cmd.Process.Pid }

// Root is the host's file system as its sshd sees it (its mount
// namespace), for tests to put files in and read them back.
func (s *SSHD) Root() string { return fmt.Sprintf("/proc/%d/root", s.Pid()) }

// Kill stops the sshd and every process below it (connections, shells,
// commands), with SIGKILL: a crashed host, as far as the client can tell.
func (s *SSHD) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	for _, pid := range descendants(s.cmd.Process.Pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = syscall.Kill(s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.t.Errorf("sshd %d did not exit", s.cmd.Process.Pid)
	}
}

// descendants lists every process below pid (from /proc).
func descendants(pid int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at ')'
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		children[pp] = append(children[pp], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}
