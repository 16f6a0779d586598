package steps

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/remotetest"
	"github.com/cmtls/cmtls/steps/answers"
)

// TestE2EOverRealSSHD runs init with every agent host reached through a
// real OpenSSH sshd on 127.0.0.1 (host key checked against known_hosts):
// the PEM push and the config.ini edits travel over SSH; only the agents'
// restart and check commands act on the in-process agents. After init each
// agent heartbeats over TLS verified against the PEM pushed over SSH, and
// rollback over SSH restores config.ini byte for byte.
func TestE2EOverRealSSHD(t *testing.T) {
	t.Parallel()
	remotetest.RequireSSHD(t)
	c := newCluster(t, 2)
	keyDir := t.TempDir()
	key := remotetest.NewKey(t, keyDir, "id_ed25519", nil)
	sshd := remotetest.StartSSHD(t, remotetest.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{key.Public()}})
	kh := filepath.Join(keyDir, "known_hosts")
	must(t, os.WriteFile(kh, []byte(fmt.Sprintf("[127.0.0.1]:%d %s", sshd.Port, ssh.MarshalAuthorizedKey(sshd.HostKey))), 0o600))
	u, err := user.Current()
	must(t, err)

	orig := map[string][]byte{}
	for n := range c.agents {
		b, err := os.ReadFile(filepath.Join(c.dir, n, "config.ini"))
		must(t, err)
		orig[n] = b
	}
	f := c.answers(false)
	env := func() *Env {
		e := c.env(f, nil)
		d, err := remote.NewDialer(remote.Options{IdentityFiles: []string{key.Path}, KnownHostsFiles: []string{kh},
			SSHConfigPath: "none", HomeDir: keyDir, User: u.Username})
		must(t, err)
		e.Dial = func(ctx context.Context, a answers.AgentHost) (remote.Host, error) {
			h, err := d.Dial(ctx, remote.Target{Name: a.Name, Address: "127.0.0.1", Port: sshd.Port})
			if err != nil {
				return nil, err
			}
			return &ctlHost{Host: h, proc: c.agents[a.Name]}, nil
		}
		return e
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	col := &Collector{}
	e := env()
	e.Reporter = col
	if _, err := Run(ctx, e, TLSSteps(), Options{}); err != nil {
		t.Fatalf("init over sshd: %v\n%s", err, eventsText(col))
	}
	hosts, err := c.hostsSeen(ctx)
	must(t, err)
	for _, h := range hosts {
		if h.AgentTLS == nil || !h.AgentTLS.Verified {
			t.Errorf("%s: TLS %+v", h.Hostname, h.AgentTLS)
		}
	}
	for n := range c.agents {
		b, _ := os.ReadFile(filepath.Join(c.dir, n, "config.ini"))
		if !strings.Contains(string(b), "\nverify_cert_file="+filepath.Join(c.dir, n, "cmf", "server.pem")+"\n") {
			t.Errorf("%s: config.ini written over SSH lacks verify_cert_file:\n%s", n, b)
		}
	}
	if _, err := Run(ctx, env(), RollbackSteps(), Options{}); err != nil {
		t.Fatalf("rollback over sshd: %v", err)
	}
	for n, want := range orig {
		got, _ := os.ReadFile(filepath.Join(c.dir, n, "config.ini"))
		if string(got) != string(want) {
			t.Errorf("%s: not restored byte for byte over SSH", n)
		}
	}
}
