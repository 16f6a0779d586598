package conf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type sample struct {
	Port int    `yaml:"port"`
	Name string `yaml:"name"`
}

func TestReadDecode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.yaml")
	if err := os.WriteFile(p, []byte("port: 7\nname: a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	abs, b, err := Read(p, "x config")
	if err != nil || abs != p {
		t.Fatalf("%v %q", err, abs)
	}
	var s sample
	if err := Decode(b, abs, "x config", &s); err != nil || s.Port != 7 || s.Name != "a" {
		t.Fatalf("%v %+v", err, s)
	}
	var empty sample
	if err := Decode(nil, abs, "x config", &empty); err != nil {
		t.Fatalf("empty file: %v", err)
	}
	for _, bad := range []string{"prot: 7\n", "port: seven\n", "port: 1\nport: 2\n"} {
		if err := Decode([]byte(bad), abs, "x config", &sample{}); err == nil || !strings.Contains(err.Error(), "x config "+abs+": ") || !strings.Contains(err.Error(), "line ") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, _, err := Read(filepath.Join(dir, "missing.yaml"), "x config"); err == nil || !strings.HasPrefix(err.Error(), "x config: ") {
		t.Fatalf("missing file: %v", err)
	}
}
