package saml

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadState: the rollback record is read back from disk, where
// anything may have been written; reading never panics and what it
// accepts is a version 1 record.
func FuzzReadState(f *testing.F) {
	f.Add([]byte(`{"version":1,"settings":[{"name":"a","displayName":"A","old":""}],"createdMappings":[{"uuid":"u","type":"SAML_ATTRIBUTE","name":"x"}]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`[]`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "state.json")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := readState(p)
		if err == nil && (s == nil || s.Version != 1) {
			t.Fatalf("accepted %q as %+v", b, s)
		}
	})
}
