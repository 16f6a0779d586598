package cmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An agents-only answers file (the one for agents push) given to rollback
// is refused as bad input naming what rollback needs; it is not taken for
// the TLS file meant for saml configure.
func TestRollbackAgentsOnlyAnswers(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "push.yaml")
	if err := os.WriteFile(p, []byte("version: 1\nagents:\n  hosts: [a1]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, _, errOut := testFactory(nil)
	code := Run(context.Background(), f, []string{"rollback", "--answers", p, "--yes"})
	if code != 2 || !strings.Contains(errOut.String(), "server") || strings.Contains(strings.ToLower(errOut.String()), "saml") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
}
