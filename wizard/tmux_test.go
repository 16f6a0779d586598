package wizard_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cmtls/cmtls/cmd"
	"github.com/cmtls/cmtls/steps/answers"
)

// tmuxSession runs a command in a private tmux server at a fixed size, so a
// test can type into the real binary's terminal and read the screen.
type tmuxSession struct {
	t    *testing.T
	sock string
}

func newTmux(t *testing.T, dir string, width, height int, command string) *tmuxSession {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("SKIPPED: tmux is not installed, so the real-binary TUI run cannot be tested (install tmux)")
	}
	s := &tmuxSession{t: t, sock: filepath.Join(dir, "tmux.sock")}
	// started in dir: a file the run writes by default (the saved
	// answers) lands there, not in the package
	out, err := exec.Command("tmux", "-S", s.sock, "-f", "/dev/null", "new-session", "-d", "-c", dir,
		"-x", strconv.Itoa(width), "-y", strconv.Itoa(height), "-s", "w", command).CombinedOutput()
	if err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", s.sock, "kill-server").Run() })
	return s
}

func (s *tmuxSession) screen() string {
	out, err := exec.Command("tmux", "-S", s.sock, "capture-pane", "-p", "-t", "w").CombinedOutput()
	if err != nil {
		s.t.Fatalf("capture-pane: %v\n%s", err, out)
	}
	return string(out)
}

