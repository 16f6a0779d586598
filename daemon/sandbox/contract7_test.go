package sandbox

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cmtls/cmtls/daemon/cmserver"
	"github.com/cmtls/cmtls/remote/cmapi/cmapitest"
)

// TestInitSAMLAndConsoleTLSThroughContractProxy runs the real binary
// against the CM 7.5.3 sandbox through a proxy that judges every API
// exchange by CM's v45 definition: `init --skip console-tls`, `saml
// configure` (roles mapped through /externalUserMappings, logins verified
// by asking CM), then `init` again, which turns console TLS on: the
// Management Service's truststore is set through the proxy before WEB_TLS
// goes on. Once the console redirects to https the API is reached there,
// around the plain proxy. Every command exits 0; not one exchange falls
// outside CM's definition (the checker fails the test on the first).
func TestInitSAMLAndConsoleTLSThroughContractProxy(t *testing.T) {
	exe := cmtlsBinary(t)
	dir := t.TempDir()
	m, err := Up(context.Background(), Options{Dir: dir, Agents: 1, Exe: exe, CMVersion: "7.5.3"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Down(dir) })
	l := NewLayout(dir)
	chk := cmapitest.New(t)
	target, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(m.Ports["http"]))
	proxy := httptest.NewServer(chk.Proxy(target))
	defer proxy.Close()
	write := func(name string, b []byte, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f := Answers(l, m)
	f.Server.API.URL = proxy.URL
	b, err := MarshalAnswers(f)
	ans := write("answers-via-proxy.yaml", b, err)
	consoleURL, _ := ConsoleURL(l, m)
	sf := SAMLAnswers(l, m, consoleURL)
	sf.Server.API.URL = proxy.URL
	b, err = MarshalSAMLAnswers(sf)
	samlAns := write("saml-answers-via-proxy.yaml", b, err)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.Env = append(os.Environ(), "CMTLS_NO_INPUT=1")
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("cmtls %v: %v\n%s\n%s", args, err, out, stderr)
		}
		return out
	}
	run("init", "--answers", ans, "--yes", "--skip", "console-tls")
	n := chk.Exchanges()
	var r samlRun
	out := run("saml", "configure", "--answers", samlAns, "--yes", "--json")
	if err := json.Unmarshal(out, &r); err != nil || r.ExitCode != 0 || len(r.Result.Logins) == 0 {
		t.Fatalf("saml configure: %v %+v\n%s", err, r, out)
	}
	for _, lg := range r.Result.Logins {
		if !lg.OK {
			t.Errorf("login %s: expected %s, got %s", lg.User, lg.Expect, lg.Got)
		}
	}
	if chk.Exchanges() <= n {
		t.Fatalf("saml configure did not go through the proxy")
	}
	n = chk.Exchanges()
	run("init", "--answers", ans, "--yes")
	if chk.Exchanges() <= n {
		t.Fatalf("init with console TLS did not go through the proxy")
	}
	cms, err := cmserver.LoadServiceConfig(filepath.Join(l.ServerDir, "mgmt-service-config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if p := cms["ssl_client_truststore_location"]; p != f.Server.Truststore.Path {
		t.Errorf("Management Service truststore %q, want %q", p, f.Server.Truststore.Path)
	}
	if _, err := os.Stat(f.Server.Truststore.Path); err != nil {
		t.Error(err)
	}
	if _, tls := ConsoleURL(l, m); !tls {
		t.Error("the console is not on TLS after init")
	}
	t.Logf("%d API exchanges judged, %d outside CM's definition", chk.Exchanges(), len(chk.Violations()))
}
