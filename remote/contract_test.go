package remote_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/remotetest"
)

// hostKinds are the Host implementations every contract test runs against.
var hostKinds = []struct {
	name string
	open func(t *testing.T) remote.Host
}{
	{"local", func(t *testing.T) remote.Host { return remote.NewLocal("local") }},
	{"inproc", func(t *testing.T) remote.Host {
		key := remotetest.NewKey(t, "", "id_ed25519", nil)
		srv := remotetest.NewServer(t, remotetest.ServerOptions{AuthorizedKeys: []sshPub{key.Public()}})
		return dialTo(t, srv.Addr, srv.HostKey, key, remote.Options{})
	}},
	{"sshd", func(t *testing.T) remote.Host {
		key := remotetest.NewKey(t, "", "id_ed25519", nil)
		s := remotetest.StartSSHD(t, remotetest.SSHDOptions{AuthorizedKeys: []sshPub{key.Public()}})
		return dialTo(t, s.Addr, s.HostKey, key, remote.Options{})
	}},
}

func forEachHost(t *testing.T, fn func(t *testing.T, h remote.Host)) {
	t.Helper()
	for _, k := range hostKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			h := k.open(t)
			t.Cleanup(func() { _ = h.Close() })
			fn(t, h)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestContractRun(t *testing.T) {
	t.Parallel()
	forEachHost(t, func(t *testing.T, h remote.Host) {
		res, err := h.Run(ctx(t), "echo out; echo err >&2; exit 3", nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Code != 3 || string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" {
			t.Fatalf("res = %d %q %q", res.Code, res.Stdout, res.Stderr)
		}
		big := bytes.Repeat([]byte("0123456789abcdef\x00\xff"), 1<<15) // binary, 576 KiB
		res, err = h.Run(ctx(t), "cat", bytes.NewReader(big))
		if err != nil || res.Code != 0 || !bytes.Equal(res.Stdout, big) {
			t.Fatalf("stdin round trip: err=%v code=%d len=%d", err, res.Code, len(res.Stdout))
		}
		// a command that reads none of its input still returns
		res, err = h.Run(ctx(t), "exit 0", bytes.NewReader(big))
		if err != nil || res.Code != 0 {
			t.Fatalf("unread stdin: %v %v", res, err)
		}
	})
}

func TestContractCancel(t *testing.T) {
	t.Parallel()
	forEachHost(t, func(t *testing.T, h remote.Host) {
		c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := h.Run(c, "sleep 30", nil)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
			t.Fatalf("err = %v after %s", err, time.Since(start))
		}
		// the connection is still usable
		if res, err := h.Run(ctx(t), "echo ok", nil); err != nil || string(res.Stdout) != "ok\n" {
			t.Fatalf("after cancel: %v %v", res, err)
		}
	})
}

func TestContractFiles(t *testing.T) {
	t.Parallel()
	forEachHost(t, func(t *testing.T, h remote.Host) {
		dir := t.TempDir()
		p := filepath.Join(dir, "sub dir", "it's.ini") // spaces and quotes in paths
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		c := ctx(t)
		// missing
		if _, err := h.ReadFile(c, p); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("ReadFile missing: %v", err)
		}
		if fi, err := h.Stat(c, p); err != nil || fi.Exists {
			t.Fatalf("Stat missing: %+v %v", fi, err)
		}
		if _, err := h.ReadFile(c, dir); !errors.Is(err, remote.ErrNotRegular) {
			t.Fatalf("ReadFile dir: %v", err)
		}
		// new file: 0644 by default
		r, err := h.PutFile(c, p, []byte("one\n"), remote.PutOptions{Backup: true})
		if err != nil || !r.Changed || r.BackupPath != "" {
			t.Fatalf("put new: %+v %v", r, err)
		}
		fi, err := h.Stat(c, p)
		if err != nil || !fi.Exists || fi.Mode != 0o644 || fi.Size != 4 || fi.UID != os.Getuid() {
			t.Fatalf("stat new: %+v %v", fi, err)
		}
		// replace keeps the mode; the backup has the old bytes and mode
		if err := os.Chmod(p, 0o640); err != nil {
			t.Fatal(err)
		}
		before := inode(t, p)
		r, err = h.PutFile(c, p, []byte("two\r\n"), remote.PutOptions{Backup: true})
		if err != nil || !r.Changed || r.BackupPath == "" {
			t.Fatalf("put replace: %+v %v", r, err)
		}
		if b, _ := os.ReadFile(p); string(b) != "two\r\n" {
			t.Fatalf("content %q", b)
		}
		if st, _ := os.Stat(p); st.Mode() != 0o640 {
			t.Fatalf("mode not kept: %v", st.Mode())
		}
		if inode(t, p) == before {
			t.Fatal("replaced in place, not by rename")
		}
		if b, _ := os.ReadFile(r.BackupPath); string(b) != "one\n" {
			t.Fatalf("backup %q", b)
		}
		if got, err := h.ReadFile(c, p); err != nil || string(got) != "two\r\n" {
			t.Fatalf("ReadFile: %q %v", got, err)
		}
		// same bytes: nothing written
		ino := inode(t, p)
		r, err = h.PutFile(c, p, []byte("two\r\n"), remote.PutOptions{Backup: true})
		if err != nil || r.Changed || r.BackupPath != "" || inode(t, p) != ino {
			t.Fatalf("put same: %+v %v", r, err)
		}
		// explicit mode
		if _, err := h.PutFile(c, p, []byte("three"), remote.PutOptions{Mode: 0o600}); err != nil {
			t.Fatal(err)
		}
		if st, _ := os.Stat(p); st.Mode() != 0o600 {
			t.Fatalf("explicit mode: %v", st.Mode())
		}
		// no temp files left behind
		ents, _ := os.ReadDir(filepath.Dir(p))
		for _, e := range ents {
			if strings.Contains(e.Name(), ".cmtls.") && !strings.HasSuffix(e.Name(), ".bak") {
				t.Fatalf("left behind: %s", e.Name())
			}
		}
		// a directory in the way is refused
		if _, err := h.PutFile(c, dir, []byte("x"), remote.PutOptions{}); err == nil {
			t.Fatal("PutFile over a directory worked")
		}
		// a missing parent directory is an error, not created
		if _, err := h.PutFile(c, filepath.Join(dir, "nope", "x"), []byte("x"), remote.PutOptions{}); err == nil {
			t.Fatal("PutFile into a missing directory worked")
		}
	})
}

