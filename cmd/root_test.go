package cmd

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"github.com/spf13/cobra"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
)

// --version names the version, the commit and its date from the build
// info, not "cmtls dev".
func TestVersionFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"}}}
	got := describeBuild("", bi)
	for _, want := range []string{"(devel)", "commit 0123456789ab+modified", "date 2026-12-01T10:00:00Z"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	if got := describeBuild("v1.2.3", nil); got != "v1.2.3 (commit unknown, date unknown)" {
		t.Errorf("no build info: %q", got)
	}
	f, out, _ := testFactory(nil)
	f.Version = describeBuild("v1.2.3", bi)
	if code := Run(context.Background(), f, []string{"--version"}); code != 0 ||
		!strings.Contains(out.String(), "cmtls v1.2.3 (commit 0123456789ab+modified, date 2026-12-01T10:00:00Z)") {
		t.Fatalf("--version: %d %q", code, out)
	}
}

// -v is --verbose in every command (never --version), and the global flags
// are known everywhere.
func TestGlobalFlagsEverywhere(t *testing.T) {
	f, _, _ := testFactory(nil)
	root := NewRootCmd(f)
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		for _, s := range c.Commands() {
			walk(s)
		}
		if !c.Runnable() {
			return
		}
		n++
		for _, name := range []string{"no-input", "accessible", "no-color", "quiet", "verbose"} {
			if c.Flag(name) == nil {
				t.Errorf("%s: no --%s", c.CommandPath(), name)
			}
		}
		if fl := c.Flag("verbose"); fl != nil && fl.Shorthand != "v" {
			t.Errorf("%s: --verbose short form %q", c.CommandPath(), fl.Shorthand)
		}
		if fl := c.Flags().ShorthandLookup("v"); fl != nil && fl.Name != "verbose" {
			t.Errorf("%s: -v is --%s", c.CommandPath(), fl.Name)
		}
		if fl := c.Flags().ShorthandLookup("q"); fl != nil && fl.Name != "quiet" {
			t.Errorf("%s: -q is --%s", c.CommandPath(), fl.Name)
		}
	}
	walk(root)
	if n < 10 {
		t.Fatalf("walked %d commands", n)
	}
	// -v at the top is verbose, not the version
	f, out, _ := testFactory(nil)
	if code := Run(context.Background(), f, []string{"-v", "status", "--help"}); code != 0 || strings.Contains(out.String(), "v0.0.0-test") || !f.Verbose {
		t.Fatalf("-v: %d verbose=%v %q", code, f.Verbose, out)
	}
}

// --no-input: a question that would be asked is an error naming how to give
// the answer, exit 2; CMTLS_NO_INPUT=1 is the same.
func TestNoInputNamesTheFlag(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
	}{
		{nil, []string{"--no-input"}},
		{map[string]string{"CMTLS_NO_INPUT": "1"}, nil},
	} {
		dir := t.TempDir()
		ks := filepath.Join(dir, "k.p12")
		f, _, errOut := testFactory(tc.env)
		f.IsTerminal = func() bool { return true }
		f.In = strings.NewReader("secret1\n")
		args := append(tc.args, "cert", "generate", "--cn", "cm1.example.com", "--keystore", ks)
		code := Run(context.Background(), f, args)
		if code != 2 || !strings.Contains(errOut.String(), "--storepass-file FILE or --storepass-env NAME") {
			t.Fatalf("%v: exit %d\n%s", args, code, errOut)
		}
		if _, err := os.Stat(ks); err == nil {
			t.Fatalf("%v: keystore written", args)
		}
	}
}

// -q: the story on stderr is dropped, errors stay.
func TestQuiet(t *testing.T) {
	f, _, errOut := testFactory(nil)
	code := Run(context.Background(), f, []string{"-q", "status", "--answers", "/nonexistent/a.yaml"})
	if code != 2 || !strings.HasPrefix(errOut.String(), "error: ") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	f, _, errOut = testFactory(nil)
	dir := t.TempDir()
	args := []string{"cert", "generate", "--cn", "cm1.example.com", "--keystore", filepath.Join(dir, "k.p12"), "--storepass-env", "PW"}
	f.LookupEnv = func(k string) (string, bool) { return map[string]string{"PW": "changeit"}[k], k == "PW" }
	if code := Run(context.Background(), f, append([]string{"-q"}, args...)); code != 0 || errOut.Len() != 0 {
		t.Fatalf("-q: exit %d, stderr %q", code, errOut)
	}
}

