package remote_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmtls/cmtls/remote"
)

// TestConcurrentWritesKeepThePristineOriginal: three runs that replace the
// same never-touched file at once (same backup name, as three runs in the
// same millisecond would ask for) leave the original exactly once, in
// .orig, and no backup ever takes bytes written by another run: no copy
// is ever made onto an existing name, which would write through its hard
// links. A bounded loop, since the race is a matter of timing.
func TestConcurrentWritesKeepThePristineOriginal(t *testing.T) {
	t.Parallel()
	h := remote.NewLocal("local")
	pristine := []byte("[Security]\nuse_tls=0\n")
	for round := 0; round < 12; round++ {
		dir := t.TempDir()
		p := filepath.Join(dir, "config.ini")
		if err := os.WriteFile(p, pristine, 0o640); err != nil {
			t.Fatal(err)
		}
		now := time.Unix(1800000000, 0)
		var wg sync.WaitGroup
		written := map[string]bool{string(pristine): true}
		var mu sync.Mutex
		for w := 0; w < 3; w++ {
			data := []byte(fmt.Sprintf("[Security]\nuse_tls=1\n# run %d\n", w))
			written[string(data)] = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := remote.RunBatch(ctx(t), h, &remote.Batch{RunID: fmt.Sprintf("run-%d", w), Time: now, Files: []remote.FileWrite{{
					Path: p, Data: data, BackupPath: remote.BackupPath(p, now), OrigPath: p + ".cmtls.orig", Journal: true}}})
				if err != nil {
					mu.Lock()
					defer mu.Unlock()
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if got, err := os.ReadFile(p + ".cmtls.orig"); err != nil || !bytes.Equal(got, pristine) {
			t.Fatalf("round %d: .orig = %q, %v; want the pristine file", round, got, err)
		}
		ents, _ := os.ReadDir(dir)
		baks := 0
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".bak") && !strings.Contains(e.Name(), ".bak.") {
				continue
			}
			baks++
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			if !written[string(b)] {
				t.Fatalf("round %d: backup %s holds %q", round, e.Name(), b)
			}
		}
		if baks != 3 {
			t.Fatalf("round %d: %d backups, want 3 (one per run): %v", round, baks, ents)
		}
		j, err := os.ReadFile(remote.JournalPath(p))
		if err != nil {
			t.Fatal(err)
		}
		entries, err := remote.ParseJournal(j)
		if err != nil || len(entries) != 3 {
			t.Fatalf("round %d: journal %q: %v", round, j, err)
		}
		// every before-image named in the journal holds the bytes its hash says
		for _, e := range entries {
			b, err := os.ReadFile(e.BeforePath)
			if err != nil || sha(b) != e.Before {
				t.Fatalf("round %d: before-image %s: %v", round, e.BeforePath, err)
			}
		}
	}
}

func sha(b []byte) string { return fmt.Sprintf("%x", sha256sum(b)) }

// TestRestoreWalksBackTheHistory: two runs, then two restores: each undoes
// the most recent run not yet undone; the last removes the file and the
// directory cmtls created for it. An edit in between is refused with a
// diff, untouched, and forced over with the edit kept.
func TestRestoreWalksBackTheHistory(t *testing.T) {
	t.Parallel()
	forEachHost(t, func(t *testing.T, h remote.Host) {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "config.ini")
		pem := filepath.Join(dir, "made", "deeper", "server.pem")
		orig := []byte("[Security]\nuse_tls=0\n")
		if err := os.WriteFile(cfg, orig, 0o640); err != nil {
			t.Fatal(err)
		}
		t0 := time.Unix(1800000000, 0)
		cfg1 := []byte("[Security]\nuse_tls=1\n")
		pem1, pem2 := []byte("pem one\n"), []byte("pem two\n")
		write := func(run string, at time.Time, files ...remote.FileWrite) {
			t.Helper()
			for i := range files {
				files[i].Journal = true
			}
			if _, err := remote.RunBatch(ctx(t), h, &remote.Batch{RunID: run, Time: at, Files: files}); err != nil {
				t.Fatal(err)
			}
		}
		write("init-1", t0, remote.FileWrite{Path: pem, Data: pem1, Mode: 0o644, MkdirMode: 0o755}, remote.FileWrite{Path: cfg, Data: cfg1})
		write("push-2", t0.Add(time.Minute), remote.FileWrite{Path: pem, Data: pem2})

		restore := func(force bool) (*remote.RestoreResult, error) {
			t.Helper()
			plan, err := remote.PlanRestore(ctx(t), h, "", pem, cfg)
			if err != nil {
				return nil, err
			}
			return remote.ApplyRestore(ctx(t), h, plan, remote.RestoreOptions{RunID: "rollback", Force: force, Now: t0.Add(time.Hour)})
		}
		// 1: undoes push-2 only: the PEM back to pem1, config.ini alone
		if _, err := restore(false); err != nil {
			t.Fatal(err)
		}
		mustHold(t, pem, pem1)
		mustHold(t, cfg, cfg1)

		// an admin edits config.ini: refused, with a diff, nothing touched
		edited := []byte("[Security]\nuse_tls=1\n# mine\n")
		if err := os.WriteFile(cfg, edited, 0o640); err != nil {
			t.Fatal(err)
		}
		_, err := restore(false)
		var de *remote.DriftError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "+use_tls=0") || !strings.Contains(err.Error(), "-# mine") {
			t.Fatalf("drift: %v", err)
		}
		mustHold(t, cfg, edited)
		mustHold(t, pem, pem1)

		// forced: init-1 undone, the edit kept beside, the PEM and the
		// directories cmtls made gone
		res, err := restore(true)
		if err != nil {
			t.Fatal(err)
		}
		mustHold(t, cfg, orig)
		var kept string
		for _, f := range res.Files {
			if f.Path == cfg {
				kept = f.EditedCopy
			}
			if f.Path == pem && (!f.Removed || !f.DirsRemoved) {
				t.Fatalf("pem: %+v", f)
			}
		}
		mustHold(t, kept, edited)
		if _, err := os.Stat(filepath.Join(dir, "made")); !os.IsNotExist(err) {
			t.Fatalf("the directory cmtls made is still there: %v", err)
		}
		// nothing left to undo
		if _, err := restore(false); !errors.Is(err, remote.ErrNoHistory) {
			t.Fatalf("third restore: %v", err)
		}
	})
}

