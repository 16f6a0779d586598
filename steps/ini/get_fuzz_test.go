package ini

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzGet: the reader never panics on any input, and whenever the reader
// accepts a file and Set edits it without a warning, the agent's reader (Get, ini.v1 as the agent
// reads it) sees exactly the values Set wrote. A disagreement means cmtls
// would report TLS on while the agent still reads the old value.
func FuzzGet(f *testing.F) {
	files, _ := filepath.Glob("../../testdata/config.ini/*.ini")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, "/etc/cmf/server.pem")
		}
	}
	f.Add([]byte("[Security]\nuse_tls=0\n  more\n[General]\n"), "/a b")
	f.Add([]byte("[security]\nUSE_TLS : 0\n[Security]\n# verify_cert_file=\n"), "x#y")
	f.Add([]byte("key=1\n[Security] trailing\nuse_tls=0\n"), "v")
	f.Add([]byte(""), "x")
	f.Add([]byte("[Security]\nverify_cert_file='/old.pem'\n"), `"/quoted.pem"`)
	f.Add([]byte("[Security]\n"), `C:\pem\`)
	f.Fuzz(func(t *testing.T, src []byte, value string) {
		_, _, _ = Get(src, "Security", "use_tls")
		_ = HasSection(src, "Security")
		if _, err := Load(src); err != nil {
			return // the agent cannot read it before the edit either
		}
		if strings.Contains(string(src), "`") || strings.Contains(string(src), `"""`) {
			// ini.v1 reads a key or value opened by ` or """ up to its
			// closing quote, over lines Set adds after it; configparser has
			// no such quoting and no agent file uses it
			return
		}
		for _, l := range strings.Split(string(src), "\n") {
			if l = strings.TrimSpace(l); strings.HasPrefix(l, `"`) {
				return // a quoted key: the same, and configparser refuses it
			}
		}
		kv := []KV{{Key: "use_tls", Value: "1"}, {Key: "verify_cert_file", Value: value}}
		out, _, warns, err := Set(src, "Security", kv)
		if err != nil || len(warns) > 0 {
			return
		}
		if _, err := Load(out); err != nil {
			t.Fatalf("Set wrote what the reader refuses: %v\n%q", err, out)
		}
		for _, want := range kv {
			got, ok, err := Get(out, "Security", want.Key)
			if err != nil || !ok || got != want.Value {
				t.Fatalf("after Set %s=%q the reader sees %q (ok=%v, err=%v)\nin:  %q\nout: %q", want.Key, want.Value, got, ok, err, src, out)
			}
		}
	})
}