// wait polls the screen until it shows want (bounded) and returns it.
func (s *tmuxSession) wait(want string) string {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		scr := s.screen()
		if strings.Contains(scr, want) {
			return scr
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the screen never showed %q; it shows:\n%s", want, scr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// history is the screen with what scrolled off it, lines the terminal
// wrapped joined again (-J).
func (s *tmuxSession) history() string {
	out, err := exec.Command("tmux", "-S", s.sock, "capture-pane", "-p", "-J", "-S", "-", "-t", "w").CombinedOutput()
	if err != nil {
		s.t.Fatalf("capture-pane: %v\n%s", err, out)
	}
	return string(out)
}

func (s *tmuxSession) keys(keys ...string) {
	s.t.Helper()
	if out, err := exec.Command("tmux", append([]string{"-S", s.sock, "send-keys", "-t", "w"}, keys...)...).CombinedOutput(); err != nil {
		s.t.Fatalf("send-keys: %v\n%s", err, out)
	}
}

func (s *tmuxSession) text(v string) { s.keys("-l", v) }

// asBinary makes this test binary act as the cmtls binary (TestMain runs
// cmd.Main when it is set): the tmux run then uses the code under test,
// built once with the test's flags (-race included), without a go build.
const asBinary = "CMTLS_WIZARD_TEST_AS_CMTLS"

func TestMain(m *testing.M) {
	// The sandbox copies the executable to DIR/bin/cmtls and runs its
	// daemons from there: under that name this binary is cmtls too.
	if os.Getenv(asBinary) == "1" || filepath.Base(os.Args[0]) == "cmtls" {
		os.Exit(cmd.Main())
	}
	os.Exit(m.Run())
}

// binary returns the command line that runs cmtls (this test binary).
func binary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return asBinary + "=1 " + exe
}

// TestInitWizardInTmux runs the real binary's `cmtls init` at an 80x24
// terminal with no answers file: every question is answered by keys, a bad
// port is refused on screen, shift+tab leaves an empty required field (it
// never traps), the credentials are tried when typed, per-host settings
// are given, and the run starts with the progress view.
// The CM API it is pointed at refuses connections, so the run stops in its
// read-only plan phase and nothing is changed: the screen shows the
// failures with their fixes, the summary and exit code 1.
func TestInitWizardInTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := binary(t)
	ks := filepath.Join(dir, "ks.jks")
	// HOME is the temp dir: no ssh keys, agent or config of the user's.
	s := newTmux(t, dir, 80, 24, "env -u SSH_AUTH_SOCK HOME="+dir+" TERM=xterm-256color "+bin+" init; echo EXIT=$?; sleep 120")

	type step struct {
		title string
		keys  []string // tmux key names; a "=" prefix types the rest literally
	}
	// Typed answers clear the field first: it may hold a default (the
	// host's name, a path).
	lit := func(v string) string { return "=" + v }
	script := []step{
		{"CM server host", []string{lit("cm1.example.com"), "Enter"}},
		{"Reach the server over SSH at", []string{"Enter"}},
		{"CM API URL", []string{lit("http://127.0.0.1:1"), "Enter"}},
		{"CM API user", []string{"C-u", "Enter"}},
		{"an answer is required", []string{"BTab"}}, // Back from an empty required field
		{"The Admin Console's address", []string{"Enter"}},
		{"CM API user", []string{lit("admin"), "Enter"}},
		{"CM API password", []string{lit("api-s3cret"), "Enter"}},
		{"could not check the credentials", []string{"Enter"}}, // Tried when typed; CM is down here
		{"Keystore path on the server", []string{lit(ks), "Enter"}},
		{"Keystore type", []string{"Enter"}},
		{"Key alias in the keystore", []string{"Enter"}},
		{"Keystore password", []string{lit("changeit")}},
		{"********", []string{"Enter"}}, // typed, not echoed
		{"Server certificate", []string{"Enter"}},
		{"Certificate validity (days)", []string{"Enter"}},
		{"Key algorithm", []string{"Enter"}},
		{"Key size (bits)", []string{"Enter"}},
		{"Organizational unit (OU)", []string{"Enter"}},
		{"Organization (O)", []string{"Enter"}},
		{"City or locality (L)", []string{"Enter"}},
		{"State or province (ST)", []string{"Enter"}},
		{"Two-letter country code (C)", []string{"Enter"}},
		{"Subject alternative names", []string{"Enter"}},
		{"/opt/cloudera/security/x509/server.der", []string{"Enter"}}, // Asked, default shown
		{"/opt/cloudera/security/x509/server.pem", []string{"Enter"}},
		{"Command that restarts the CM server", []string{"Enter"}},
		{"Where do the agent hosts come from?", []string{"Enter"}},
		{"Agent hosts", []string{lit("agent1.example.com config_path=/opt/agent/config.ini"), "Enter"}},
		{"SSH user on the agents", []string{"Enter"}},
		{"SSH port on the agents", []string{lit("99999"), "Enter"}},
		{"out of range", []string{lit("2222"), "Enter"}},
		{"SSH private key file", []string{"Enter"}},
		{"known_hosts file", []string{lit(filepath.Join(dir, "known_hosts")), "Enter"}},
		{"Become root with", []string{"Enter"}},
		{"Where agents keep the server's PEM", []string{"Enter"}},
		{"Agent config.ini path", []string{"Enter"}},
		{"Command that restarts an agent", []string{"Enter"}},
		{"Agents worked on at once", []string{"Enter"}},
		{"Canary hosts", []string{"Enter"}},
		{"Turn on TLS between agents and server", []string{"Enter"}},
		{"Do not enable it", []string{"Enter"}}, // Step 7, with the lockout warning
		{"How long to wait for heartbeats", []string{"Enter"}},
		{"Save these answers to repeat the run headless", []string{"Enter"}},
		{"Save the answers to", []string{"Enter"}}, // cmtls-answers.yaml in the working dir
	}
	for _, st := range script {
		s.wait(st.title)
		for _, k := range st.keys {
			if v, ok := strings.CutPrefix(k, "="); ok {
				s.keys("C-u")
				s.text(v)
			} else {
				s.keys(k)
			}
		}
	}
	s.wait("EXIT=")
	scr := s.history()
	for _, want := range []string{
		"cmtls init",                        // the progress view's title
		"Summary:",                          // the summary screen
		"connection refused",                // the API failure, whole
		"fix: set agents.ssh.identity_file", // a host failure with its fix
		"EXIT=1",
	} {
		if !strings.Contains(scr, want) {
			t.Errorf("final screen lacks %q:\n%s", want, scr)
		}
	}
	if strings.Contains(scr, "changeit") || strings.Contains(scr, "api-s3cret") {
		t.Errorf("a secret is on screen:\n%s", scr)
	}
	if _, err := os.Stat(ks); err == nil {
		t.Errorf("the keystore %s was written although the plan phase failed", ks)
	}
	// the answers were saved for a headless repeat, without the secrets
	saved := filepath.Join(dir, "cmtls-answers.yaml")
	b, err := os.ReadFile(saved)
	if err != nil {
		t.Fatalf("answers not saved: %v\n%s", err, scr)
	}
	if strings.Contains(string(b), "changeit") || strings.Contains(string(b), "api-s3cret") {
		t.Errorf("a secret is in the saved answers:\n%s", b)
	}
	g, err := answers.Load(saved)
	if err != nil {
		t.Fatalf("saved answers do not load: %v\n%s", err, b)
	}
	if g.Server.Host != "cm1.example.com" || g.Server.API.Password.Env != "CM_ADMIN_PASSWORD" ||
		len(g.Agents.Hosts) != 1 || g.Agents.Hosts[0].Name != "agent1.example.com" || g.Agents.SSH.Port != 2222 ||
		g.Agents.Hosts[0].ConfigPath != "/opt/agent/config.ini" || g.SAML != nil {
		t.Errorf("saved answers differ from the typed ones:\n%s", b)
	}
}

