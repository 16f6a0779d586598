package sandbox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cmtls/cmtls/daemon/cmserver"
	"github.com/cmtls/cmtls/remote/browser"
	"github.com/cmtls/cmtls/steps/answers"
)

type samlRun struct {
	ExitCode int `json:"exitCode"`
	Result   struct {
		Logins []struct {
			User, Expect, Got string
			OK                bool
		} `json:"logins"`
	} `json:"result"`
	Error string `json:"error"`
}

// samlConfigure runs the built `cmtls saml configure` on the sandbox's
// SAML answers file and checks that alice, bob and mallory end as admin,
// user and not authorized through the real IdP and SP processes.
func samlConfigure(t *testing.T, exe string, l Layout) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "saml", "configure", "--answers", l.SAMLAnswers, "--yes", "--json")
	cmd.Env = append(os.Environ(), "CMTLS_NO_INPUT=1")
	out, err := cmd.Output()
	var r samlRun
	if jerr := json.Unmarshal(out, &r); jerr != nil || err != nil || r.ExitCode != 0 {
		t.Fatalf("saml configure: %v (json %v), result %+v\n%s", err, jerr, r, out)
	}
	got := map[string]string{}
	for _, lg := range r.Result.Logins {
		if !lg.OK {
			t.Errorf("login %s: expected %s, got %s", lg.User, lg.Expect, lg.Got)
		}
		got[lg.User] = lg.Got
	}
	for _, u := range IdPUsers {
		if got[u.Name] != u.Expect {
			t.Errorf("login %s ended as %q, want %q", u.Name, got[u.Name], u.Expect)
		}
	}
}