// Every run leaves one JSON line in $XDG_STATE_HOME/cmtls/runs.jsonl, with
// no secret in it.
func TestRunLog(t *testing.T) {
	state := t.TempDir()
	env := map[string]string{"XDG_STATE_HOME": state}
	f, _, _ := testFactory(env)
	Run(context.Background(), f, []string{"status", "--answers", "/nonexistent/a.yaml"})
	f, _, _ = testFactory(env)
	Run(context.Background(), f, []string{"cert", "inspect", "--password=hunter22", "x.pem"})
	b, err := os.ReadFile(filepath.Join(state, "cmtls", "runs.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "hunter22") {
		t.Fatalf("a secret in the log:\n%s", b)
	}
	var recs []runRecord
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		var r runRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 2 || recs[0].Command != "status" || recs[0].ExitCode != 2 || recs[0].Time.IsZero() ||
		recs[1].Command != "cert inspect" || recs[1].Args[2] != "--password=REDACTED" {
		t.Fatalf("%+v", recs)
	}
	if st, _ := os.Stat(filepath.Join(state, "cmtls", "runs.jsonl")); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	// HOME alone: ~/.local/state
	home := t.TempDir()
	f, _, _ = testFactory(map[string]string{"HOME": home})
	Run(context.Background(), f, []string{"--help"})
	if _, err := os.Stat(filepath.Join(home, ".local", "state", "cmtls", "runs.jsonl")); err != nil {
		t.Fatal(err)
	}
	if got := redactArgs([]string{"x", "--api-password", "pw", "--storepass-file", "f", "--", "--token"}); strings.Join(got, " ") != "x --api-password REDACTED --storepass-file f -- --token" {
		t.Fatalf("redact: %v", got)
	}
}

// --accessible asks with line prompts (not only TERM=dumb); --no-color is
// NO_COLOR for the whole run.
func TestAccessibleAndNoColorFlags(t *testing.T) {
	f, _, errOut := testFactory(map[string]string{"HOME": t.TempDir()})
	f.IsTerminal = func() bool { return true }
	f.In = strings.NewReader("cm1.example.com\n")
	code := Run(context.Background(), f, []string{"--accessible", "init"})
	if code == 0 || !strings.Contains(errOut.String(), "CM server host") || !strings.Contains(errOut.String(), "input ended") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if !f.WizardOptions().Accessible {
		t.Fatal("--accessible did not reach the wizard")
	}
	prev := lipgloss.ColorProfile()
	t.Cleanup(func() { lipgloss.SetColorProfile(prev) })
	lipgloss.SetColorProfile(termenv.TrueColor)
	f, _, _ = testFactory(nil)
	Run(context.Background(), f, []string{"--no-color", "status", "--answers", "/nonexistent/a.yaml"})
	if !f.NoColor || lipgloss.ColorProfile() != termenv.Ascii {
		t.Fatalf("--no-color: %v %v", f.NoColor, lipgloss.ColorProfile())
	}
}

// The Factory's constructors are the ones commands use: a test can swap
// the CM API client and the SSH dialer.
func TestFactoryConstructorsUsed(t *testing.T) {
	dir := t.TempDir()
	ans := filepath.Join(dir, "a.yaml")
	body := "version: 1\nserver:\n  host: cm1.example.com\n  api: {url: 'http://127.0.0.1:1', user: admin, password: {env: PW}}\n" +
		"  keystore: {path: " + filepath.Join(dir, "ks.jks") + ", password: {env: PW}}\n  restart_command: 'true'\n" +
		"agents:\n  hosts: [agent1]\n  ssh: {known_hosts: " + filepath.Join(dir, "kh") + "}\n"
	if err := os.WriteFile(ans, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	f, _, errOut := testFactory(map[string]string{"PW": "changeit"})
	var apiURLs []string
	dialers := 0
	f.NewAPI = func(u, user string, pw []byte, opts ...cmapi.Option) (*cmapi.Client, error) {
		apiURLs = append(apiURLs, u)
		return cmapi.New(u, user, pw, opts...)
	}
	f.NewDialer = func(o remote.Options) (*remote.Dialer, error) {
		dialers++
		return remote.NewDialer(o)
	}
	Run(context.Background(), f, []string{"init", "--answers", ans, "--dry-run"})
	if len(apiURLs) == 0 || apiURLs[0] != "http://127.0.0.1:1" || dialers != 1 {
		t.Fatalf("api %v, dialers %d\n%s", apiURLs, dialers, errOut)
	}
}
