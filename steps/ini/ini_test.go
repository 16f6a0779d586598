package ini

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var level2 = []KV{{Key: "use_tls", Value: "1"}, {Key: "verify_cert_file", Value: "/etc/cmf/server.pem"}}

func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../testdata/config.ini", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// changedLines lists the lines of a that differ in b, for files with the
// same number of lines.
func lines(b []byte) []string { return strings.SplitAfter(string(b), "\n") }

func TestSet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		src      string
		kv       []KV
		want     string
		warnings int
	}{
		{name: "replace active and uncomment placeholder",
			src:  "[General]\nserver_host=cm\n\n[Security]\nuse_tls=0\n# verify_cert_file=\n\n[Hadoop]\n",
			kv:   level2,
			want: "[General]\nserver_host=cm\n\n[Security]\nuse_tls=1\nverify_cert_file=/etc/cmf/server.pem\n\n[Hadoop]\n"},
		{name: "uncomment without space (Hadoop style)",
			src:  "[Security]\n#verify_cert_file=/old\n",
			kv:   level2[1:],
			want: "[Security]\nverify_cert_file=/etc/cmf/server.pem\n"},
		{name: "semicolon comment",
			src:  "[Security]\n; verify_cert_file=\n",
			kv:   level2[1:],
			want: "[Security]\nverify_cert_file=/etc/cmf/server.pem\n"},
		{name: "only the first commented line is used",
			src:  "[Security]\n# verify_cert_file=/a\n# verify_cert_file=/b\n",
			kv:   level2[1:],
			want: "[Security]\nverify_cert_file=/etc/cmf/server.pem\n# verify_cert_file=/b\n"},
		{name: "active wins over commented",
			src:  "[Security]\n# verify_cert_file=\nverify_cert_file=/x\n",
			kv:   level2[1:],
			want: "[Security]\n# verify_cert_file=\nverify_cert_file=/etc/cmf/server.pem\n"},
		{name: "keys are case-insensitive, spacing kept",
			src:  "[Security]\nUSE_TLS  =  0\n",
			kv:   level2[:1],
			want: "[Security]\nUSE_TLS  =  1\n"},
		{name: "colon delimiter",
			src:  "[Security]\nuse_tls: 0\n",
			kv:   level2[:1],
			want: "[Security]\nuse_tls: 1\n"},
		{name: "insert after last non-blank line, before next section's comment",
			src:  "[Security]\nmax_cert_depth=9\n\n## Hadoop files\n[Hadoop]\n",
			kv:   level2[:1],
			want: "[Security]\nmax_cert_depth=9\nuse_tls=1\n\n## Hadoop files\n[Hadoop]\n"},
		{name: "insert into a section with only a header",
			src:  "[Security]\n[Hadoop]\n",
			kv:   level2[:1],
			want: "[Security]\nuse_tls=1\n[Hadoop]\n"},
		{name: "append missing section",
			src:  "[General]\nserver_host=cm\n",
			kv:   level2,
			want: "[General]\nserver_host=cm\n\n[Security]\nuse_tls=1\nverify_cert_file=/etc/cmf/server.pem\n"},
		{name: "append section to a file without final newline keeps it missing",
			src:  "[General]\nserver_host=cm",
			kv:   level2[:1],
			want: "[General]\nserver_host=cm\n\n[Security]\nuse_tls=1"},
		{name: "insert at end without final newline",
			src:  "[Security]\nmax_cert_depth=9",
			kv:   level2[:1],
			want: "[Security]\nmax_cert_depth=9\nuse_tls=1"},
		{name: "replace last line without final newline",
			src:  "[Security]\nuse_tls=0",
			kv:   level2[:1],
			want: "[Security]\nuse_tls=1"},
		{name: "CRLF kept, inserted lines CRLF too",
			src:  "[Security]\r\nuse_tls=0\r\n",
			kv:   level2,
			want: "[Security]\r\nuse_tls=1\r\nverify_cert_file=/etc/cmf/server.pem\r\n"},
		{name: "inline hash is part of the value",
			src:  "[Security]\nverify_cert_file=/etc/cmf/server.pem # not a comment\n",
			kv:   level2[1:],
			want: "[Security]\nverify_cert_file=/etc/cmf/server.pem\n"},
		{name: "duplicates are all set and warned about",
			src:      "[Security]\nuse_tls=0\nuse_tls=0\n",
			kv:       level2[:1],
			want:     "[Security]\nuse_tls=1\nuse_tls=1\n",
			warnings: 1},
		{name: "duplicate section warned",
			src:      "[Security]\nuse_tls=0\n[Security]\nmax_cert_depth=9\n",
			kv:       level2[:1],
			want:     "[Security]\nuse_tls=1\n[Security]\nmax_cert_depth=9\n",
			warnings: 1},
		{name: "other sections untouched",
			src:  "[General]\nuse_tls=0\n[Security]\n",
			kv:   level2[:1],
			want: "[General]\nuse_tls=0\n[Security]\nuse_tls=1\n"},
		{name: "section names are case-sensitive like configparser",
			src:  "[security]\nuse_tls=0\n",
			kv:   level2[:1],
			want: "[security]\nuse_tls=0\n\n[Security]\nuse_tls=1\n"},
		{name: "continuation line is not a key",
			src:      "[Security]\nclient_keypw_cmd=a\n  use_tls=0\n",
			kv:       level2[:1],
			want:     "[Security]\nclient_keypw_cmd=a\n  use_tls=0\nuse_tls=1\n",
			warnings: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, changed, warns, err := Set([]byte(tc.src), "Security", tc.kv)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(out)); diff != "" {
				t.Fatalf("output (-want +got):\n%s", diff)
			}
			if changed != (tc.want != tc.src) {
				t.Fatalf("changed = %v", changed)
			}
			if len(warns) != tc.warnings {
				t.Fatalf("warnings = %q, want %d", warns, tc.warnings)
			}
			// a second run is byte-identical and unchanged
			out2, changed2, _, err := Set(out, "Security", tc.kv)
			if err != nil || changed2 || !bytes.Equal(out, out2) {
				t.Fatalf("second run changed=%v err=%v:\n%s", changed2, err, out2)
			}
			// and reads back as meant
			for _, kv := range tc.kv {
				if v, ok, err := Get(out, "Security", kv.Key); err != nil || !ok || v != kv.Value {
					t.Fatalf("Get(%s) = %q %v %v", kv.Key, v, ok, err)
				}
			}
		})
	}
}

func TestSetBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, section string
		kv            []KV
		src           string
	}{
		{"empty section", "", level2, ""},
		{"bracket in section", "Sec]urity", level2, ""},
		{"empty key", "Security", []KV{{Key: "", Value: "1"}}, ""},
		{"key with equals", "Security", []KV{{Key: "a=b", Value: "1"}}, ""},
		{"key with space", "Security", []KV{{Key: "a b", Value: "1"}}, ""},
		{"value with newline", "Security", []KV{{Key: "a", Value: "1\n[General]"}}, ""},
		{"value with CR", "Security", []KV{{Key: "a", Value: "1\r"}}, ""},
		{"value with surrounding space", "Security", []KV{{Key: "a", Value: " 1"}}, ""},
		{"binary input", "Security", level2, "[Security]\x00\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, _, _, err := Set([]byte(tc.src), tc.section, tc.kv); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// TestSamples edits every odd sample and checks that only the expected
// lines changed.
func TestSamples(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file    string
		changed []string // the new lines, in order
		warns   int
	}{
		{file: "stock.ini", changed: []string{"use_tls=1\n", "verify_cert_file=/etc/cmf/server.pem\n"}},
		{file: "crlf.ini", changed: []string{"use_tls=1\r\n", "verify_cert_file=/etc/cmf/server.pem\r\n"}},
		{file: "no-final-newline.ini", changed: []string{"use_tls=1\n", "verify_cert_file=/etc/cmf/server.pem"}},
		{file: "odd-spacing-duplicates.ini", changed: []string{"  use_tls   =   1\n", "USE_TLS=1\n", "verify_cert_file = /etc/cmf/server.pem\n"}, warns: 1},
		{file: "done.ini"},
		{file: "duplicate-section.ini", changed: []string{"use_tls=1\n", "verify_cert_file=/etc/cmf/server.pem\n", "use_tls=1\n"}, warns: 2},
		{file: "multiline.ini", changed: []string{"use_tls=1\n", "verify_cert_file=/etc/cmf/server.pem\n"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			src := sample(t, tc.file)
			out, changed, warns, err := Set(src, "Security", level2)
			if err != nil {
				t.Fatal(err)
			}
			if changed != (len(tc.changed) > 0) {
				t.Fatalf("changed = %v", changed)
			}
			if len(warns) != tc.warns {
				t.Fatalf("warnings %q", warns)
			}
			// every source line is still there, in order, except the
			// replaced ones; the extra lines are exactly tc.changed
			a, b := lines(src), lines(out)
			var extra []string
			i := 0
			for _, l := range b {
				if i < len(a) && a[i] == l {
					i++
					continue
				}
				if i < len(a) && isEditOf(a[i], l) {
					i++
				}
				extra = append(extra, l)
			}
			if i != len(a) {
				t.Fatalf("source lines lost from line %d: %q", i+1, a[i])
			}
			if diff := cmp.Diff(tc.changed, extra); diff != "" {
				t.Fatalf("changed lines (-want +got):\n%s\n%s", diff, out)
			}
		})
	}
}

// isEditOf: l replaces the source line a (same key).
func isEditOf(a, l string) bool {
	ka, _, okA := splitKey([]byte(strings.TrimLeft(a, "#; \t")))
	kl, _, okL := splitKey([]byte(strings.TrimSpace(l)))
	return okA && okL && ka == kl
}

func TestNoSecuritySectionIsDetected(t *testing.T) {
	t.Parallel()
	if HasSection(sample(t, "no-security.ini"), "Security") {
		t.Fatal("HasSection found a section that is not there")
	}
	if !HasSection(sample(t, "stock.ini"), "Security") {
		t.Fatal("HasSection missed [Security]")
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	src := []byte("[Security]\nverify_cert_file=/a#b\nUSE_TLS = 1\n#x=1\n")
	for _, tc := range []struct {
		key, want string
		ok        bool
	}{{"verify_cert_file", "/a#b", true}, {"use_tls", "1", true}, {"x", "", false}, {"missing", "", false}} {
		v, ok, err := Get(src, "Security", tc.key)
		if err != nil || v != tc.want || ok != tc.ok {
			t.Errorf("Get(%s) = %q, %v, %v", tc.key, v, ok, err)
		}
	}
	if _, ok, _ := Get(src, "General", "use_tls"); ok {
		t.Error("found a key in a missing section")
	}
}

func TestUnset(t *testing.T) {
	t.Parallel()
	src := []byte("[Security]\nuse_tls=1\r\nverify_cert_file=/x\n")
	out, changed, err := Unset(src, "Security", []string{"VERIFY_CERT_FILE"})
	if err != nil || !changed || string(out) != "[Security]\nuse_tls=1\r\n# verify_cert_file=/x\n" {
		t.Fatalf("Unset = %q %v %v", out, changed, err)
	}
	out2, changed2, _ := Unset(out, "Security", []string{"verify_cert_file"})
	if changed2 || !bytes.Equal(out, out2) {
		t.Fatal("second Unset changed the file")
	}
}

// TestSetRefusesInsertAboveIndentedLine: inserting verify_cert_file right
// above an indented line would make configparser read that line as part of
// the new value (found by FuzzGet).
func TestSetRefusesInsertAboveIndentedLine(t *testing.T) {
	src := []byte("[Security]junk\n# a comment\n [General]\n")
	_, _, _, err := Set(src, "Security", []KV{{Key: "verify_cert_file", Value: "/etc/cmf/server.pem"}})
	if !errors.Is(err, ErrIndentedAfter) {
		t.Fatalf("got %v, want ErrIndentedAfter", err)
	}
	// the same file without the indentation is edited
	out, changed, _, err := Set([]byte("[Security]junk\n# a comment\n[General]\n"), "Security", []KV{{Key: "verify_cert_file", Value: "/etc/cmf/server.pem"}})
	if err != nil || !changed || !bytes.Contains(out, []byte("verify_cert_file=/etc/cmf/server.pem\n")) {
		t.Fatalf("%v %q", err, out)
	}
}