func mustHold(t *testing.T, p string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s = %q, %v; want %q", p, got, err, want)
	}
}

func sha256sum(b []byte) [32]byte { return sha256.Sum256(b) }

// TestPutFileJournaled: a server file written with PutOptions.RunID (a
// keystore, say, binary) is undone by a restore to the bytes it replaced.
func TestPutFileJournaled(t *testing.T) {
	t.Parallel()
	h := remote.NewLocal("local")
	p := filepath.Join(t.TempDir(), "cm.keystore")
	old, next := []byte{0xfe, 0xed, 0xfe, 0xed, 0, 1}, []byte{0x30, 0x82, 0, 7}
	if err := os.WriteFile(p, old, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := h.PutFile(ctx(t), p, next, remote.PutOptions{RunID: "init-1"}); err != nil {
		t.Fatal(err)
	}
	mustHold(t, p, next)
	plan, err := remote.PlanRestore(ctx(t), h, "", p)
	if err != nil {
		t.Fatal(err)
	}
	if plan.UndoRun != "init-1" || len(plan.Drifted()) != 0 || !strings.Contains(plan.Files[0].Diff(), "binary file") {
		t.Fatalf("plan %+v", plan)
	}
	if _, err := remote.ApplyRestore(ctx(t), h, plan, remote.RestoreOptions{RunID: "rollback-1"}); err != nil {
		t.Fatal(err)
	}
	mustHold(t, p, old)
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
}

// TestRestoreAllRuns: AllRuns undoes every recorded change at once: each
// file back to its state before cmtls, the directory cmtls made gone, the
// journal balanced.
func TestRestoreAllRuns(t *testing.T) {
	t.Parallel()
	h := remote.NewLocal("local")
	dir := t.TempDir()
	cfg, pem := filepath.Join(dir, "config.ini"), filepath.Join(dir, "made", "server.pem")
	orig := []byte("[Security]\nuse_tls=0\n")
	if err := os.WriteFile(cfg, orig, 0o640); err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1800000000, 0)
	for i, run := range []string{"init-1", "push-2", "push-3"} {
		files := []remote.FileWrite{{Path: pem, Data: []byte(run), Mode: 0o644, MkdirMode: 0o755, Journal: true}}
		if i == 0 {
			files = append(files, remote.FileWrite{Path: cfg, Data: []byte("[Security]\nuse_tls=1\n"), Journal: true})
		}
		if _, err := remote.RunBatch(ctx(t), h, &remote.Batch{RunID: run, Time: t0.Add(time.Duration(i) * time.Minute), Files: files}); err != nil {
			t.Fatal(err)
		}
	}
	plan, err := remote.PlanRestore(ctx(t), h, remote.AllRuns, cfg, pem)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.ApplyRestore(ctx(t), h, plan, remote.RestoreOptions{RunID: "rollback"}); err != nil {
		t.Fatal(err)
	}
	mustHold(t, cfg, orig)
	if _, err := os.Stat(filepath.Dir(pem)); !os.IsNotExist(err) {
		t.Fatalf("directory cmtls made: %v", err)
	}
	j, _ := os.ReadFile(remote.JournalPath(cfg))
	es, err := remote.ParseJournal(j)
	if out, oerr := remote.Outstanding(es); err != nil || oerr != nil || len(out) != 0 {
		t.Fatalf("journal not balanced: %q %v %v", j, err, oerr)
	}
}