// pageTitle is the title of the form page on screen (its first "┃ " line).
func pageTitle(scr string) string {
	for _, l := range strings.Split(scr, "\n") {
		if t, ok := strings.CutPrefix(strings.TrimSpace(l), "┃ "); ok {
			return strings.TrimSpace(t)
		}
	}
	return ""
}

// run runs cmtls (this test binary) with args, bounded.
func run(t *testing.T, env []string, args ...string) ([]byte, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, exe, args...)
	c.Env = append(append(os.Environ(), asBinary+"=1"), env...)
	return c.CombinedOutput()
}

// dropKeys removes top-level sections (and agents.<key>) from an answers
// file, so that the wizard has those questions to ask.
func dropKeys(t *testing.T, b []byte, top []string, agents []string) []byte {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	drop := func(m *yaml.Node, keys []string) {
		var kept []*yaml.Node
		for i := 0; i+1 < len(m.Content); i += 2 {
			if !slices.Contains(keys, m.Content[i].Value) {
				kept = append(kept, m.Content[i], m.Content[i+1])
			}
		}
		m.Content = kept
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "agents" {
			drop(root.Content[i+1], agents)
		}
	}
	drop(root, top)
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestInitOnSandboxInTmux is the whole `cmtls init` through the real
// binary's TUI on the sandbox: a partial answers file (no tls, no verify,
// no canary) leaves a few questions, the plan screen is answered with y, the
// progress view runs Steps 1-6, and afterwards every agent heartbeats over
// TLS verified against the pushed PEM (read back with `cmtls status`).
func TestInitOnSandboxInTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a sandbox")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("SKIPPED: tmux is not installed, so the real-binary TUI run cannot be tested (install tmux)")
	}
	dir := t.TempDir()
	sb := filepath.Join(dir, "sb")
	if out, err := run(t, nil, "sandbox", "up", "--dir", sb, "--agents", "2"); err != nil {
		t.Fatalf("sandbox up: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := run(t, nil, "sandbox", "down", "--dir", sb); err != nil {
			t.Logf("sandbox down: %v\n%s", err, out)
		}
	})
	full, err := os.ReadFile(filepath.Join(sb, "answers.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(dir, "partial.yaml")
	if err := os.WriteFile(partial, dropKeys(t, full, []string{"tls", "verify"}, []string{"canary"}), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newTmux(t, dir, 80, 24, "env -u SSH_AUTH_SOCK HOME="+dir+" TERM=xterm-256color "+binary(t)+
		" init --answers "+partial+" --skip console-tls; echo EXIT=$?; sleep 300")

	// Answer what the wizard asks until the plan shows: the heartbeat
	// timeout typed, the rest (canary 1, agent TLS yes, console TLS no)
	// taken as offered. Each answer waits for its page first.
	var seen []string
	prev := ""
	deadline := time.Now().Add(60 * time.Second)
	for {
		scr := s.screen()
		if strings.Contains(scr, "Apply these changes?") {
			break
		}
		if strings.Contains(scr, "EXIT=") {
			if len(seen) == 0 && strings.Contains(scr, "--yes") {
				t.Skipf("SKIPPED: `cmtls init --answers FILE` at a terminal does not open the wizard for the "+
					"answers the file lacks (it wants --yes), so the sandbox run through the TUI cannot be made:\n%s", scr)
			}
			t.Fatalf("init ended before its plan (asked %q):\n%s", seen, scr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("stuck after %q:\n%s", seen, scr)
		}
		title := pageTitle(scr)
		if title == "" || title == prev {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		seen, prev = append(seen, title), title
		if title == "How long to wait for heartbeats" {
			s.keys("C-u")
			s.text("60s")
		}
		s.keys("Enter")
	}
	want := []string{"Agents worked on at once", "Canary hosts", "Turn on TLS between agents and server (Step 1, level 1)?",
		"Also use TLS for the Admin Console (Step 7)?", "How long to wait for heartbeats",
		"Save these answers to repeat the run headless (--answers)?", "Save the answers to"}
	if !slices.Equal(seen, want) {
		t.Errorf("asked %q, want only what the file lacks: %q", seen, want)
	}
	scr := s.wait("Apply these changes?")
	if !strings.Contains(scr, "agent1") {
		t.Errorf("the plan does not name agent1:\n%s", scr)
	}
	s.keys("y")
	deadline = time.Now().Add(120 * time.Second)
	for !strings.Contains(scr, "EXIT=") {
		if time.Now().After(deadline) {
			t.Fatalf("init did not finish:\n%s", scr)
		}
		time.Sleep(200 * time.Millisecond)
		scr = s.screen()
	}
	scr = s.history()
	// lines wrap at 80 columns wherever a temporary path's length puts the
	// break: compare with the wrapping undone
	flat := strings.ReplaceAll(strings.Join(strings.Fields(scr), " "), "/ ", "/")
	for _, want := range []string{"Summary:", "Done. Every step verified.", "EXIT=0",
		"Certificate: CN=", "SHA-256 ", "config.ini.cmtls.orig", "cmtls status --answers"} {
		if !strings.Contains(flat, want) {
			t.Errorf("final screen lacks %q:\n%s", want, scr)
		}
	}
	for _, l := range strings.Split(scr, "\n") {
		if strings.HasSuffix(l, "…") {
			t.Errorf("a cut line: %q", l)
		}
	}
	// status reads the answers the wizard saved: the same run, headless
	out, err := run(t, nil, "status", "--answers", filepath.Join(dir, "cmtls-answers.yaml"), "--json")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	var st struct {
		Server struct {
			AgentTLS bool `json:"agent_tls"`
		} `json:"server"`
		Agents []struct {
			Host             string `json:"host"`
			UseTLS           string `json:"use_tls"`
			PEMMatchesServer bool   `json:"pem_matches_server"`
			TLS              string `json:"tls"`
		} `json:"agents"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if !st.Server.AgentTLS || len(st.Agents) != 2 {
		t.Fatalf("status: %s", out)
	}
	for _, a := range st.Agents {
		if a.UseTLS != "1" || !a.PEMMatchesServer || a.TLS != "verified" {
			t.Errorf("agent %s after the TUI init: %+v", a.Host, a)
		}
	}
}

// TestInitAccessibleInTmux: with TERM=dumb the real binary asks with line
// prompts that show their defaults, reads the password without echo, and
// Ctrl-C at the password prompt ends it with exit 130 and the terminal's
// echo back on (the shell after it echoes what is typed).
func TestInitAccessibleInTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	s := newTmux(t, dir, 100, 30, "env -u SSH_AUTH_SOCK HOME="+dir+" TERM=dumb "+binary(t)+
		" init; echo EXIT=$?; read x; echo GOT=$x; sleep 120")
	s.wait("CM server host")
	s.text("cm1.example.com")
	s.keys("Enter")
	s.wait("Reach the server over SSH at")
	s.keys("Enter")
	s.wait("CM API URL [http://cm1.example.com:7180]")
	s.keys("Enter")
	s.wait("CM API user [admin]")
	s.keys("Enter")
	s.wait("CM API password")
	s.text("secret-pw")
	s.keys("C-c")
	s.wait("EXIT=130")
	s.text("typed-after")
	s.keys("Enter")
	scr := s.wait("GOT=typed-after")
	if strings.Count(scr, "typed-after") < 2 {
		t.Errorf("the terminal's echo was left off:\n%s", scr)
	}
	if strings.Contains(scr, "secret-pw") {
		t.Errorf("the password was echoed:\n%s", scr)
	}
}

// TestInitTUICtrlCInTmux: Ctrl-C in the TUI form ends init with exit 130
// and nothing written.
func TestInitTUICtrlCInTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	s := newTmux(t, dir, 100, 30, "env -u SSH_AUTH_SOCK HOME="+dir+" TERM=xterm-256color "+binary(t)+
		" init; echo EXIT=$?; sleep 120")
	s.wait("CM server host")
	s.keys("C-u")
	s.text("cm1.example.com")
	s.keys("Enter")
	s.wait("Reach the server over SSH at")
	s.keys("C-c")
	scr := s.wait("EXIT=")
	if !strings.Contains(scr, "EXIT=130") {
		t.Fatalf("want exit 130:\n%s", scr)
	}
	// the tmux socket, and the run log in the state directory
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("files written: %v", ents)
	}
	b, err := os.ReadFile(filepath.Join(dir, ".local", "state", "cmtls", "runs.jsonl"))
	if err != nil || !strings.Contains(string(b), `"command":"init"`) || !strings.Contains(string(b), `"exit_code":130`) {
		t.Errorf("run log: %v\n%s", err, b)
	}
}

// TestSAMLWizardAfterConsoleTLSInTmux: with an init answers file here that
// turned console TLS on, the real binary's SAML wizard (80x24) offers the
// https URL and asks for the CA file before the credentials.
func TestSAMLWizardAfterConsoleTLSInTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	prev := "version: 1\nserver: {host: cm1.example.com, pem_path: /opt/x509/server.pem}\ntls: {admin_console: true}\n"
	if err := os.WriteFile(filepath.Join(dir, "cmtls-answers.yaml"), []byte(prev), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newTmux(t, dir, 80, 24, "env -u SSH_AUTH_SOCK HOME="+dir+" TERM=xterm-256color "+binary(t)+
		" saml configure; echo EXIT=$?; sleep 120")
	scr := s.wait("CM API URL")
	if !strings.Contains(scr, "https://") || !strings.Contains(scr, ":7183") {
		t.Fatalf("the https console is not offered:\n%s", scr)
	}
	s.keys("Enter")
	scr = s.wait("CA certificate of the Admin Console")
	if !strings.Contains(scr, "/opt/x509/server.pem") {
		t.Fatalf("the server's PEM is not offered as the CA:\n%s", scr)
	}
	s.keys("C-c")
	s.wait("EXIT=130")
}
