package remote_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/remotetest"
)

func target(t *testing.T, addr string) remote.Target {
	h, p := splitAddr(t, addr)
	return remote.Target{Name: "host-" + p, Address: h, Port: atoi(t, p)}
}

func TestUnknownHostRefusedThenAccepted(t *testing.T) {
	t.Parallel()
	key := remotetest.NewKey(t, "", "id", nil)
	srv := remotetest.NewServer(t, remotetest.ServerOptions{AuthorizedKeys: []sshPub{key.Public()}})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	o := remote.Options{IdentityFiles: []string{key.Path}, KnownHostsFiles: []string{kh}, SSHConfigPath: "none"}
	_, err := remote.Dial(ctx(t), target(t, srv.Addr), o)
	var hk *remote.HostKeyError
	if !errors.As(err, &hk) || hk.Changed || !strings.Contains(err.Error(), "SHA256:") || !strings.Contains(hk.Hint(), "--accept-new-host-keys") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(kh); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused key was recorded")
	}
	// asked and declined: refused; the question names the fingerprint
	var asked string
	o.AskHostKey = func(addr, fp string) bool { asked = addr + " " + fp; return false }
	if _, err := remote.Dial(ctx(t), target(t, srv.Addr), o); !errors.As(err, &hk) || !strings.Contains(asked, "SHA256:") {
		t.Fatalf("declined: %v (asked %q)", err, asked)
	}
	o.AskHostKey = nil
	var warned []string
	var mu sync.Mutex
	o.AcceptNewHostKeys = true
	o.Warn = func(s string) { mu.Lock(); warned = append(warned, s); mu.Unlock() }
	h, err := remote.Dial(ctx(t), target(t, srv.Addr), o)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	b, _ := os.ReadFile(kh)
	if !strings.Contains(string(b), "[127.0.0.1]:"+strconv.Itoa(srv.Port)+" ssh-ed25519 ") || len(warned) != 1 {
		t.Fatalf("known_hosts = %q, warnings %q", b, warned)
	}
	// recorded: now it connects without accepting
	o.AcceptNewHostKeys = false
	h, err = remote.Dial(ctx(t), target(t, srv.Addr), o)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
}

func TestChangedHostKeyAlwaysRefused(t *testing.T) {
	t.Parallel()
	key := remotetest.NewKey(t, "", "id", nil)
	srv := remotetest.NewServer(t, remotetest.ServerOptions{AuthorizedKeys: []sshPub{key.Public()}})
	old := remotetest.NewKey(t, "", "old_host", nil)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	remotetest.AddKnownHost(t, kh, srv.Addr, old.Public())
	before, _ := os.ReadFile(kh)
	o := remote.Options{IdentityFiles: []string{key.Path}, KnownHostsFiles: []string{kh}, SSHConfigPath: "none", AcceptNewHostKeys: true}
	_, err := remote.Dial(ctx(t), target(t, srv.Addr), o)
	var hk *remote.HostKeyError
	if !errors.As(err, &hk) || !hk.Changed {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "HOST KEY CHANGED") || len(hk.Want) != 1 || !strings.Contains(msg, hk.Got) || !strings.Contains(msg, hk.Want[0]) || hk.Got == hk.Want[0] {
		t.Fatalf("message lacks both fingerprints: %s", msg)
	}
	if !strings.Contains(hk.Hint(), "ssh-keygen -f "+remote.Quote(kh)+" -R") {
		t.Fatalf("hint %q", hk.Hint())
	}
	if after, _ := os.ReadFile(kh); string(after) != string(before) {
		t.Fatal("known_hosts changed")
	}
}

func TestAuthRefused(t *testing.T) {
	t.Parallel()
	allowed := remotetest.NewKey(t, "", "allowed", nil)
	other := remotetest.NewKey(t, "", "other", nil)
	s := remotetest.StartSSHD(t, remotetest.SSHDOptions{AuthorizedKeys: []sshPub{allowed.Public()}})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	remotetest.AddKnownHost(t, kh, s.Addr, s.HostKey)
	_, err := remote.Dial(ctx(t), target(t, s.Addr), remote.Options{IdentityFiles: []string{other.Path}, KnownHostsFiles: []string{kh}, SSHConfigPath: "none"})
	var ae *remote.AuthError
	if !errors.As(err, &ae) || !strings.Contains(ae.Hint(), "identity_file") {
		t.Fatalf("err = %v", err)
	}
}