// TestSAMLOnSandbox: the sandbox's test IdP and saml-answers.yaml are what
// `cmtls saml configure` needs after `cmtls init` turned console TLS on:
// the file written at up, unmodified (plain console URL; the run follows
// the redirect and trusts server.pem_path), and the file written again for
// https; down stops the IdP too. (The plain console before init is
// testdata/script/sandbox_saml.txtar.)
func TestSAMLOnSandbox(t *testing.T) {
	exe := cmtlsBinary(t)
	dir := t.TempDir()
	// The CM 5 settings model: `saml configure` writes the role values.
	m, err := Up(context.Background(), Options{Dir: dir, Agents: 1, Exe: exe, CMVersion: cmserver.LegacyVersion})
	if err != nil {
		t.Fatal(err)
	}
	downed := false
	t.Cleanup(func() {
		if !downed {
			Down(dir)
		}
	})
	l := NewLayout(dir)
	// Secrets are 0600; the IdP serves its metadata on loopback.
	for _, p := range []string{l.IdPPassword("alice"), l.IdPPassword("bob"), l.IdPPassword("mallory"), l.SAMLKeystorePassword(), l.SAMLKeystore()} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", p, fi, err)
		}
	}
	// keytool, as the oracle, opens the SAML keystore with the password
	// file and finds the private key under the alias the answers name.
	ksPass, _ := os.ReadFile(l.SAMLKeystorePassword())
	kt, err := exec.Command("keytool", "-list", "-v", "-keystore", l.SAMLKeystore(), "-storetype", "JKS",
		"-storepass", strings.TrimSpace(string(ksPass)), "-alias", SAMLAlias).CombinedOutput()
	if err != nil || !strings.Contains(string(kt), "PrivateKeyEntry") || !strings.Contains(string(kt), "RSA") {
		t.Fatalf("keytool -list: %v\n%s", err, kt)
	}
	resp, err := http.Get(IdPURL(m.Ports["idp"]) + "/metadata")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("idp metadata: %s", resp.Status)
	}
	// The SAML answers file passes the checks saml configure makes.
	f, err := answers.Load(l.SAMLAnswers)
	if err != nil {
		t.Fatal(err)
	}
	f.ApplyDefaults()
	if err := f.ValidateSAML(); err != nil {
		t.Fatal(err)
	}
	if f.SAML.EntityBaseURL != "http://localhost:"+strconv.Itoa(m.Ports["http"]) || f.Server.API.CAFile != "" || f.Server.PEMPath != l.PEM {
		t.Fatalf("plain console: entity base %q, ca_file %q, pem_path %q", f.SAML.EntityBaseURL, f.Server.API.CAFile, f.Server.PEMPath)
	}
	written, err := os.ReadFile(l.SAMLAnswers)
	if err != nil {
		t.Fatal(err)
	}

	// init with console TLS: the plain console now redirects to https.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	initCmd := exec.CommandContext(ctx, exe, "init", "--answers", l.Answers, "--yes")
	initCmd.Env = append(os.Environ(), "CMTLS_NO_INPUT=1")
	if out, err := initCmd.CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	if u, tls := ConsoleURL(l, m); !tls {
		t.Fatalf("console TLS is not on after init: %s", u)
	}
	// The file written at up, unmodified, is accepted as is: saml
	// configure follows the redirect and trusts server.pem_path.
	if now, _ := os.ReadFile(l.SAMLAnswers); string(now) != string(written) {
		t.Fatal("init changed saml-answers.yaml")
	}
	samlConfigure(t, exe, l)

	// The SAML answers written again for https: the API trusted through
	// the pushed PEM as server.api.ca_file.
	if _, tls, err := WriteSAMLAnswers(dir); err != nil || !tls {
		t.Fatalf("WriteSAMLAnswers after init: tls %v, %v", tls, err)
	}
	f, err = answers.Load(l.SAMLAnswers)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(f.SAML.EntityBaseURL, "https://localhost:") || f.Server.API.URL != f.SAML.EntityBaseURL || f.Server.API.CAFile != l.PEM {
		t.Fatalf("after init: entity base %q, api %q, ca_file %q", f.SAML.EntityBaseURL, f.Server.API.URL, f.Server.API.CAFile)
	}
	samlConfigure(t, exe, l)
	consoleLogoutIsSLO(t, f.SAML.EntityBaseURL, l)

	// Down stops the IdP with the rest: nothing of the sandbox listens.
	idp := idpService(l)
	pid, ok := idp.Status()
	if !ok {
		t.Fatal("idp not running before down")
	}
	if err := Down(dir); err != nil {
		t.Fatal(err)
	}
	downed = true
	if Alive(pid) {
		t.Errorf("idp pid %d alive after down", pid)
	}
	m, _ = ReadMarker(dir)
	for name, p := range m.Ports {
		if conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p), time.Second); err == nil {
			conn.Close()
			t.Errorf("port %d (%s) still listening after down", p, name)
		}
	}
}

// consoleLogoutIsSLO logs alice in through the console (https, trusting
// the server PEM), logs out with the console's Logout link and checks that this
// ended the IdP session too: the next visit asks for the password again.
func consoleLogoutIsSLO(t *testing.T, base string, l Layout) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pemData, err := os.ReadFile(l.PEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemData)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	b := browser.NewBrowser(tr)
	pw, err := os.ReadFile(l.IdPPassword("alice"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Get(ctx, base+"/cmf/home")
	if err == nil {
		p, err = b.Login(ctx, p, "alice", strings.TrimSpace(string(pw)))
	}
	if err != nil || p.Status != 200 || !strings.Contains(p.Body, "Logged in as alice (ADMIN)") {
		t.Fatalf("alice's login: %v %+v\n%s", err, p, b.Trace)
	}
	// The console's logout asks first (a GET ends nothing); confirm it.
	p, err = b.Confirm(ctx, base+"/cmf/logout")
	if err != nil || !strings.Contains(p.Body, "You are logged out of Cloudera Manager and the identity provider.") {
		t.Fatalf("console logout: %v %+v\n%s", err, p, b.Trace)
	}
	p, err = b.Get(ctx, base+"/cmf/home")
	if err != nil || !strings.Contains(p.Body, `type="password"`) || strings.Contains(p.Body, "Logged in as") {
		t.Fatalf("after logout, home did not ask the IdP for a password: %v %+v", err, p)
	}
}
