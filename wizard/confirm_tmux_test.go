package wizard_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRenewAndRollbackConfirmInTmux: at an 80x24 terminal, renew and
// rollback without --yes show their plan in the progress view and ask once,
// like init. "n" to renew changes nothing (exit 0, "nothing was changed");
// "y" to rollback runs it in the progress view and ends with the next
// commands and the change record (--report).
func TestRenewAndRollbackConfirmInTmux(t *testing.T) {
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
	ans := filepath.Join(sb, "answers.yaml")
	if out, err := run(t, nil, "init", "--answers", ans, "--yes", "--skip", "console-tls"); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	keystore, err := os.ReadFile(filepath.Join(sb, "server", "cm.keystore"))
	if err != nil {
		t.Fatal(err)
	}
	env := "env -u SSH_AUTH_SOCK HOME=" + dir + " TERM=xterm-256color "

	// renew, declined: nothing changes
	s := newTmux(t, dir, 80, 24, env+binary(t)+" renew --answers "+ans+"; echo EXIT=$?; sleep 300")
	scr := waitLong(t, s, "Apply these changes?")
	if !strings.Contains(scr, "cmtls renew: plan") {
		t.Errorf("the renew plan screen has no title:\n%s", scr)
	}
	s.keys("n")
	scr = waitLong(t, s, "EXIT=")
	if !strings.Contains(scr, "EXIT=0") || !strings.Contains(s.history(), "nothing was changed") {
		t.Errorf("declined renew:\n%s", s.history())
	}
	if now, _ := os.ReadFile(filepath.Join(sb, "server", "cm.keystore")); string(now) != string(keystore) {
		t.Error("the keystore changed although the renew plan was declined")
	}

	// rollback, confirmed: the progress view, the closing lines, the record
	rep := filepath.Join(dir, "rollback.md")
	s2 := newTmux(t, t.TempDir(), 80, 24, env+binary(t)+" rollback --answers "+ans+" --report "+rep+"; echo EXIT=$?; sleep 300")
	scr = waitLong(t, s2, "Apply these changes?")
	if !strings.Contains(scr, "cmtls rollback: plan") {
		t.Errorf("the rollback plan screen:\n%s", scr)
	}
	s2.keys("y")
	waitLong(t, s2, "EXIT=")
	hist := s2.history()
	// the closing lines wrap at 80 columns wherever the temporary path's
	// length puts the break: compare with the wrapping undone
	flat := strings.Join(strings.Fields(hist), " ")
	flat = strings.ReplaceAll(flat, "/ ", "/")
	for _, want := range []string{"Summary:", "Done. Every step verified.", "EXIT=0", "sb/answers.yaml --yes",
		"back to TLS level 2 when ready", "change record written to "} {
		if !strings.Contains(flat, want) {
			t.Errorf("the rollback screen lacks %q:\n%s", want, hist)
		}
	}
	for _, l := range strings.Split(hist, "\n") {
		if strings.HasSuffix(l, "…") {
			t.Errorf("a cut line: %q", l)
		}
	}
	b, err := os.ReadFile(rep)
	if err != nil {
		t.Fatalf("no change record: %v", err)
	}
	for _, want := range []string{"| Outcome | done and verified |", "### agent1 (verified)", "### agent2 (verified)", "heartbeat without TLS"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the record lacks %q:\n%s", want, b)
		}
	}
}

// waitLong waits (bounded, 2 minutes) until the screen shows want.
func waitLong(t *testing.T, s *tmuxSession, want string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		scr := s.screen()
		if strings.Contains(scr, want) {
			return scr
		}
		if time.Now().After(deadline) {
			t.Fatalf("the screen never showed %q:\n%s", want, s.history())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
