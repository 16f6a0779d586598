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

// fakeSudo behaves like sudo for the flags cmtls uses (-k -n -S -p -u --):
// NOPASSWD, or a password read from stdin one line at a time with up to
// three tries. It logs its argv so that tests can prove the password never
// is on a command line.
const fakeSudo = `#!/bin/sh
printf '%s\n' "$*" >> "$FAKE_SUDO_LOG"
n=0; S=0; p="Password: "
while [ $# -gt 0 ]; do
  case $1 in
  -k) ;; -n) n=1 ;; -S) S=1 ;; -p) shift; p=$1 ;; -u) shift; export FAKE_SUDO_USER=$1 ;; --) shift; break ;; -*) ;; *) break ;;
  esac
  shift
done
case $FAKE_SUDO_MODE in
nopasswd) ;;
requiretty)
  # like sudoers "Defaults requiretty": no controlling terminal, no sudo;
  # the password is read from the terminal, never from stdin
  if ! (exec 3</dev/tty) 2>/dev/null; then echo "sudo: sorry, you must have a tty to run sudo" >&2; exit 1; fi
  if [ $n = 1 ]; then echo "sudo: a password is required" >&2; exit 1; fi
  printf '%s' "$p" >/dev/tty
  IFS= read -r pw </dev/tty || exit 1
  [ "$pw" = "$FAKE_SUDO_PASSWORD" ] || { echo "sudo: 1 incorrect password attempt" >&2; exit 1; } ;;
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

// TestSudoRequireTTY runs against a real sshd (the in-process server has
// no terminals): the password is typed at the prompt on a pty, and data
// still reaches the command unchanged (through a private temp file).
func TestSudoRequireTTY(t *testing.T) {
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
	key := remotetest.NewKey(t, "", "id", nil)
	s := remotetest.StartSSHD(t, remotetest.SSHDOptions{AuthorizedKeys: []sshPub{key.Public()},
		SetEnv: []string{"PATH=" + bin + ":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "FAKE_SUDO_MODE=requiretty", "FAKE_SUDO_PASSWORD=tty-pass", "FAKE_SUDO_LOG=" + log}})
	h := dialTo(t, s.Addr, s.HostKey, key, remote.Options{Become: "sudo", BecomePassword: []byte("tty-pass")})
	defer h.Close()
	c := ctx(t)
	data := []byte("line one\nline two\r\nno newline at the end")
	p := filepath.Join(dir, "out.ini")
	if _, err := h.PutFile(c, p, data, remote.PutOptions{Mode: 0o640}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, data) {
		t.Fatalf("written %q", got)
	}
	got, err := h.ReadFile(c, p)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %q %v", got, err)
	}
	if argv, _ := os.ReadFile(log); bytes.Contains(argv, []byte("tty-pass")) {
		t.Fatalf("password on a command line:\n%s", argv)
	}
	// a wrong password is refused the same way
	h2 := dialTo(t, s.Addr, s.HostKey, key, remote.Options{Become: "sudo", BecomePassword: []byte("nope")})
	defer h2.Close()
	var be *remote.BecomeError
	if _, err := h2.Run(c, "true", nil); !errors.As(err, &be) {
		t.Fatalf("wrong password on a tty: %v", err)
	}
}
