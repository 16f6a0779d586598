package remote_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/remotetest"
)

func sshdHost(t *testing.T) remote.Host {
	t.Helper()
	key := remotetest.NewKey(t, "", "id_ed25519", nil)
	s := remotetest.StartSSHD(t, remotetest.SSHDOptions{AuthorizedKeys: []sshPub{key.Public()}})
	h := dialTo(t, s.Addr, s.HostKey, key, remote.Options{})
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// TestLockHolderNamedThenHandedOver: over a real sshd, a second run waits
// its bounded time and fails naming the holder; once released, it gets it.
func TestLockHolderNamedThenHandedOver(t *testing.T) {
	t.Parallel()
	h := sshdHost(t)
	path := filepath.Join(t.TempDir(), "config.ini.cmtls-lock")
	// a holder of a minute ago: well within the stale bound (2 h)
	since := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	release, err := remote.Lock(ctx(t), h, path, remote.LockInfo{Command: "cmtls agents push", Since: since}, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = remote.Lock(ctx(t), h, path, remote.LockInfo{Command: "cmtls init"}, 600*time.Millisecond)
	var le *remote.LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second lock: %v", err)
	}
	if time.Since(start) < 500*time.Millisecond {
		t.Fatalf("gave up after %s, before its wait", time.Since(start))
	}
	for _, want := range []string{"cmtls agents push", fmt.Sprintf("pid %d", os.Getpid()), "since " + since.Format("2006-01-02 15:04:05 UTC"), path} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("%q does not name %q", err, want)
		}
	}
	// a waiting run gets the lock as soon as the holder lets go
	var wg sync.WaitGroup
	var err2 error
	wg.Add(1)
	go func() {
		defer wg.Done()
		rel, e := remote.Lock(ctx(t), h, path, remote.LockInfo{Command: "cmtls init"}, 20*time.Second)
		if e == nil {
			e = rel(ctx(t))
		}
		err2 = e
	}()
	if err := release(ctx(t)); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err2 != nil {
		t.Fatal(err2)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("lock left behind: %v", err)
	}
}

// TestStaleLocksTakenOver: a lock whose holder process on this machine is
// gone, and one older than its bound, are taken over with a note.
func TestStaleLocksTakenOver(t *testing.T) {
	t.Parallel()
	h := sshdHost(t)
	dir := t.TempDir()
	me, _ := os.Hostname()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"dead pid": fmt.Sprintf("token=aaa\nowner=x@%s\nmachine=%s\npid=%d\nepoch=%d\ncommand=cmtls init\n", me, me, dead.Process.Pid, time.Now().Unix()),
		"too old":  fmt.Sprintf("token=bbb\nowner=x@elsewhere\nmachine=elsewhere.example\npid=1\nepoch=%d\ncommand=cmtls init\n", time.Now().Add(-3*time.Hour).Unix()),
	}
	for name, content := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".lock")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		var notes []string
		release, err := remote.Lock(ctx(t), h, path, remote.LockInfo{Note: func(s string) { notes = append(notes, s) }}, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(notes) != 1 || !strings.Contains(notes[0], "stale") {
			t.Fatalf("%s: notes %q", name, notes)
		}
		if b, _ := os.ReadFile(path); !strings.Contains(string(b), fmt.Sprintf("pid=%d\n", os.Getpid())) {
			t.Fatalf("%s: lock now %q", name, b)
		}
		if err := release(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	// a live holder on another machine within its bound is not stale
	path := filepath.Join(dir, "live.lock")
	live := fmt.Sprintf("token=ccc\nowner=x@elsewhere\nmachine=elsewhere.example\npid=1\nepoch=%d\ncommand=cmtls init\n", time.Now().Unix())
	if err := os.WriteFile(path, []byte(live), 0o600); err != nil {
		t.Fatal(err)
	}
	var le *remote.LockedError
	if _, err := remote.Lock(ctx(t), h, path, remote.LockInfo{}, 0); !errors.As(err, &le) || le.Holder.Machine != "elsewhere.example" {
		t.Fatalf("live lock: %v", err)
	}
}

// TestLockThatCannotBeMadeFails: a lock file in a missing directory is an
// error saying so, at once, not an endless wait.
func TestLockThatCannotBeMadeFails(t *testing.T) {
	t.Parallel()
	h := remote.NewLocal("local")
	_, err := remote.Lock(ctx(t), h, filepath.Join(t.TempDir(), "missing", "x.lock"), remote.LockInfo{}, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "cannot create the lock file") {
		t.Fatalf("err = %v", err)
	}
}
