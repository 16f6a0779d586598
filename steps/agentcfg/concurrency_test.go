package agentcfg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/remotetest"
	"golang.org/x/crypto/ssh"
)

// sshdConns starts a real OpenSSH server and opens n connections to it,
// as n cmtls runs would.
func sshdConns(t *testing.T, n int) []remote.Host {
	t.Helper()
	key := remotetest.NewKey(t, "", "id_ed25519", nil)
	s := remotetest.StartSSHD(t, remotetest.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{key.Public()}})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	remotetest.AddKnownHost(t, kh, s.Addr, s.HostKey)
	host, port, _ := net.SplitHostPort(s.Addr)
	p, _ := strconv.Atoi(port)
	var hs []remote.Host
	for i := 0; i < n; i++ {
		c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		h, err := remote.Dial(c, remote.Target{Name: fmt.Sprintf("agent-%d", i), Address: host, Port: p},
			remote.Options{IdentityFiles: []string{key.Path}, KnownHostsFiles: []string{kh}, SSHConfigPath: "none", ConnectTimeout: 10 * time.Second})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close() })
		hs = append(hs, h)
	}
	return hs
}

func push(ctx context.Context, h remote.Host, spec Spec, cmd string) error {
	spec.Lock = &remote.LockInfo{Command: cmd}
	spec.LockWait = 30 * time.Second
	p, err := Plan(ctx, h, spec)
	if err != nil {
		return err
	}
	_, err = Apply(ctx, h, p, time.Now())
	return err
}

// TestConcurrentAppliesNeverInterleave: two runs that each change the same
// agent host (different certificates) over a real sshd: with the host lock
// one run's plan, write and restart end before the other's plan begins.
func TestConcurrentAppliesNeverInterleave(t *testing.T) {
	t.Parallel()
	hs := sshdConns(t, 2)
	f := newFixture(t, "stock.ini")
	log := filepath.Join(f.dir, "log")
	f.spec.RestartCommand = fmt.Sprintf("echo begin >> %[1]s; sleep 0.3; echo end >> %[1]s", remote.Quote(log))
	f.spec.CheckCommand = ""
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, h := range hs {
		spec := f.spec
		spec.PEM = testPEM(t, fmt.Sprintf("cm%d.example.com", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = push(ctx, h, spec, fmt.Sprintf("push %d", i))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := string(mustRead(t, log)); got != "begin\nend\nbegin\nend\n" {
		t.Fatalf("restarts interleaved: %q", got)
	}
	if _, err := os.Stat(LockPath(f.cfg)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("lock left behind: %v", err)
	}
}

// TestThreeConcurrentPushesThenRestore: three runs push the same
// certificate to two fresh agent hosts at once; one restore then leaves
// every host byte-identical to its pristine config.ini, with no PEM, and
// .orig pristine. A bounded loop: the race it guards against is one of
// timing.
func TestThreeConcurrentPushesThenRestore(t *testing.T) {
	t.Parallel()
	hs := sshdConns(t, 3)
	pem := testPEM(t, "cm.example.com")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for round := 0; round < 2; round++ {
		var fleet []*fixture
		for i := 0; i < 2; i++ {
			f := newFixture(t, "stock.ini")
			f.spec.PEM = pem
			fleet = append(fleet, f)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 9)
		// each run fans out over the fleet, as agents push does
		for r, h := range hs {
			for _, f := range fleet {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := push(ctx, h, f.spec, fmt.Sprintf("agents push %d", r)); err != nil {
						errs <- err
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for _, f := range fleet {
			if r, err := Restore(ctx, hs[0], f.cfg, f.pem); err != nil || !r.ConfigChanged || !r.PEMRemoved {
				t.Fatalf("round %d: restore %+v %v", round, r, err)
			}
			if got := mustRead(t, f.cfg); !bytes.Equal(got, f.orig) {
				t.Fatalf("round %d: config.ini not pristine after the restore:\n%s", round, got)
			}
			if got := mustRead(t, OrigPath(f.cfg)); !bytes.Equal(got, f.orig) {
				t.Fatalf("round %d: .orig not pristine:\n%s", round, got)
			}
			if _, err := os.Stat(f.pem); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("round %d: the PEM cmtls created is still there", round)
			}
		}
	}
}

// TestRestoreRefusesDriftUnlessForced: config.ini edited after cmtls wrote
// it: the restore is refused with the diff and touches nothing; forced, it
// restores and keeps the edit beside the backups.
func TestRestoreRefusesDriftUnlessForced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, "stock.ini")
	h := remote.NewLocal("local")
	p, err := Plan(ctx, h, f.spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(ctx, h, p, time.Now()); err != nil {
		t.Fatal(err)
	}
	edited := append(mustRead(t, f.cfg), []byte("# tuned by hand\nmax_collection_wait_seconds=30\n")...)
	if err := os.WriteFile(f.cfg, edited, 0o640); err != nil {
		t.Fatal(err)
	}
	pemBefore := mustRead(t, f.pem)
	_, err = Restore(ctx, h, f.cfg, f.pem)
	var de *remote.DriftError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "-# tuned by hand") || !strings.Contains(hintOf(err), "--force") {
		t.Fatalf("drift: %v (hint %q)", err, hintOf(err))
	}
	if !bytes.Equal(mustRead(t, f.cfg), edited) || !bytes.Equal(mustRead(t, f.pem), pemBefore) {
		t.Fatal("a refused restore changed a file")
	}
	r, err := RestoreWith(ctx, h, f.cfg, f.pem, RestoreOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustRead(t, f.cfg), f.orig) || len(r.EditedCopies) != 1 || !bytes.Equal(mustRead(t, r.EditedCopies[0]), edited) {
		t.Fatalf("forced restore: %+v", r)
	}
}

// TestSymlinkedConfigHint: a config.ini that is a symbolic link is refused
// by plan and by restore alike with the fix that applies (name the link's
// target in config_path), not "check that the host is reachable".
func TestSymlinkedConfigHint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, "stock.ini")
	real := f.cfg + ".real"
	if err := os.Rename(f.cfg, real); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, f.cfg); err != nil {
		t.Fatal(err)
	}
	h := remote.NewLocal("local")
	_, perr := Plan(ctx, h, f.spec)
	_, rerr := Restore(ctx, h, f.cfg, f.pem)
	for _, err := range []error{perr, rerr} {
		if !errors.Is(err, remote.ErrSymlink) || !strings.Contains(err.Error(), real) || !strings.Contains(hintOf(err), "config_path") || strings.Contains(hintOf(err), "reachable") {
			t.Fatalf("err %v, hint %q", err, hintOf(err))
		}
	}
}

