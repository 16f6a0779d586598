package remote

import (
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