func TestUnreachableAndTimeout(t *testing.T) {
	t.Parallel()
	key := remotetest.NewKey(t, "", "id", nil)
	// a port with nothing listening
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	o := remote.Options{IdentityFiles: []string{key.Path}, KnownHostsFiles: []string{filepath.Join(t.TempDir(), "kh")}, SSHConfigPath: "none", ConnectTimeout: 2 * time.Second}
	_, err = remote.Dial(ctx(t), target(t, addr), o)
	var ue *remote.UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("closed port: %v", err)
	}
	// a listener that never speaks SSH: the handshake deadline ends it
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	o.ConnectTimeout = 300 * time.Millisecond
	start := time.Now()
	_, err = remote.Dial(ctx(t), target(t, silent.Addr().String()), o)
	if !errors.As(err, &ue) || time.Since(start) > 5*time.Second {
		t.Fatalf("silent server: %v after %s", err, time.Since(start))
	}
}

func TestSSHConfig(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	key := remotetest.NewKey(t, filepath.Join(home, ".ssh"), "id_test", nil)
	srv := remotetest.NewServer(t, remotetest.ServerOptions{AuthorizedKeys: []sshPub{key.Public()}})
	remotetest.AddKnownHost(t, filepath.Join(home, ".ssh", "my_known_hosts"), srv.Addr, srv.HostKey)
	cfg := "Host agent*\n  HostName 127.0.0.1\n  Port " + strconv.Itoa(srv.Port) + "\n  User cmops\n  IdentityFile ~/.ssh/id_test\n  UserKnownHostsFile ~/.ssh/my_known_hosts\n"
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := remote.Dial(ctx(t), remote.Target{Name: "agent7"}, remote.Options{HomeDir: home})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if res, err := h.Run(ctx(t), "echo hi", nil); err != nil || string(res.Stdout) != "hi\n" {
		t.Fatalf("%v %v", res, err)
	}
	// an unparsable config is a warning and the explicit settings still work
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte("Match user foo\n  Port 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var warned string
	h2, err := remote.Dial(ctx(t), target(t, srv.Addr), remote.Options{HomeDir: home, IdentityFiles: []string{"~/.ssh/id_test"},
		KnownHostsFiles: []string{"~/.ssh/my_known_hosts"}, Warn: func(s string) { warned += s }})
	if err != nil {
		t.Fatal(err)
	}
	h2.Close()
	if !strings.Contains(warned, "cannot be parsed") {
		t.Fatalf("warning = %q", warned)
	}
}

func TestProxyJump(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	key := remotetest.NewKey(t, filepath.Join(home, ".ssh"), "id_ed25519", nil)
	bastion := remotetest.NewServer(t, remotetest.ServerOptions{AuthorizedKeys: []sshPub{key.Public()}, Forward: true})
	dest := remotetest.StartSSHD(t, remotetest.SSHDOptions{AuthorizedKeys: []sshPub{key.Public()}})
	kh := filepath.Join(home, ".ssh", "known_hosts")
	remotetest.AddKnownHost(t, kh, bastion.Addr, bastion.HostKey)
	remotetest.AddKnownHost(t, kh, dest.Addr, dest.HostKey)
	cfg := "Host bastion\n  HostName 127.0.0.1\n  Port " + strconv.Itoa(bastion.Port) + "\n" +
		"Host inside\n  HostName 127.0.0.1\n  Port " + strconv.Itoa(dest.Port) + "\n  ProxyJump bastion\n"
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := remote.Dial(ctx(t), remote.Target{Name: "inside"}, remote.Options{HomeDir: home})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if res, err := h.Run(ctx(t), "echo through", nil); err != nil || string(res.Stdout) != "through\n" {
		t.Fatalf("%v %v", res, err)
	}
	bastion.DropAll()
	if _, err := h.Run(ctx(t), "true", nil); err == nil {
		t.Fatal("still connected after the jump host dropped")
	}
}

func TestEncryptedIdentity(t *testing.T) {
	t.Parallel()
	key := remotetest.NewKey(t, "", "id", []byte("s3cret"))
	srv := remotetest.NewServer(t, remotetest.ServerOptions{AuthorizedKeys: []sshPub{key.Public()}})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	remotetest.AddKnownHost(t, kh, srv.Addr, srv.HostKey)
	o := remote.Options{IdentityFiles: []string{key.Path}, KnownHostsFiles: []string{kh}, SSHConfigPath: "none",
		Passphrase: func(string) ([]byte, error) { return []byte("s3cret"), nil }}
	h, err := remote.Dial(ctx(t), target(t, srv.Addr), o)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	o.Passphrase = func(string) ([]byte, error) { return []byte("wrong"), nil }
	if _, err := remote.Dial(ctx(t), target(t, srv.Addr), o); err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Fatalf("wrong passphrase: %v", err)
	}
}

