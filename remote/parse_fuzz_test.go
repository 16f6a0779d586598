package remote

import (
	"context"
	"io"
	"os/exec"
	"testing"
)

// FuzzParseBatch: whatever a (possibly hostile) host prints, the batch
// output parser neither panics nor reports a command that is not in the
// batch.
func FuzzParseBatch(f *testing.F) {
	f.Add([]byte("@cmtls changed 0\n@cmtls backup 0\n@cmtls begin restart\nok\n@cmtls end restart 0\n"))
	f.Add([]byte("@cmtls begin restart\n\n@cmtls end restart x\n"))
	f.Add([]byte("@cmtls changed 9\n"))
	f.Add([]byte("@cmtls begin nope\n"))
	b := &Batch{Files: []FileWrite{{Path: "/a"}}, Commands: []BatchCommand{{Name: "restart"}, {Name: "check"}}}
	f.Fuzz(func(t *testing.T, out []byte) {
		res, _ := parseBatch(b, out)
		if res == nil || len(res.Files) != 1 || len(res.Commands) != 2 {
			t.Fatalf("result shape %+v", res)
		}
		if res.Commands[0].Name != "restart" || res.Commands[1].Name != "check" {
			t.Fatalf("names %+v", res.Commands)
		}
	})
}

func FuzzParseStat(f *testing.F) {
	f.Add("81a4 0 0 8133 root root")
	f.Add("41ed 1000 1000 4096 a b")
	f.Add("zz 0 0 0 r r")
	f.Fuzz(func(t *testing.T, line string) {
		fi, err := parseStat(line)
		if err == nil && !fi.Exists {
			t.Fatalf("%q: %+v", line, fi)
		}
	})
}

// TestQuote: a quoted word reaches the command as it was, whatever it holds.
func TestQuote(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "with space", "it's", `"dq"`, "$HOME", "`id`", "a\nb", "*?[x]", "-n", "\\", "ü∂", "'\\''"} {
		out, err := exec.Command("/bin/sh", "-c", "printf %s "+Quote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("Quote(%q) -> %q (%v)", s, out, err)
		}
	}
}

// outHost answers every command with fixed output (a host that lies).
type outHost struct{ out []byte }

func (h outHost) Name() string { return "fuzz" }
func (h outHost) Run(context.Context, string, io.Reader) (*Result, error) {
	return &Result{Stdout: h.out}, nil
}
func (h outHost) ReadFile(context.Context, string) ([]byte, error) { return nil, nil }
func (h outHost) Stat(context.Context, string) (FileInfo, error)   { return FileInfo{}, nil }
func (h outHost) PutFile(context.Context, string, []byte, PutOptions) (PutResult, error) {
	return PutResult{}, nil
}
func (h outHost) Close() error { return nil }

// FuzzRead: Read's framing never panics and never hands back more bytes
// than the host sent.
func FuzzRead(f *testing.F) {
	f.Add([]byte("@cmtls exists 1 0 1\n81a4 0 0 3 root root\n81a4 0 0 5 root root\nabc\n@cmtls eof\n"))
	f.Add([]byte("@cmtls exists 1 0 1\n81a4 0 0 99 root root\n"))
	f.Add([]byte("@cmtls exists 0 0 0\n\n@cmtls eof\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		files, err := Read(context.Background(), outHost{out}, ReadSpec{Path: "/a"}, ReadSpec{Path: "/b"}, ReadSpec{Path: "/c", StatOnly: true})
		if err != nil {
			return
		}
		n := 0
		for _, fd := range files {
			n += len(fd.Data)
		}
		if n > len(out) {
			t.Fatalf("%d bytes from %d", n, len(out))
		}
	})
}

// FuzzParseJournal: a journal (a file on a host anyone with root there can
// edit) never panics the parser, and what it accepts is well formed.
func FuzzParseJournal(f *testing.F) {
	sum := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	f.Add([]byte("v1\tchange\t2026-01-02T03:04:05Z\trun-1\t-\t" + sum + "\t/etc/cmf\t-\n"))
	f.Add([]byte("v1\tchange\t2026-01-02T03:04:05Z\trun-1\t" + sum + "\t" + sum + "\t-\t/a.bak\nv1\trestore\t2026-01-02T03:04:06Z\tr2\t" + sum + "\t-\t-\t-\n"))
	f.Add([]byte("v1\trestore\tx\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := ParseJournal(b)
		if err != nil {
			return
		}
		for _, e := range es {
			if !validRunID(e.RunID) || (!e.Restore && e.Written == "") {
				t.Fatalf("accepted %+v", e)
			}
		}
		_, _ = Outstanding(es)
	})
}
