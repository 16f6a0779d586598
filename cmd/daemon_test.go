package cmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDaemonAndSandboxUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ini := filepath.Join(dir, "config.ini")
	os.WriteFile(ini, []byte("[General]\nserver_host=localhost\n"), 0o644)
	idpYAML := filepath.Join(dir, "idp.yaml")
	os.WriteFile(idpYAML, []byte("bind: 127.0.0.1\n"), 0o600)
	for _, tc := range []struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		{[]string{"daemon", "server", "status"}, nil, ExitUsage, "--config is required"},
		{[]string{"daemon", "agent", "start", "--config", ini}, map[string]string{"CMTLS_AGENT_INTERVAL": "soon"}, ExitUsage, `invalid value "soon" for CMTLS_AGENT_INTERVAL`},
		{[]string{"daemon", "agent", "status", "--config", ini}, nil, ExitFailed, "cloudera-scm-agent is not running"},
		{[]string{"daemon", "server", "status", "--config", filepath.Join(dir, "nope.yaml")}, nil, ExitUsage, "server config"},
		{[]string{"daemon", "agent", "stop", "--config", ini}, nil, ExitOK, ""},
		{[]string{"sandbox", "up"}, nil, ExitUsage, "--dir is required"},
		{[]string{"sandbox", "up", "--dir", dir, "--agents", "0"}, nil, ExitUsage, "invalid value 0 for --agents"},
		{[]string{"sandbox", "down", "--dir", dir}, nil, ExitUsage, "no sandbox in"},
		{[]string{"sandbox", "status"}, map[string]string{"CMTLS_SANDBOX_DIR": dir}, ExitUsage, "no sandbox in"},
		{[]string{"daemon", "loadtest"}, nil, ExitUsage, "--addr and --cafile are required"},
		{[]string{"daemon", "idp", "start"}, nil, ExitUsage, "--config is required"},
		{[]string{"daemon", "idp", "status", "--config", filepath.Join(dir, "nope.yaml")}, nil, ExitUsage, "idp config"},
		{[]string{"daemon", "idp", "run", "--config", ini}, nil, ExitUsage, "check the idp config file"},
		{[]string{"daemon", "idp", "status", "--config", idpYAML}, nil, ExitFailed, "cmtls-idp is not running"},
		{[]string{"daemon", "idp", "stop", "--config", idpYAML}, nil, ExitOK, ""},
		{[]string{"sandbox", "saml-answers", "--dir", dir}, nil, ExitUsage, "no sandbox in"},
	} {
		f, _, errb := testFactory(tc.env)
		code := Run(context.Background(), f, tc.args)
		if code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("cmtls %v = %d, stderr %q; want %d with %q", tc.args, code, errb.String(), tc.code, tc.want)
		}
	}
}
