package remote_test

import (
	"errors"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/remotetest"
)

// A ~/.ssh/config ProxyCommand is run with %h %p %r %n expanded and
// its stdio is the transport, to a real sshd; a command that fails says so
// with its stderr.
func TestProxyCommand(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash for the /dev/tcp relay")
	}
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	key := remotetest.NewKey(t, filepath.Join(home, ".ssh"), "id_ed25519", nil)
	dest := remotetest.StartSSHD(t, remotetest.SSHDOptions{AuthorizedKeys: []sshPub{key.Public()}})
	remotetest.AddKnownHost(t, filepath.Join(home, ".ssh", "known_hosts"), dest.Addr, dest.HostKey)
	seen := filepath.Join(home, "seen")
	// a relay with nothing but bash: /dev/tcp to %h:%p, stdio both ways
	relay := bash + ` -c 'echo %r@%h:%p/%n%% > ` + seen + `; exec 3<>/dev/tcp/%h/%p; cat <&3 & exec cat >&3'`
	cfg := "Host inside\n  HostName 127.0.0.1\n  Port " + strconv.Itoa(dest.Port) + "\n" +
		"  ProxyCommand " + relay + "\n" +
		"Host broken\n  HostName 127.0.0.1\n  Port " + strconv.Itoa(dest.Port) + "\n" +
		"  ProxyCommand sh -c 'echo no route to the bastion >&2; exit 3'\n"
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := osuser.Current()
	if err != nil {
		t.Fatal(err)
	}
	user := u.Username
	h, err := remote.Dial(ctx(t), remote.Target{Name: "inside", User: user}, remote.Options{HomeDir: home})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := h.Run(ctx(t), "echo over the proxy", nil); err != nil || string(res.Stdout) != "over the proxy\n" {
		t.Fatalf("%v %v", res, err)
	}
	h.Close()
	b, err := os.ReadFile(seen)
	if want := user + "@127.0.0.1:" + strconv.Itoa(dest.Port) + "/inside%\n"; err != nil || string(b) != want {
		t.Fatalf("tokens: %q %v, want %q", b, err, want)
	}
	_, err = remote.Dial(ctx(t), remote.Target{Name: "broken", User: user}, remote.Options{HomeDir: home})
	var ue *remote.UnreachableError
	if err == nil || !strings.Contains(err.Error(), "no route to the bastion") || !strings.Contains(err.Error(), "exit status 3") || !errors.As(err, &ue) {
		t.Fatalf("broken: %v", err)
	}
}
