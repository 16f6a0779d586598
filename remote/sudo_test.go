package remote_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/remotetest"
)

// fakeSudo behaves like sudo for the flags cmtls uses (-k -n -S -p --):
// NOPASSWD, or a password read from stdin one line at a time with up to
// three tries. It logs its argv so that tests can prove the password never
// is on a command line.
const fakeSudo = `#!/bin/sh
printf '%s\n' "$*" >> "$FAKE_SUDO_LOG"
n=0; S=0; p="Password: "
while [ $# -gt 0 ]; do
  case $1 in
  -k) ;; -n) n=1 ;; -S) S=1 ;; -p) shift; p=$1 ;; --) shift; break ;; -*) ;; *) break ;;
  esac
  shift
done
case $FAKE_SUDO_MODE in
nopasswd) ;;
notallowed) echo "sudo: user is not in the sudoers file.  This incident will be reported." >&2; exit 1 ;;
passwd)
  if [ $n = 1 ]; then echo "sudo: a password is required" >&2; exit 1; fi
  if [ $S = 0 ]; then echo "sudo: a terminal is required to read the password" >&2; exit 1; fi
  tries=0
  while :; do
    printf '%s' "$p" >&2
    IFS= read -r pw || { echo "sudo: no password was provided" >&2; exit 1; }
    [ "$pw" = "$FAKE_SUDO_PASSWORD" ] && break
    echo "Sorry, try again." >&2
    tries=$((tries+1)); [ $tries -lt 3 ] || { echo "sudo: 3 incorrect password attempts" >&2; exit 1; }
  done ;;
esac
SUDO_DONE=1 exec "$@"
`

func sudoHost(t *testing.T, mode, serverPassword string, clientPassword []byte) (remote.Host, string, error) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte(fakeSudo), 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "sudo.log")
	key := remotetest.NewKey(t, "", "id", nil)
	srv := remotetest.NewServer(t, remotetest.ServerOptions{AuthorizedKeys: []sshPub{key.Public()},
		Env: []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "FAKE_SUDO_MODE=" + mode, "FAKE_SUDO_PASSWORD=" + serverPassword, "FAKE_SUDO_LOG=" + log}})
	kh := filepath.Join(dir, "known_hosts")
	remotetest.AddKnownHost(t, kh, srv.Addr, srv.HostKey)
	h, err := remote.Dial(ctx(t), target(t, srv.Addr), remote.Options{IdentityFiles: []string{key.Path}, KnownHostsFiles: []string{kh},
		SSHConfigPath: "none", Become: "sudo", BecomePassword: clientPassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, log, nil
}

func TestSudoPasswordOnStdinOnly(t *testing.T) {
	t.Parallel()
	pw := "pa55 w0rd'\"$x"
	h, log, _ := sudoHost(t, "passwd", pw, []byte(pw))
	c := ctx(t)
	res, err := h.Run(c, "echo $SUDO_DONE; cat", strings.NewReader("data after the password\n"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != 0 || string(res.Stdout) != "1\ndata after the password\n" || strings.Contains(string(res.Stderr), "cmtls-sudo") {
		t.Fatalf("res = %d %q %q", res.Code, res.Stdout, res.Stderr)
	}
	// files go through sudo too, and read-then-write shares one sudo
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if _, err := h.PutFile(c, p, []byte("x"), remote.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	_, next, err := remote.ReadNext(c, h, remote.ReadSpec{Path: p})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.RunBatchNext(c, h, next, &remote.Batch{Files: []remote.FileWrite{{Path: p, Data: []byte("y")}}}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "y" {
		t.Fatalf("content %q", b)
	}
	argv, _ := os.ReadFile(log)
	if bytes.Contains(argv, []byte(pw)) || bytes.Contains(argv, []byte("pa55")) {
		t.Fatalf("the password is on a sudo command line:\n%s", argv)
	}
	if !bytes.Contains(argv, []byte("-S -p [cmtls-sudo-")) {
		t.Fatalf("sudo not run with -S -p marker:\n%s", argv)
	}
}

func TestSudoWrongPassword(t *testing.T) {
	t.Parallel()
	h, _, _ := sudoHost(t, "passwd", "right", []byte("wrong"))
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	_, err := h.PutFile(ctx(t), p, []byte("data that must not be read as a password\n"), remote.PutOptions{})
	var be *remote.BecomeError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "password was refused") || !strings.Contains(be.Hint(), "become_password") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("file written despite the wrong password")
	}
}

func TestSudoNoPasswordGiven(t *testing.T) {
	t.Parallel()
	h, _, _ := sudoHost(t, "passwd", "right", nil)
	_, err := h.Run(ctx(t), "true", nil)
	var be *remote.BecomeError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "password is required") {
		t.Fatalf("err = %v", err)
	}
}

func TestSudoNopasswdAndNotAllowed(t *testing.T) {
	t.Parallel()
	h, log, _ := sudoHost(t, "nopasswd", "", []byte("unused"))
	res, err := h.Run(ctx(t), "echo $SUDO_DONE", nil)
	if err != nil || string(res.Stdout) != "1\n" {
		t.Fatalf("%v %v", res, err)
	}
	if argv, _ := os.ReadFile(log); bytes.Contains(argv, []byte("unused")) || !bytes.Contains(argv, []byte("-n -- sh -c")) {
		t.Fatalf("argv:\n%s", argv)
	}
	h2, _, _ := sudoHost(t, "notallowed", "", nil)
	_, err = h2.Run(ctx(t), "true", nil)
	var be *remote.BecomeError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "may not use sudo") {
		t.Fatalf("err = %v", err)
	}
}