func TestContractReadNext(t *testing.T) {
	t.Parallel()
	forEachHost(t, func(t *testing.T, h remote.Host) {
		dir := t.TempDir()
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		if err := os.WriteFile(a, []byte("AAA"), 0o600); err != nil {
			t.Fatal(err)
		}
		c := ctx(t)
		files, next, err := remote.ReadNext(c, h, remote.ReadSpec{Path: a}, remote.ReadSpec{Path: b}, remote.ReadSpec{Path: a, StatOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if string(files[0].Data) != "AAA" || files[0].Info.Mode != 0o600 || files[1].Info.Exists || files[2].Data != nil || files[2].Info.Size != 3 {
			t.Fatalf("files = %+v", files)
		}
		res, err := remote.RunBatchNext(c, h, next, &remote.Batch{
			Files:    []remote.FileWrite{{Path: b, Data: []byte("BBB")}, {Path: a, Data: []byte("A2"), BackupPath: a + ".bak"}},
			Commands: []remote.BatchCommand{{Name: "show", Cmd: "cat " + remote.Quote(b) + "; echo; exit 4"}, {Name: "skipped", Cmd: "true", OnlyIfChanged: false}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Files[0].Changed || !res.Files[1].Changed || res.Files[1].BackupPath != a+".bak" {
			t.Fatalf("files %+v", res.Files)
		}
		if c := res.Commands[0]; !c.Ran || c.Code != 4 || string(c.Output) != "BBB\n" {
			t.Fatalf("command %+v (%q)", c, c.Output)
		}
		if got, _ := os.ReadFile(a); string(got) != "A2" {
			t.Fatalf("a = %q", got)
		}
		if got, _ := os.ReadFile(a + ".bak"); string(got) != "AAA" {
			t.Fatalf("a.bak = %q", got)
		}
		if st, _ := os.Stat(a); st.Mode() != 0o600 {
			t.Fatalf("mode of a: %v", st.Mode())
		}
		// the connection is still good for more
		if res, err := h.Run(c, "echo ok", nil); err != nil || string(res.Stdout) != "ok\n" {
			t.Fatalf("after chain: %v %v", res, err)
		}
	})
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

func TestContractReadRefusesSymlinks(t *testing.T) {
	t.Parallel()
	forEachHost(t, func(t *testing.T, h remote.Host) {
		dir := t.TempDir()
		real := filepath.Join(dir, "real.ini")
		link := filepath.Join(dir, "config.ini")
		if err := os.WriteFile(real, []byte("[Security]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(real, link); err != nil {
			t.Fatal(err)
		}
		_, err := remote.Read(ctx(t), h, remote.ReadSpec{Path: link})
		if !errors.Is(err, remote.ErrSymlink) || !strings.Contains(err.Error(), real) {
			t.Fatalf("err = %v", err)
		}
		if _, err := h.PutFile(ctx(t), link, []byte("x"), remote.PutOptions{}); err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Fatalf("PutFile over a link: %v", err)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatal("the link was replaced")
		}
		if _, err := remote.Read(ctx(t), h, remote.ReadSpec{Path: dir}); !errors.Is(err, remote.ErrNotRegular) {
			t.Fatalf("dir: %v", err)
		}
	})
}

// TestReadNextReleasedByOtherCommands: plans that are never applied do not
// pile up waiting sessions (sshd allows 10 per connection by default), and
// a write after other commands still works, in a session of its own.
func TestReadNextReleasedByOtherCommands(t *testing.T) {
	t.Parallel()
	forEachHost(t, func(t *testing.T, h remote.Host) {
		p := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		c := ctx(t)
		var next *remote.Next
		for i := 0; i < 25; i++ { // more than sshd's MaxSessions
			var err error
			_, next, err = remote.ReadNext(c, h, remote.ReadSpec{Path: p})
			if err != nil {
				t.Fatalf("read %d: %v", i, err)
			}
		}
		if _, err := h.Run(c, "true", nil); err != nil {
			t.Fatal(err)
		}
		if next.Alive() {
			t.Fatal("the waiting shell survived another command")
		}
		if _, err := remote.RunBatchNext(c, h, next, &remote.Batch{Files: []remote.FileWrite{{Path: p, Data: []byte("new")}}}); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != "new" {
			t.Fatalf("content %q", b)
		}
	})
}
