package cmd

import (
	"context"
	"os"
	"strings"
	"testing"
)

// Without --answers and CMTLS_SANDBOX_DIR, status reads the wizard's
// ./cmtls-answers.yaml, and with none there it is a usage error naming
// --answers, exit 2.
func TestStatusDefaultAnswers(t *testing.T) {
	t.Chdir(t.TempDir())
	f, out, errOut := testFactory(nil)
	if code := Run(context.Background(), f, []string{"status"}); code != 2 ||
		!strings.Contains(errOut.String(), "--answers") || !strings.Contains(errOut.String(), "cmtls-answers.yaml") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q", out)
	}
	// a file that is there is read: its own mistake is reported, with its line
	if err := os.WriteFile("cmtls-answers.yaml", []byte("version: 1\nserver:\n  host: cm1.example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, _, errOut = testFactory(nil)
	code := Run(context.Background(), f, []string{"status"})
	if code != 2 || strings.Contains(errOut.String(), "status needs --answers") ||
		!strings.Contains(errOut.String(), "reading cmtls-answers.yaml") || !strings.Contains(errOut.String(), "server.api") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	// the sandbox's file comes first
	f, _, errOut = testFactory(map[string]string{"CMTLS_SANDBOX_DIR": t.TempDir()})
	if code := Run(context.Background(), f, []string{"status"}); code != 2 || strings.Contains(errOut.String(), "reading cmtls-answers.yaml") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
