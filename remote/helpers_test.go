package remote_test

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/remotetest"
)

type sshPub = ssh.PublicKey

// dialTo connects with key to addr, whose host key is recorded in a fresh
// known_hosts file.
func dialTo(t *testing.T, addr string, hostKey ssh.PublicKey, key *remotetest.Key, o remote.Options) remote.Host {
	t.Helper()
	kh := filepath.Join(t.TempDir(), "known_hosts")
	remotetest.AddKnownHost(t, kh, addr, hostKey)
	o.IdentityFiles = []string{key.Path}
	o.KnownHostsFiles = []string{kh}
	o.SSHConfigPath = "none"
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	host, port := splitAddr(t, addr)
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := remote.Dial(c, remote.Target{Name: "h-" + port, Address: host, Port: atoi(t, port)}, o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func splitAddr(t *testing.T, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
