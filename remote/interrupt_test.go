package remote_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmtls/cmtls/remote"
)

// waitFile waits, up to a deadline, for a file a remote command creates.
func waitFile(t *testing.T, p string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		if _, err := os.Stat(p); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %s", p, d)
		}
	}
}

// TestCancelAsksBeforeKilling: a cancelled command gets SIGTERM and the
// time to act on it (here: record it and exit) before any SIGKILL, on
// every kind of host, over a real sshd too.
func TestCancelAsksBeforeKilling(t *testing.T) {
	t.Parallel()
	forEachHost(t, func(t *testing.T, h remote.Host) {
		dir := t.TempDir()
		started, termed := filepath.Join(dir, "started"), filepath.Join(dir, "termed")
		cmd := "trap 'echo term > " + remote.Quote(termed) + "; exit 3' TERM; echo > " + remote.Quote(started) + "; sleep 30 & wait"
		c, cancel := context.WithCancel(remote.WithKillGrace(context.Background(), 20*time.Second))
		defer cancel()
		errc := make(chan error, 1)
		go func() {
			_, err := h.Run(c, cmd, nil)
			errc <- err
		}()
		waitFile(t, started, 20*time.Second)
		begin := time.Now()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		if b, err := os.ReadFile(termed); err != nil || strings.TrimSpace(string(b)) != "term" {
			t.Fatalf("the command did not get SIGTERM: %q %v", b, err)
		}
		if el := time.Since(begin); el > 15*time.Second {
			t.Fatalf("waited %s: the grace ran out, so the command was killed, not asked", el)
		}
	})
}

// TestInFlightFinishesAfterStop: work under InFlight outlives the first
// interrupt (stop) and finishes with its result; the second (abort) stops it.
func TestInFlightFinishesAfterStop(t *testing.T) {
	t.Parallel()
	h := remote.NewLocal("local")
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	stop, stopNow := context.WithCancel(context.Background())
	abort, abortNow := context.WithCancel(context.Background())
	defer abortNow()
	work, done := remote.InFlight(stop, abort)
	defer done()
	stopNow() // the first Ctrl-C, before the command ends
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := h.Run(work, "test -e "+remote.Quote(gate)+" && echo finished", nil)
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "finished" {
		t.Fatalf("in-flight work after stop: %v %v", res, err)
	}
	// the second Ctrl-C aborts what still runs
	work2, done2 := remote.InFlight(stop, abort)
	defer done2()
	go abortNow()
	if _, err := h.Run(remote.WithKillGrace(work2, 0), "sleep 30", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("after abort: %v", err)
	}
}
