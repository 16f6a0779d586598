package steps

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmtls/cmtls/remote/cmapi"
)

// Manual level 2 on a cluster whose certificates CM's Auto-TLS manages is
// refused at plan time, for either reason (an agent's lib_dir/agent-cert
// files, CM's AUTO_TLS_TYPE), as bad input naming Auto-TLS rotation;
// nothing changes.
func TestE2EAutoTLSRefused(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 0)
	lib := filepath.Join(c.dir, "agent1", "lib")
	c.editINI = func(_, ini string) string {
		return strings.Replace(ini, "[General]\n", "[General]\nlib_dir="+lib+"\n", 1)
	}
	must(t, os.MkdirAll(filepath.Join(lib, "agent-cert"), 0o755))
	must(t, os.WriteFile(filepath.Join(lib, "agent-cert", "cm-auto-host_cert_chain.pem"), []byte("x"), 0o644))
	c.addAgent("agent1", "localhost")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	f := c.answers(false)
	api, err := cmapi.New(f.Server.API.URL, "admin", []byte("admin"))
	must(t, err)
	refused := func(want string) {
		t.Helper()
		_, err := Run(ctx, c.env(f, nil), TLSSteps(), Options{})
		if exitOf(err) != 2 || !strings.Contains(err.Error(), want) || !strings.Contains(hint(err), "Rotate Auto-TLS Certificates") {
			t.Fatalf("exit %d (%v) hint %q, want a refusal naming %q", exitOf(err), err, hint(err), want)
		}
		if _, err := os.Stat(f.Server.Keystore.Path); !os.IsNotExist(err) {
			t.Fatalf("a keystore was written: %v", err)
		}
		cfg, err := api.Config(ctx)
		must(t, err)
		if it, _ := cmapi.FindByName(cfg, "AGENT_TLS"); c.server.Restarts.Load() != 0 || isTrue(it.Value) {
			t.Fatalf("something changed on the server: AGENT_TLS %q", it.Value)
		}
	}
	refused("agent1 has Auto-TLS files in " + filepath.Join(lib, "agent-cert") + " (cm-auto-host_cert_chain.pem)")
	must(t, os.RemoveAll(filepath.Join(lib, "agent-cert")))
	must(t, api.SetConfig(ctx, map[string]string{"AUTO_TLS_TYPE": "TRUSTED"}))
	refused("CM's AUTO_TLS_TYPE is TRUSTED")
}