// TestReleaseFreesTheLock: a locked plan that is not applied (a dry run, a
// host with nothing to do) frees the lock on Release.
func TestReleaseFreesTheLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, "stock.ini")
	h := remote.NewLocal("local")
	f.spec.Lock = &remote.LockInfo{Command: "dry run"}
	p, err := Plan(ctx, h, f.spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(LockPath(f.cfg)); err != nil {
		t.Fatalf("no lock while planned: %v", err)
	}
	// a second run is refused, naming the holder
	_, err = Plan(ctx, h, f.spec)
	var le *remote.LockedError
	if !errors.As(err, &le) || le.Holder.Command != "dry run" {
		t.Fatalf("second plan: %v", err)
	}
	p.Release()
	if _, err := os.Stat(LockPath(f.cfg)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("lock left after Release: %v", err)
	}
}

// TestLockedPushStillTwoCommands: the host lock and the journal cost no
// round trip: a locked plan and its apply (write, restart, check, unlock)
// are two remote commands on one connection, as without them.
func TestLockedPushStillTwoCommands(t *testing.T) {
	t.Parallel()
	key := remotetest.NewKey(t, "", "id_ed25519", nil)
	srv := remotetest.NewServer(t, remotetest.ServerOptions{AuthorizedKeys: []ssh.PublicKey{key.Public()}})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	remotetest.AddKnownHost(t, kh, srv.Addr, srv.HostKey)
	host, port, _ := net.SplitHostPort(srv.Addr)
	p, _ := strconv.Atoi(port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := remote.Dial(ctx, remote.Target{Name: "agent", Address: host, Port: p},
		remote.Options{IdentityFiles: []string{key.Path}, KnownHostsFiles: []string{kh}, SSHConfigPath: "none"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	f := newFixture(t, "stock.ini")
	before := srv.Sessions()
	if err := push(ctx, h, f.spec, "agents push"); err != nil {
		t.Fatal(err)
	}
	if n := srv.Sessions() - before; n != 1 {
		// the plan's shell is chained into the apply: one session, two commands
		t.Fatalf("%d sessions for a locked plan and apply, want 1", n)
	}
	if f.restarts(t) != 1 {
		t.Fatal("not restarted")
	}
	if _, err := os.Stat(LockPath(f.cfg)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("lock left: %v", err)
	}
	if _, err := os.Stat(remote.JournalPath(f.cfg)); err != nil {
		t.Fatalf("no journal: %v", err)
	}
}

// TestLockedPlanOnHostWithoutAgent: no agent directory at all: the plan
// says config.ini is missing (with its hint), not that a lock failed.
func TestLockedPlanOnHostWithoutAgent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "")
	if err := os.RemoveAll(filepath.Dir(f.cfg)); err != nil {
		t.Fatal(err)
	}
	f.spec.Lock = &remote.LockInfo{Command: "agents push"}
	_, err := Plan(context.Background(), remote.NewLocal("local"), f.spec)
	if !errors.Is(err, ErrConfigMissing) {
		t.Fatalf("err = %v", err)
	}
}

// TestRestoreAllAfterInitAndPush: init then a push of a new certificate;
// the most recent-run restore undoes the push only, All (and Restore)
// undo everything.
func TestRestoreAllAfterInitAndPush(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, "stock.ini")
	h := remote.NewLocal("local")
	first := f.spec.PEM
	for i, pem := range [][]byte{first, testPEM(t, "renewed.example.com")} {
		spec := f.spec
		spec.PEM = pem
		spec.RunID = fmt.Sprintf("run-%d", i)
		p, err := Plan(ctx, h, spec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Apply(ctx, h, p, time.Unix(1800000000+int64(i)*60, 0)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := RestoreWith(ctx, h, f.cfg, f.pem, RestoreOptions{})
	if err != nil || r.UndoRun != "run-1" || r.ConfigChanged || !r.PEMRestored || !bytes.Equal(mustRead(t, f.pem), first) {
		t.Fatalf("undo the push: %+v %v", r, err)
	}
	// push again, then undo everything at once
	spec := f.spec
	spec.PEM, spec.RunID = testPEM(t, "again.example.com"), "run-2"
	p, err := Plan(ctx, h, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(ctx, h, p, time.Unix(1800000300, 0)); err != nil {
		t.Fatal(err)
	}
	r, err = Restore(ctx, h, f.cfg, f.pem)
	if err != nil || !r.ConfigChanged || !r.PEMRemoved || r.UndoRun != remote.AllRuns {
		t.Fatalf("undo all: %+v %v", r, err)
	}
	if !bytes.Equal(mustRead(t, f.cfg), f.orig) {
		t.Fatal("config.ini not pristine")
	}
	if _, err := os.Stat(f.pem); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("pem still there")
	}
}

// TestInterruptAsksTheRestartToStop: a run cancelled while the agent's
// restart still runs on the host (over a real sshd, on the chained shell
// Apply writes through) sends it SIGTERM and leaves it time to finish
// cleanly, rather than SIGKILL; the lock is released by the script's end.
func TestInterruptAsksTheRestartToStop(t *testing.T) {
	t.Parallel()
	// over sshd (bash, the login shell) and locally (/bin/sh, dash here)
	t.Run("sshd", func(t *testing.T) { t.Parallel(); interruptRestart(t, sshdConns(t, 1)[0]) })
	t.Run("local", func(t *testing.T) { t.Parallel(); interruptRestart(t, remote.NewLocal("local")) })
}

func interruptRestart(t *testing.T, h remote.Host) {
	f := newFixture(t, "stock.ini")
	started, termed := filepath.Join(f.dir, "restart-started"), filepath.Join(f.dir, "restart-termed")
	f.spec.RestartCommand = fmt.Sprintf("trap 'echo term > %s; exit 1' TERM; : > %s; sleep 30 & wait", remote.Quote(termed), remote.Quote(started))
	f.spec.Lock = &remote.LockInfo{Command: "agents push"}
	ctx, cancel := context.WithCancel(remote.WithKillGrace(context.Background(), 20*time.Second))
	defer cancel()
	p, err := Plan(ctx, h, f.spec)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := Apply(ctx, h, p, time.Now())
		errc <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the restart never started")
		}
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("apply: %v", err)
	}
	if b, err := os.ReadFile(termed); err != nil || strings.TrimSpace(string(b)) != "term" {
		t.Fatalf("the restart was not asked to stop: %q %v", b, err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for range tick.C {
		if _, err := os.Stat(LockPath(f.cfg)); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock outlived the stopped apply")
		}
	}
}
