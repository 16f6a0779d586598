package remote_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/remotetest"
)

// cutHost passes only the first n bytes of every command's stdin, as a
// connection that drops in the middle of a transfer would.
type cutHost struct {
	remote.Host
	n int64
}

func (c cutHost) Run(ctx context.Context, cmd string, stdin io.Reader) (*remote.Result, error) {
	if stdin != nil {
		stdin = io.LimitReader(stdin, c.n)
	}
	return c.Host.Run(ctx, cmd, stdin)
}

func TestCutOffInputReplacesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.pem"), filepath.Join(dir, "config.ini")
	for _, p := range []string{a, b} {
		if err := os.WriteFile(p, []byte("old "+p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	newA, newB := bytes.Repeat([]byte("A"), 5000), bytes.Repeat([]byte("B"), 5000)
	for _, n := range []int64{0, 100, 4999, 5000, 5001, 9000, 10020} {
		h := cutHost{remote.NewLocal("cut"), n}
		_, err := remote.RunBatch(ctx(t), h, &remote.Batch{Files: []remote.FileWrite{{Path: a, Data: newA}, {Path: b, Data: newB}},
			Commands: []remote.BatchCommand{{Name: "restart", Cmd: "touch " + remote.Quote(filepath.Join(dir, "restarted"))}}})
		if err == nil || !strings.Contains(err.Error(), "nothing replaced") {
			t.Fatalf("cut at %d: err = %v", n, err)
		}
		for _, p := range []string{a, b} {
			if got, _ := os.ReadFile(p); string(got) != "old "+p {
				t.Fatalf("cut at %d: %s was touched", n, p)
			}
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 2 {
			t.Fatalf("cut at %d: files left: %v", n, ents)
		}
	}
}

func TestReadOnlyAndFullDisk(t *testing.T) {
	t.Parallel()
	remotetest.RequireSSHD(t)
	base := t.TempDir()
	ro, full := filepath.Join(base, "ro"), filepath.Join(base, "full")
	for _, d := range []string{ro, full} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	key := remotetest.NewKey(t, "", "id", nil)
	s := remotetest.StartSSHD(t, remotetest.SSHDOptions{AuthorizedKeys: []sshPub{key.Public()},
		Tmpfs: []remotetest.Tmpfs{{Path: ro, Opts: "size=64k"}, {Path: full, Opts: "size=16k"}}})
	view := func(p string) string { return filepath.Join(s.Root(), p) }
	old := bytes.Repeat([]byte("o"), 4000)
	for _, d := range []string{ro, full} {
		if err := os.WriteFile(view(filepath.Join(d, "config.ini")), old, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// fill the small file system up
	_ = os.WriteFile(view(filepath.Join(full, "filler")), bytes.Repeat([]byte("f"), 64<<10), 0o644)
	h := dialTo(t, s.Addr, s.HostKey, key, remote.Options{})
	defer h.Close()
	if res, err := h.Run(ctx(t), "mount -o remount,ro "+remote.Quote(ro), nil); err != nil || res.Code != 0 {
		t.Fatalf("remount ro: %v %v", res, err)
	}
	for _, d := range []string{ro, full} {
		p := filepath.Join(d, "config.ini")
		_, err := h.PutFile(ctx(t), p, bytes.Repeat([]byte("n"), 6000), remote.PutOptions{Backup: true})
		if err == nil {
			t.Fatalf("%s: write worked", d)
		}
		t.Logf("%s: %v", filepath.Base(d), err)
		if got, _ := os.ReadFile(view(p)); !bytes.Equal(got, old) {
			t.Fatalf("%s: config.ini changed", d)
		}
		ents, _ := os.ReadDir(view(d))
		for _, e := range ents {
			if strings.Contains(e.Name(), ".cmtls") {
				t.Fatalf("%s: left behind %s", d, e.Name())
			}
		}
	}
}

// TestDroppedBetweenReadAndWrite: the connection dies after the read of a
// chained plan; the write reports the error and changes nothing.
func TestDroppedBetweenReadAndWrite(t *testing.T) {
	t.Parallel()
	key := remotetest.NewKey(t, "", "id", nil)
	srv := remotetest.NewServer(t, remotetest.ServerOptions{AuthorizedKeys: []sshPub{key.Public()}})
	h := dialTo(t, srv.Addr, srv.HostKey, key, remote.Options{})
	defer h.Close()
	p := filepath.Join(t.TempDir(), "config.ini")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, next, err := remote.ReadNext(ctx(t), h, remote.ReadSpec{Path: p})
	if err != nil || next == nil {
		t.Fatalf("read: %v %v", next, err)
	}
	srv.DropAll()
	if _, err := remote.RunBatchNext(ctx(t), h, next, &remote.Batch{Files: []remote.FileWrite{{Path: p, Data: []byte("new")}}}); err == nil {
		t.Fatal("write over a dropped connection reported success")
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatalf("content %q", b)
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
}
