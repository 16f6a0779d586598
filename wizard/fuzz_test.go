package wizard

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/cmtls/cmtls/steps/answers"
)

// FuzzTypedAnswer: whatever the wizard accepts for a typed question is
// accepted headless too, after a trip through the answers file it saves
// (YAML quoting, secrets as references): the wizard never takes an answer
// that a headless re-run would refuse.
func FuzzTypedAnswer(f *testing.F) {
	for _, s := range []string{"cm1.example.com", "bad host", "70000", "22", "/etc/x.pem", "etc/x", "a: b # c", "'\"", "- x",
		"120s", "-1", "0", "1e3", "{env: X}", "a1.example.com\na2.example.com", "a1, a1", "ü.example.com", "null", "~", "RSA"} {
		f.Add(uint8(0), s) // server.host
	}
	// Every question once, with answers of its own shape.
	w := NewInitForm(&answers.File{Version: 1}, Discovered{}, Options{})
	for i, q := range w.qs {
		f.Add(uint8(i), sample[q.path])
		f.Add(uint8(i), "x y")
	}
	f.Fuzz(func(t *testing.T, idx uint8, v string) {
		empty := &answers.File{Version: 1}
		w := NewInitForm(empty, Discovered{}, Options{})
		i := int(idx) % len(w.qs)
		q := w.qs[i]
		if q.kind == kindSelect || q.kind == kindConfirm {
			return
		}
		if err := w.validator(i, false)(v); err != nil {
			return
		}
		base, err := answers.Parse("full.yaml", []byte(full))
		if err != nil {
			t.Fatal(err)
		}
		q.val = v
		if err := q.set(base, q.value()); err != nil {
			if q.optional && q.value() == "" {
				return
			}
			t.Fatalf("%s: the validator accepted %q but set refused it: %v", q.path, v, err)
		}
		base.ApplyDefaults()
		if err := matchErr(base.ValidateInit(), q.match); err != nil {
			t.Fatalf("%s: the wizard accepted %q, headless refuses it: %v", q.path, v, err)
		}
		p := filepath.Join(t.TempDir(), "a.yaml")
		if err := SaveAnswers(base, p); err != nil {
			t.Fatalf("%s=%q: save: %v", q.path, v, err)
		}
		back, err := answers.Load(p)
		if err != nil {
			t.Fatalf("%s=%q: the saved file does not load: %v", q.path, v, err)
		}
		back.ApplyDefaults()
		if err := matchErr(back.ValidateInit(), q.match); err != nil {
			var ae *answers.Error
			if !errors.As(err, &ae) {
				t.Fatalf("%s=%q: after a save and load: %v", q.path, v, err)
			}
		}
	})
}

// FuzzParseHostLines: host lines give hosts with names and valid ports, or
// an error; never a panic; bare names round-trip.
func FuzzParseHostLines(f *testing.F) {
	for _, s := range []string{"a1, a2\na3 port=2222 user=ops", `a restart_command="x y" config_path=/c`, "a port", "a \"", "=x", "a b=c=d", "\n\n a1 \t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		hs, err := parseHostLines(v)
		if err != nil {
			return
		}
		for _, h := range hs {
			if h.Name == "" || h.Port < 0 || h.Port > 65535 {
				t.Fatalf("%q: host %+v", v, h)
			}
		}
	})
}
