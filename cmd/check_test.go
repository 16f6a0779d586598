package cmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseDays(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "0.5d": 12 * time.Hour, "12h": 12 * time.Hour, "90m": 90 * time.Minute, "0d": 0} {
		if got, err := parseDays(in); err != nil || got != want {
			t.Errorf("parseDays(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "soon", "-3d", "d", "5x"} {
		if _, err := parseDays(in); err == nil {
			t.Errorf("parseDays(%q) accepted", in)
		}
	}
}

// The textfile replaces the old one whole, readable by the collector, with
// no temporary file left beside it.
func TestWriteTextfile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cmtls.prom")
	if err := os.WriteFile(p, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeTextfile(p, []byte("cmtls_check_status 0\n")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "cmtls_check_status 0\n" {
		t.Fatalf("%q %v", b, err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st.Mode())
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".cmtls-check-*")); len(m) != 0 {
		t.Errorf("left behind: %v", m)
	}
	if err := writeTextfile(filepath.Join(dir, "nodir", "x.prom"), nil); err == nil {
		t.Error("a missing directory was accepted")
	}
}

// A bad flag is UNKNOWN (3) with the status line, not the contract's 2,
// which a monitoring system reads as CRITICAL.
func TestCheckBadFlagIsUnknown(t *testing.T) {
	f, out, errOut := testFactory(nil)
	code := Run(context.Background(), f, []string{"check", "--nosuch"})
	if code != 3 || !strings.HasPrefix(out.String(), "CMTLS UNKNOWN - ") || errOut.Len() != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// FuzzParseDays: no panic, and what parses is never negative.
func FuzzParseDays(f *testing.F) {
	for _, s := range []string{"30d", "7d", "12h", "0.5d", "-1d", "1e308d", "NaNd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := parseDays(s); err == nil && d < 0 {
			t.Fatalf("parseDays(%q) = %v", s, d)
		}
	})
}
