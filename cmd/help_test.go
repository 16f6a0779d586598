package cmd

import (
	"context"
	"strings"
	"testing"
)

// The commands a user starts with explain themselves: a one-line Short, a
// Long, and examples in --help.
func TestHelpTexts(t *testing.T) {
	f, _, _ := testFactory(nil)
	root := NewRootCmd(f)
	for _, path := range [][]string{{"init"}, {"status"}, {"rollback"}, {"saml", "configure"}} {
		c, _, err := root.Find(path)
		if err != nil || c == root {
			t.Fatalf("%v: %v", path, err)
		}
		name := strings.Join(path, " ")
		if c.Short == "" || strings.Contains(c.Short, "\n") {
			t.Errorf("%s: Short %q is not one line", name, c.Short)
		}
		if len(c.Long) < 100 || c.Example == "" {
			t.Errorf("%s: Long %d chars, Example %q", name, len(c.Long), c.Example)
		}
		hf, out, _ := testFactory(nil)
		if code := Run(context.Background(), hf, append(path, "--help")); code != 0 || !strings.Contains(out.String(), "Examples:") ||
			!strings.Contains(out.String(), "cmtls "+name) {
			t.Errorf("%s --help: exit %d\n%s", name, code, out)
		}
	}
}

// `cmtls daemon server --help` reads like a service script's actions, not
// "status the server".
func TestDaemonActionHelp(t *testing.T) {
	f, out, _ := testFactory(nil)
	if code := Run(context.Background(), f, []string{"daemon", "server", "--help"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"exit 0 when the server runs, else 1", "run the server in the foreground", "start the server in the background"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("daemon server --help lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out.String(), "status the server") {
		t.Errorf("daemon server --help:\n%s", out)
	}
}
