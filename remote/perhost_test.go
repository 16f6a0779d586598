package remote_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/remotetest"
)

// TestPerHostIdentityAndBecome dials two real sshds with one Dialer, as a
// run over an Ansible inventory does: each host accepts only its own key,
// and each has its own become settings (sudo with a password as user
// "svc" on one, no sudo on the other).
func TestPerHostIdentityAndBecome(t *testing.T) {
	remotetest.RequireSSHD(t)
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte(fakeSudo), 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "sudo.log")
	env := []string{"PATH=" + bin + ":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "FAKE_SUDO_MODE=passwd", "FAKE_SUDO_PASSWORD=host-a-pass", "FAKE_SUDO_LOG=" + log}
	keyA := remotetest.NewKey(t, dir, "id_a", nil)
	keyB := remotetest.NewKey(t, dir, "id_b", nil)
	a := remotetest.StartSSHD(t, remotetest.SSHDOptions{AuthorizedKeys: []sshPub{keyA.Public()}, SetEnv: env})
	b := remotetest.StartSSHD(t, remotetest.SSHDOptions{AuthorizedKeys: []sshPub{keyB.Public()}, SetEnv: env})
	kh := filepath.Join(dir, "known_hosts")
	remotetest.AddKnownHost(t, kh, a.Addr, a.HostKey)
	remotetest.AddKnownHost(t, kh, b.Addr, b.HostKey)
	// no shared key, no agent: only the per-host identity can log in
	d, err := remote.NewDialer(remote.Options{KnownHostsFiles: []string{kh}, SSHConfigPath: "none", HomeDir: dir, ConnectTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	tgt := func(addr, key string) remote.Target {
		tg := target(t, addr)
		tg.IdentityFile = key
		return tg
	}
	c := ctx(t)
	ta := tgt(a.Addr, keyA.Path)
	ta.Become, ta.BecomeUser, ta.BecomePassword = "sudo", "svc", []byte("host-a-pass")
	ha, err := d.Dial(c, ta)
	if err != nil {
		t.Fatalf("host a with its own key: %v", err)
	}
	defer ha.Close()
	hb, err := d.Dial(c, tgt(b.Addr, keyB.Path))
	if err != nil {
		t.Fatalf("host b with its own key: %v", err)
	}
	defer hb.Close()
	// each host refuses the other's key: the key used was the host's own
	if h, err := d.Dial(c, tgt(a.Addr, keyB.Path)); err == nil {
		h.Close()
		t.Fatal("host a accepted host b's key")
	}
	ra, err := ha.Run(c, "echo $SUDO_DONE $FAKE_SUDO_USER", nil)
	if err != nil || string(ra.Stdout) != "1 svc\n" {
		t.Fatalf("host a: not run through sudo -u svc: %v %q %q", err, ra.Stdout, ra.Stderr)
	}
	rb, err := hb.Run(c, "echo x$SUDO_DONE", nil)
	if err != nil || string(rb.Stdout) != "x\n" {
		t.Fatalf("host b: ran through sudo though it has no become: %v %q", err, rb.Stdout)
	}
	argv, _ := os.ReadFile(log)
	if bytes.Contains(argv, []byte("host-a-pass")) || !strings.Contains(string(argv), "-u svc") {
		t.Fatalf("sudo argv:\n%s", argv)
	}
	// a per-host "none" turns off the shared become
	d2, err := remote.NewDialer(remote.Options{KnownHostsFiles: []string{kh}, SSHConfigPath: "none", HomeDir: dir, Become: "sudo"})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	tb := tgt(b.Addr, keyB.Path)
	tb.Become = "none"
	hb2, err := d2.Dial(c, tb)
	if err != nil {
		t.Fatal(err)
	}
	defer hb2.Close()
	if r, err := hb2.Run(c, "echo x$SUDO_DONE", nil); err != nil || string(r.Stdout) != "x\n" {
		t.Fatalf("become none: %v %q", err, r.Stdout)
	}
	// and without a password where sudo needs one, the shared become fails
	// on the host that has none of its own
	hb3, err := d2.Dial(c, tgt(b.Addr, keyB.Path))
	if err != nil {
		t.Fatal(err)
	}
	defer hb3.Close()
	var be *remote.BecomeError
	if _, err := hb3.Run(c, "true", nil); !errors.As(err, &be) {
		t.Fatalf("shared sudo without password: %v", err)
	}
}