func TestSSHAgent(t *testing.T) {
	t.Parallel()
	key := remotetest.NewKey(t, "", "id", nil)
	srv := remotetest.NewServer(t, remotetest.ServerOptions{AuthorizedKeys: []sshPub{key.Public()}})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	remotetest.AddKnownHost(t, kh, srv.Addr, srv.HostKey)
	// an ssh-agent holding the key, on a unix socket
	raw, err := os.ReadFile(key.Path)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ssh.ParseRawPrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	ring := agent.NewKeyring()
	if err := ring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _ = agent.ServeAgent(ring, c) }()
		}
	}()
	d, err := remote.NewDialer(remote.Options{AgentSocket: sock, KnownHostsFiles: []string{kh}, SSHConfigPath: "none", HomeDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	h, err := d.Dial(ctx(t), target(t, srv.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if res, err := h.Run(ctx(t), "echo agent", nil); err != nil || string(res.Stdout) != "agent\n" {
		t.Fatalf("%v %v", res, err)
	}
	// without the agent and without keys: a clear error naming the fix
	_, err = remote.Dial(ctx(t), target(t, srv.Addr), remote.Options{KnownHostsFiles: []string{kh}, SSHConfigPath: "none", HomeDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "no SSH key") {
		t.Fatalf("no keys: %v", err)
	}
}

// TestHostKeyOfAnotherTypeIsAChangedKey: known_hosts holds an ECDSA key for
// a host that now offers only Ed25519: refused as a changed host key with
// both fingerprints and the fix, not Go's "no common algorithm".
func TestHostKeyOfAnotherTypeIsAChangedKey(t *testing.T) {
	t.Parallel()
	key := remotetest.NewKey(t, "", "id", nil)
	srv := remotetest.NewServer(t, remotetest.ServerOptions{AuthorizedKeys: []sshPub{key.Public()}})
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	old, err := ssh.NewPublicKey(&ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	remotetest.AddKnownHost(t, kh, srv.Addr, old)
	o := remote.Options{IdentityFiles: []string{key.Path}, KnownHostsFiles: []string{kh}, SSHConfigPath: "none", AcceptNewHostKeys: true}
	_, err = remote.Dial(ctx(t), target(t, srv.Addr), o)
	var hk *remote.HostKeyError
	if !errors.As(err, &hk) || !hk.Changed || strings.Contains(err.Error(), "no common algorithm") {
		t.Fatalf("err = %v", err)
	}
	if !strings.HasPrefix(hk.Got, "ssh-ed25519 SHA256:") || len(hk.Want) != 1 || !strings.HasPrefix(hk.Want[0], "ecdsa-sha2-nistp256 SHA256:") {
		t.Fatalf("fingerprints: got %q want %q", hk.Got, hk.Want)
	}
	if !strings.Contains(hk.Hint(), "ssh-keygen -f "+remote.Quote(kh)+" -R") {
		t.Fatalf("hint %q", hk.Hint())
	}
}
