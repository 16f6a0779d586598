package sshd

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

func signer(t *testing.T) ssh.Signer {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func serve(t *testing.T, dir string) (addr string, host, client ssh.Signer) {
	t.Helper()
	host, client = signer(t), signer(t)
	srv, err := New(Options{HostKey: host, Authorized: []ssh.PublicKey{client.PublicKey()}, User: "ops", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), host, client
}

func dial(t *testing.T, addr, user string, host, client ssh.Signer) (*ssh.Client, error) {
	t.Helper()
	return ssh.Dial("tcp", addr, &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{ssh.PublicKeys(client)},
		HostKeyCallback: ssh.FixedHostKey(host.PublicKey())})
}

func TestExecAndSFTP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr, host, client := serve(t, dir)
	c, err := dial(t, addr, "ops", host, client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, _ := c.NewSession()
	var out, errb bytes.Buffer
	sess.Stdin = strings.NewReader("from stdin")
	sess.Stdout, sess.Stderr = &out, &errb
	err = sess.Run("pwd; cat; echo oops >&2; exit 3")
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 3 {
		t.Fatalf("exit = %v", err)
	}
	if got := out.String(); got != dir+"\nfrom stdin" || errb.String() != "oops\n" {
		t.Fatalf("stdout %q stderr %q", got, errb.String())
	}
	sc, err := sftp.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	p := filepath.Join(dir, "etc", "server.pem")
	sc.MkdirAll(filepath.Dir(p))
	f, err := sc.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("PEM"))
	f.Chmod(0o644)
	f.Close()
	if b, err := os.ReadFile(p); err != nil || string(b) != "PEM" {
		t.Fatalf("file on disk = %q %v", b, err)
	}
	g, _ := sc.Open(p)
	b, _ := io.ReadAll(g)
	g.Close()
	if string(b) != "PEM" {
		t.Fatalf("sftp read = %q", b)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	addr, host, client := serve(t, t.TempDir())
	if _, err := dial(t, addr, "ops", host, signer(t)); err == nil {
		t.Fatal("unknown client key accepted")
	}
	if _, err := dial(t, addr, "root", host, client); err == nil {
		t.Fatal("other user accepted")
	}
	if _, err := dial(t, addr, "ops", signer(t), client); err == nil {
		t.Fatal("client accepted a wrong host key")
	}
	c, err := dial(t, addr, "ops", host, client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, _ := c.NewSession()
	if err := sess.RequestPty("xterm", 24, 80, nil); err == nil {
		t.Fatal("pty granted")
	}
}
