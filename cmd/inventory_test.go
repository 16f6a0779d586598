package cmd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cmtls/cmtls/remote/remotetest"
	"github.com/cmtls/cmtls/steps/answers"
	"github.com/cmtls/cmtls/steps/ini"
)

// inventorySudo is a sudo stand-in for the flags cmtls uses: it logs its
// argv, refuses -n (a password is required) and reads the password as the
// first line of stdin.
const inventorySudo = `#!/bin/sh
printf '%s\n' "$*" >> "$FAKE_SUDO_LOG"
n=0
while [ $# -gt 0 ]; do
  case $1 in -n) n=1 ;; -p|-u) shift ;; --) shift; break ;; -*) ;; *) break ;; esac
  shift
done
if [ $n = 1 ]; then echo "sudo: a password is required" >&2; exit 1; fi
IFS= read -r pw || { echo "sudo: no password was provided" >&2; exit 1; }
[ "$pw" = "$FAKE_SUDO_PASSWORD" ] || { echo "sudo: 1 incorrect password attempt" >&2; exit 1; }
SUDO_DONE=1 exec "$@"
`

// TestAgentsPushInventoryHostVars: two real sshds, each accepting only its
// own key on its own port; the inventory gives each host its key, port,
// user and become settings, and the answers file gives no key at all. The
// push reaches both, the first through sudo with the password from the
// environment, the second without sudo.
func TestAgentsPushInventoryHostVars(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPING: per-host /etc needs mount namespaces (root)")
	}
	fl := newAgentFleet(t)
	etc := filepath.Join(fl.dir, "etc")
	bin := filepath.Join(fl.dir, "bin")
	for _, d := range []string{etc, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte(inventorySudo), 0o755); err != nil {
		t.Fatal(err)
	}
	sudoLog := filepath.Join(fl.dir, "sudo.log")
	var inv strings.Builder
	inv.WriteString("[agents]\n")
	var hosts []*remotetest.SSHD
	for i := 1; i <= 2; i++ {
		key := remotetest.NewKey(t, fl.dir, fmt.Sprintf("id_agent%d", i), nil)
		o := remotetest.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{key.Public()}, Tmpfs: []remotetest.Tmpfs{{Path: etc, Opts: "size=1m"}}}
		if i == 1 {
			o.SetEnv = []string{"PATH=" + bin + ":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "FAKE_SUDO_PASSWORD=agent1-sudo", "FAKE_SUDO_LOG=" + sudoLog}
		}
		s := remotetest.StartSSHD(t, o)
		remotetest.AddKnownHost(t, fl.kh, s.Addr, s.HostKey)
		view := filepath.Join(s.Root(), etc, "cloudera-scm-agent")
		if err := os.MkdirAll(view, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(view, "config.ini"), fl.stock, 0o644); err != nil {
			t.Fatal(err)
		}
		vars := fmt.Sprintf("ansible_host=127.0.0.1 ansible_port=%d ansible_ssh_private_key_file=%s", s.Port, filepath.Base(key.Path))
		if i == 1 {
			vars += ` ansible_user=root ansible_become=true ansible_become_user=root ansible_become_password="{{ lookup('env', 'AGENT1_SUDO') }}"`
		}
		fmt.Fprintf(&inv, "agent%d %s\n", i, vars)
		hosts = append(hosts, s)
	}
	inv.WriteString("\n[agents:vars]\nansible_user=root\n")
	if err := os.WriteFile(filepath.Join(fl.dir, "inventory.ini"), []byte(inv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ans := filepath.Join(fl.dir, "inv-answers.yaml")
	y := fmt.Sprintf("version: 1\nagents:\n  inventory: inventory.ini\n  ssh: {known_hosts: %s, config: %s, timeout: 10s}\n  config_path: %s\n  pem_dest: %s\n  restart_command: %q\n  check_command: %q\n",
		fl.kh, fl.sshCfg, filepath.Join(etc, "cloudera-scm-agent/config.ini"), filepath.Join(etc, "cmf/server.pem"),
		"touch "+filepath.Join(etc, "restarted"), "test -f "+filepath.Join(etc, "restarted"))
	if err := os.WriteFile(ans, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	push := func(env map[string]string) (int, string, string) {
		f, out, errOut := testFactory(env)
		c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		code := Run(c, f, []string{"agents", "push", "--answers", ans, "--pem", fl.pemFile, "--yes"})
		return code, out.String(), errOut.String()
	}
	// the password's variable unset: bad input before any host is touched
	if code, _, errOut := push(map[string]string{}); code != 2 || !strings.Contains(errOut, "AGENT1_SUDO") {
		t.Fatalf("without AGENT1_SUDO: exit %d\n%s", code, errOut)
	}
	code, out, errOut := push(map[string]string{"AGENT1_SUDO": "agent1-sudo"})
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
	argv, _ := os.ReadFile(sudoLog)
	if !bytes.Contains(argv, []byte("-S -p")) || bytes.Contains(argv, []byte("agent1-sudo")) {
		t.Fatalf("agent1 not reached through sudo with the password on stdin:\n%s", argv)
	}
	if strings.Contains(errOut+out, "agent1-sudo") {
		t.Fatal("the become password was printed")
	}
}

// An inventory's plain become password is accepted with a warning that does
// not show it; the host's key, become user and password reach its target.
func TestInventoryHostVarsResolved(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	inv := "[agents]\na1 ansible_host=10.0.0.1 ansible_port=2201 ansible_user=ops ansible_ssh_private_key_file=keys/a1 ansible_become=true ansible_become_user=svc ansible_become_password='s3cret pw'\na2 ansible_become=no\n"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "inv.ini"), []byte(inv), 0o600))
	file := &answers.File{Version: 1, Dir: dir, Agents: &answers.Agents{Inventory: "inv.ini"}}
	f, _, errOut := testFactory(nil)
	hosts, err := resolveAgentHosts(context.Background(), f, file, nil)
	must(err)
	if len(hosts) != 2 {
		t.Fatalf("hosts %+v", hosts)
	}
	if !strings.Contains(errOut.String(), "a1: ansible_become_password is in plain text") || strings.Contains(errOut.String(), "s3cret") {
		t.Errorf("warning %q", errOut.String())
	}
	tg := agentTarget(hosts[0])
	if tg.Address != "10.0.0.1" || tg.Port != 2201 || tg.User != "ops" || tg.IdentityFile != filepath.Join(dir, "keys/a1") ||
		tg.Become != "sudo" || tg.BecomeUser != "svc" || string(tg.BecomePassword) != "s3cret pw" {
		t.Errorf("a1 target %+v", tg)
	}
	if s := fmt.Sprintf("%v %+v", hosts[0], hosts[0]); strings.Contains(s, "s3cret") {
		t.Errorf("the password shows when the host is printed: %s", s)
	}
	if tg := agentTarget(hosts[1]); tg.Become != "none" || tg.BecomePassword != nil || tg.IdentityFile != "" {
		t.Errorf("a2 target %+v", tg)
	}
}

// renew --saml-answers: the file's server.api.ca_file, taken from the
// file's directory; a file without one is bad input; none given and no
// default file: nothing.
func TestRenewSAMLCAFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "saml.yaml")
	if err := os.WriteFile(good, []byte("version: 1\nserver:\n  api: {url: 'https://cm1:7183', ca_file: ca.pem}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "nocafile.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\nserver:\n  api: {url: 'https://cm1:7183'}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, _, _ := testFactory(nil)
	p, ca, err := samlCAFile(f, good)
	if err != nil || p != good || ca != filepath.Join(dir, "ca.pem") {
		t.Errorf("good: %q %q %v", p, ca, err)
	}
	if _, _, err := samlCAFile(f, bad); exitCode(err) != 2 || !strings.Contains(err.Error(), "server.api.ca_file is not set") {
		t.Errorf("without ca_file: %v (exit %d)", err, exitCode(err))
	}
	t.Chdir(dir) // no cmtls-saml-answers.yaml here
	if p, ca, err := samlCAFile(f, ""); p != "" || ca != "" || err != nil {
		t.Errorf("default: %q %q %v", p, ca, err)
	}
}
