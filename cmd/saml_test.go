package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmtls/cmtls/daemon/cmserver"
	"github.com/cmtls/cmtls/daemon/idp"
	"github.com/cmtls/cmtls/pki/pkitest"
	samlsteps "github.com/cmtls/cmtls/steps/saml"
)

func TestSAMLConfigureNeedsAnswersHeadless(t *testing.T) {
	f, _, errOut := testFactory(nil)
	if code := Run(context.Background(), f, []string{"saml", "configure"}); code != 2 || !strings.Contains(errOut.String(), "--answers") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	f, _, errOut = testFactory(nil)
	p := filepath.Join(t.TempDir(), "a.yaml")
	if err := os.WriteFile(p, []byte("version: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := Run(context.Background(), f, []string{"saml", "configure", "--answers", p}); code != 2 || !strings.Contains(errOut.String(), "--yes") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// samlWorld is an embedded CM server (no restart needed for a dry run)
// and a test IdP, with the files a SAML answers file names.
func samlWorld(t *testing.T) (dir, cmURL string) {
	t.Helper()
	dir = t.TempDir()
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	al, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := cmserver.New(cmserver.Config{AdminUser: "admin", AdminPassword: []byte("admin"), Log: &strings.Builder{}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(cmserver.Listeners{HTTP: hl, Agent: al}) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	il, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ip, err := idp.New(idp.Config{BaseURL: "http://" + il.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ip.Serve(il) }()
	t.Cleanup(func() { _ = ip.Shutdown(context.Background()) })
	md, err := ip.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "idp.xml"), md, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "saml.jks"), pkitest.SelfSignedKeystore(t, "jks", "samlkey", "cm", nil, []byte("changeit")), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, "http://" + hl.Addr().String()
}

func writeSAMLAnswers(t *testing.T, dir, cmURL string) string {
	p := filepath.Join(dir, "saml-answers.yaml")
	y := fmt.Sprintf(`version: 1
server:
  host: localhost
  restart_command: "true"
  api: {url: %s, user: admin, password: {env: CM_PW}}
saml:
  idp_metadata: idp.xml
  keystore: {path: saml.jks, password: {env: KS_PW}, alias: samlkey}
  role: {from: attribute, admin_values: [cm-admins], user_values: [cm-users]}
`, cmURL)
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSAMLConfigureDryRunJSON(t *testing.T) {
	dir, cmURL := samlWorld(t)
	p := writeSAMLAnswers(t, dir, cmURL)
	f, out, errOut := testFactory(map[string]string{"CM_PW": "admin", "KS_PW": "changeit"})
	code := Run(context.Background(), f, []string{"saml", "configure", "--answers", p, "--dry-run", "--json"})
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	var jr struct {
		DryRun bool `json:"dry_run"`
		Plan   []struct {
			Items []struct{ Target, Old, New string } `json:"items"`
		} `json:"plan"`
		Result struct {
			RoleModel string `json:"roleModel"`
		} `json:"result"`
	}
	if err := json.Unmarshal(out.Bytes(), &jr); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got := map[string]string{}
	for _, c := range jr.Plan {
		for _, it := range c.Items {
			got[it.Target] = it.New
		}
	}
	if !jr.DryRun || got["External Authentication Type"] != "SAML" || got["SAML Keystore Password"] != "[redacted]" || got["SAML Attribute Values for ROLE_ADMIN"] != "cm-admins" {
		t.Fatalf("plan: %+v", got)
	}
	if strings.Contains(out.String()+errOut.String(), "changeit") {
		t.Fatal("secret printed")
	}
}

func TestSAMLConfigureBadPasswordExit2(t *testing.T) {
	dir, cmURL := samlWorld(t)
	p := writeSAMLAnswers(t, dir, cmURL)
	f, out, errOut := testFactory(map[string]string{"CM_PW": "admin", "KS_PW": "wrongpass"})
	code := Run(context.Background(), f, []string{"saml", "configure", "--answers", p, "--yes"})
	if code != 2 || !strings.Contains(errOut.String(), "SAML Keystore Password") || !strings.Contains(errOut.String(), "hint:") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

// At a terminal without --answers the wizard asks (accessible mode here);
// running out of input is an error from the wizard, not the headless hint.
func TestSAMLConfigureTerminalStartsWizard(t *testing.T) {
	f, _, errOut := testFactory(map[string]string{"TERM": "dumb"})
	f.IsTerminal = func() bool { return true }
	code := Run(context.Background(), f, []string{"saml", "configure"})
	if code == 0 || strings.Contains(errOut.String(), "no terminal and no --answers") || !strings.Contains(errOut.String(), "CM API URL") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// An error before the run (a secret's variable not set) is a JSON result
// with --json too, like init's.
func TestSAMLConfigureEarlyErrorJSON(t *testing.T) {
	dir, cmURL := samlWorld(t)
	p := writeSAMLAnswers(t, dir, cmURL)
	f, out, errOut := testFactory(map[string]string{"CM_PW": "admin"})
	code := Run(context.Background(), f, []string{"saml", "configure", "--answers", p, "--dry-run", "--json"})
	var jr struct {
		ExitCode int    `json:"exit_code"`
		Error    string `json:"error"`
		Hint     string `json:"hint"`
	}
	if err := json.Unmarshal(out.Bytes(), &jr); err != nil {
		t.Fatalf("exit %d, stdout is not JSON: %v\n%s\n%s", code, err, out, errOut)
	}
	if code != 2 || jr.ExitCode != 2 || !strings.Contains(jr.Error, "KS_PW") || jr.Hint == "" {
		t.Fatalf("exit %d, result %+v\n%s", code, jr, errOut)
	}
}

// The SAML wizard (line prompts) saves its answers on request, and the
// saved file repeats the same dry run headless with the exported secrets.
func TestSAMLWizardSavesRepeatableAnswers(t *testing.T) {
	dir, cmURL := samlWorld(t)
	saved := filepath.Join(dir, "saved.yaml")
	lines := []string{
		cmURL, "", "admin", // api url, user, password
		"", "", // server: this machine; restart command
		filepath.Join(dir, "idp.xml"),
		filepath.Join(dir, "saml.jks"), "", "changeit", "samlkey", "", // keystore: path, type, password, alias, key password
		"", "", // entity id, base url
		"", "", "", "", "cm-admins", "cm-users", // user id from, its attribute, role from, role attribute, values
		"", saved, // save: yes, where
	}
	f, out, errOut := testFactory(map[string]string{"TERM": "dumb", "HOME": dir})
	f.IsTerminal = func() bool { return true }
	f.In = strings.NewReader(strings.Join(lines, "\n") + "\n")
	code := Run(context.Background(), f, []string{"saml", "configure", "--dry-run"})
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"export CM_ADMIN_PASSWORD=...", "export CMTLS_SAML_KEYSTORE_PASSWORD=...",
		"cmtls saml configure --answers " + saved + " --yes"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	b, err := os.ReadFile(saved)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "changeit") || strings.Contains(errOut.String()+out.String(), "changeit") {
		t.Fatalf("a secret was written or printed:\n%s", b)
	}
	f, out, errOut = testFactory(map[string]string{"CM_ADMIN_PASSWORD": "admin", "CMTLS_SAML_KEYSTORE_PASSWORD": "changeit"})
	if code := Run(context.Background(), f, []string{"saml", "configure", "--answers", saved, "--dry-run", "--json"}); code != 0 {
		t.Fatalf("headless repeat: exit %d\n%s\n%s\n%s", code, b, out, errOut)
	}
	if !strings.Contains(out.String(), "SAML Attribute Values for ROLE_ADMIN") || !strings.Contains(out.String(), "cm-admins") {
		t.Errorf("headless plan lacks the role mapping:\n%s", out)
	}
}

// saml rollback needs --answers and --yes (or --dry-run): exit 2.
func TestSAMLRollbackUsage(t *testing.T) {
	f, _, errOut := testFactory(nil)
	if code := Run(context.Background(), f, []string{"saml", "rollback"}); code != 2 || !strings.Contains(errOut.String(), "--answers") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	f, _, errOut = testFactory(nil)
	if code := Run(context.Background(), f, []string{"saml", "rollback", "--answers", "x.yaml"}); code != 2 || !strings.Contains(errOut.String(), "--yes") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// A rollback before any configure has nothing recorded: exit 2, with the
// plan's error in the JSON result.
func TestSAMLRollbackWithoutRecordJSON(t *testing.T) {
	dir, cmURL := samlWorld(t)
	p := writeSAMLAnswers(t, dir, cmURL)
	f, out, errOut := testFactory(map[string]string{"CM_PW": "admin", "KS_PW": "changeit"})
	code := Run(context.Background(), f, []string{"saml", "rollback", "--answers", p, "--dry-run", "--json"})
	var jr struct {
		Command  string `json:"command"`
		ExitCode int    `json:"exit_code"`
		Error    string `json:"error"`
	}
	if err := json.Unmarshal(out.Bytes(), &jr); err != nil {
		t.Fatalf("exit %d: %v\n%s\n%s", code, err, out, errOut)
	}
	if code != 2 || jr.ExitCode != 2 || jr.Command != "saml rollback" || !strings.Contains(jr.Error, "no record of a saml configure") {
		t.Fatalf("exit %d, %+v", code, jr)
	}
}

// gh's seam: the command parses its flags into the options and hands them
// to runF.
func TestSAMLCommandsRunF(t *testing.T) {
	f, _, _ := testFactory(nil)
	var got *samlOptions
	runF := func(_ context.Context, o *samlOptions) error { got = o; return nil }
	c := newSAMLConfigureCmd(f, runF)
	c.SetArgs([]string{"--answers", "a.yaml", "--yes", "--json", "--metadata-out", "md.xml"})
	if err := c.Execute(); err != nil || got == nil || got.answersPath != "a.yaml" || !got.yes || !got.json || got.metadataOut != "md.xml" || got.rollback {
		t.Fatalf("configure: %v %+v", err, got)
	}
	got = nil
	c = newSAMLRollbackCmd(f, runF)
	c.SetArgs([]string{"--answers", "a.yaml", "--dry-run"})
	if err := c.Execute(); err != nil || got == nil || !got.dryRun || !got.rollback {
		t.Fatalf("rollback: %v %+v", err, got)
	}
}

// The closing line claims verified logins only when test logins ran.
func TestSAMLDoneLineIsHonest(t *testing.T) {
	none := samlDoneLine(false, &samlsteps.Result{})
	if strings.Contains(none, "logins are verified") || !strings.Contains(none, "no test login") {
		t.Errorf("without logins: %q", none)
	}
	two := samlDoneLine(false, &samlsteps.Result{LoginsVerified: true, Logins: make([]samlsteps.LoginResult, 2)})
	if !strings.Contains(two, "2 test login(s) are verified") {
		t.Errorf("with logins: %q", two)
	}
}
