package agentcfg

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/steps/ini"
)

// Section is where the agent reads its TLS settings.
const Section = "Security"

// Spec is what one agent host must end up with.
type Spec struct {
	PEM            []byte // the server certificate (or CA bundle), PEM
	PEMDest        string // where the agent reads it (verify_cert_file)
	ConfigPath     string // the agent's config.ini
	RestartCommand string
	CheckCommand   string // exit 0 = the agent runs
	UseTLS         bool   // also set use_tls=1 (TLS level 1 on the agent side)
	// LogPath is the agent's log; when the restart or the check fails, its
	// last lines come back with the error (the agent says there why it
	// did not start, e.g. "certificate verify failed").
	LogPath string
	// CheckRetries is how often a failing check is retried, a second apart
	// (a service may need a moment after its restart). Default 5.
	CheckRetries int
	// Lock, when set, is taken on the host (LockPath) by Plan, in Plan's
	// own remote command, and released at the end of Apply's: two runs
	// never interleave on one agent host. A second run waits LockWait,
	// then fails with a *remote.LockedError naming the holder.
	Lock     *remote.LockInfo
	LockWait time.Duration
	// RunID names this run in the journals beside config.ini and the PEM
	// (remote.JournalPath); "" = "cmtls-" and Apply's time.
	RunID string
}

// KeyChange is one config.ini key, before and after.
type KeyChange struct {
	Key    string `json:"key"`
	Old    string `json:"old"`
	OldSet bool   `json:"old_set"`
	New    string `json:"new"`
}

// Change is what Apply will do on one host. It holds no secrets.
type Change struct {
	Host          string      `json:"host"`
	ConfigPath    string      `json:"config_path"`
	PEMDest       string      `json:"pem_dest"`
	Keys          []KeyChange `json:"keys"`
	ConfigChanged bool        `json:"config_changed"`
	PEMOldSHA256  string      `json:"pem_old_sha256,omitempty"` // "" = no file
	PEMNewSHA256  string      `json:"pem_new_sha256"`
	PEMChanged    bool        `json:"pem_changed"`
	// RestartPending: a previous run changed files but its restart did not
	// finish (the marker file is still there).
	RestartPending bool     `json:"restart_pending,omitempty"`
	Restart        bool     `json:"restart"`
	Warnings       []string `json:"warnings,omitempty"`
	// FirstRun: no <config>.cmtls.orig yet; Apply keeps the original.
	FirstRun bool `json:"first_run"`

	spec      Spec
	cfgInfo   remote.FileInfo
	newConfig []byte
	// next is the remote shell Plan read through, left waiting so that
	// Apply writes through the same session (one session per host)
	next      *remote.Next
	lock      *remote.HostLock
	pemExists bool
}

// Release frees the remote shell a Plan keeps for Apply, and the host lock
// it holds (Spec.Lock): call it for every Change that will not be applied
// (a dry run, a host with nothing to do), or the lock is held until it goes
// stale. Closing the host frees the shell, not the lock.
func (p *Change) Release() {
	next := p.next
	p.next = nil
	if p.lock != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		// on the waiting shell: no new session
		_ = p.lock.ReleaseVia(ctx, next)
		p.lock = nil
	}
	next.Release()
}

// Changed reports whether Apply would write or restart anything.
func (p *Change) Changed() bool { return p.ConfigChanged || p.PEMChanged || p.Restart }

// Applied is what Apply did.
type Applied struct {
	Change        *Change `json:"-"`
	ConfigChanged bool    `json:"config_changed"`
	PEMChanged    bool    `json:"pem_changed"`
	BackupPath    string  `json:"backup_path,omitempty"`
	OrigPath      string  `json:"orig_path,omitempty"`
	Restarted     bool    `json:"restarted"`
	Verified      bool    `json:"verified"` // the check command exited 0
	CheckOutput   string  `json:"check_output,omitempty"`
}

// OrigPath is where the pre-cmtls original of p is kept (once).
func OrigPath(p string) string { return p + ".cmtls.orig" }

// LockPath is the per-host lock beside the agent's config.ini.
func LockPath(configPath string) string { return configPath + ".cmtls-lock" }

// PendingPath marks a restart that is still owed.
func PendingPath(configPath string) string { return configPath + ".cmtls-restart-pending" }

// HostError is a per-host failure with the fix to try. It carries the
// host name so that fan-out summaries can list it.
type HostError struct {
	Host string
	Op   string // plan, apply, restart, check, restore
	Err  error
	Fix  string
}

func (e *HostError) Error() string { return fmt.Sprintf("host %s: %s: %v", e.Host, e.Op, e.Err) }
func (e *HostError) Unwrap() error { return e.Err }
func (e *HostError) Hint() string {
	if e.Fix != "" {
		return e.Fix
	}
	var h interface{ Hint() string }
	if errors.As(e.Err, &h) {
		return h.Hint()
	}
	return ""
}

// ReadFix is the fix for an error reading an agent host's files (plan,
// rollback, status): a symbolic link or a directory where a file belongs
// names the setting to change (the error names the link's target);
// anything else is the host's reachability.
func ReadFix(err error) string {
	switch {
	case errors.Is(err, remote.ErrSymlink):
		return "cmtls does not write through symbolic links: set agents.config_path / pem_dest (or the host's config_path / pem_dest) to the file the link points to, and re-run"
	case errors.Is(err, remote.ErrNotRegular):
		return "agents.config_path / pem_dest (or the host's) must name files, not directories"
	}
	return "check that the host is reachable (ssh to it) and re-run"
}

// ErrConfigMissing: config.ini is not on the host (cmtls never creates it).
var ErrConfigMissing = errors.New("config.ini not found")

// ErrNoSecuritySection: config.ini has no [Security] section.
var ErrNoSecuritySection = errors.New("config.ini has no [Security] section")

func (s *Spec) validate() error {
	switch {
	case len(s.PEM) == 0 || !strings.Contains(string(s.PEM), "-----BEGIN CERTIFICATE-----"):
		return errors.New("the PEM to push is empty or holds no certificate")
	case !strings.HasPrefix(s.PEMDest, "/") || !strings.HasPrefix(s.ConfigPath, "/"):
		return errors.New("pem_dest and config_path must be absolute paths")
	case s.PEMDest == s.ConfigPath:
		return errors.New("pem_dest and config_path are the same file")
	}
	return nil
}

func (s *Spec) kvs() []ini.KV {
	var kv []ini.KV
	if s.UseTLS {
		kv = append(kv, ini.KV{Key: "use_tls", Value: "1"})
	}
	return append(kv, ini.KV{Key: "verify_cert_file", Value: s.PEMDest})
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Plan reads config.ini, the PEM at PEMDest and the backup state in one
// remote command and returns what Apply would change. It writes nothing.
func Plan(ctx context.Context, h remote.Host, spec Spec) (*Change, error) {
	fail := func(err error, fix string) (*Change, error) {
		return nil, &HostError{Host: h.Name(), Op: "plan", Err: err, Fix: fix}
	}
	if err := spec.validate(); err != nil {
		return fail(err, "check the answers file's agents section and --pem")
	}
	specs := []remote.ReadSpec{{Path: spec.ConfigPath}, {Path: spec.PEMDest},
		{Path: OrigPath(spec.ConfigPath), StatOnly: true}, {Path: PendingPath(spec.ConfigPath), StatOnly: true}}
	var (
		files []remote.FileData
		next  *remote.Next
		lock  *remote.HostLock
		err   error
	)
	if spec.Lock != nil {
		files, next, lock, err = remote.ReadNextLocked(ctx, h, remote.LockRequest{Path: LockPath(spec.ConfigPath), Info: *spec.Lock, Wait: spec.LockWait}, specs...)
	} else {
		files, next, err = remote.ReadNext(ctx, h, specs...)
	}
	if errors.Is(err, remote.ErrSymlink) || errors.Is(err, remote.ErrNotRegular) {
		return fail(err, ReadFix(err))
	}
	if err != nil {
		return fail(err, "")
	}
	cfg, pem, orig, pending := files[0], files[1], files[2], files[3]
	keep := false // hand the waiting shell (and the lock) to Apply only with a usable plan
	defer func() {
		if !keep {
			if lock != nil {
				_ = lock.ReleaseVia(ctx, next)
			}
			next.Release()
		}
	}()
	if !cfg.Info.Exists {
		return fail(fmt.Errorf("%w at %s", ErrConfigMissing, spec.ConfigPath),
			"is the Cloudera Manager agent installed on this host? set agents.config_path (or the host's config_path) if it lives elsewhere; cmtls does not create it")
	}
	if !ini.HasSection(cfg.Data, Section) {
		return fail(fmt.Errorf("%w (%s)", ErrNoSecuritySection, spec.ConfigPath),
			"this does not look like the agent's shipped config.ini; add a '[Security]' line (the agent reads use_tls and verify_cert_file there) and re-run")
	}
	p := &Change{Host: h.Name(), ConfigPath: spec.ConfigPath, PEMDest: spec.PEMDest, spec: spec,
		PEMNewSHA256: sum(spec.PEM), FirstRun: !orig.Info.Exists, RestartPending: pending.Info.Exists}
	out, changed, warns, err := ini.Set(cfg.Data, Section, spec.kvs())
	if err != nil {
		return fail(fmt.Errorf("edit %s: %w", spec.ConfigPath, err), "")
	}
	p.Warnings = warns
	for _, kv := range spec.kvs() {
		old, ok, _ := ini.Get(cfg.Data, Section, kv.Key)
		p.Keys = append(p.Keys, KeyChange{Key: kv.Key, Old: old, OldSet: ok, New: kv.Value})
		// what the agent will read back must be what we meant
		if got, ok, err := ini.Get(out, Section, kv.Key); err != nil || !ok || got != kv.Value {
			return fail(fmt.Errorf("after the edit %s would read %s=%q, not %q", spec.ConfigPath, kv.Key, got, kv.Value),
				"the file's layout is unusual here; set the key by hand and re-run")
		}
	}
	p.ConfigChanged = changed
	p.newConfig = out
	p.cfgInfo = cfg.Info
	if pem.Info.Exists {
		p.pemExists = true
		p.PEMOldSHA256 = sum(pem.Data)
	}
	p.PEMChanged = p.PEMOldSHA256 != p.PEMNewSHA256
	p.Restart = p.ConfigChanged || p.PEMChanged || p.RestartPending
	p.next, p.lock, keep = next, lock, true
	return p, nil
}

// Apply carries out a Plan: PEM first (0644, its directory made 0755 when
// missing), then config.ini (mode and owner kept; the pre-cmtls original
// kept once as <config>.cmtls.orig, and a timestamped .bak of what is
// replaced), all staged and renamed atomically in one remote command that
// then restarts the agent (only when something changed) and runs the
// check. now stamps the backup.
func Apply(ctx context.Context, h remote.Host, p *Change, now time.Time) (*Applied, error) {
	a := &Applied{Change: p}
	fail := func(op string, err error, fix string) (*Applied, error) {
		return a, &HostError{Host: h.Name(), Op: op, Err: err, Fix: fix}
	}
	s := p.spec
	// the marker records a restart owed by a cut-off run; it is kept only
	// when this Apply restarts. A caller that restarts the agent itself (no
	// RestartCommand: the init runner's own step) takes the duty over, so
	// an old marker is cleared.
	runID := s.RunID
	if runID == "" {
		runID = "cmtls-" + now.UTC().Format("20060102T150405.000Z")
	}
	// the lock Plan took ends with this remote command, however it ends
	b := &remote.Batch{RunID: runID, Time: now, Unlock: p.lock}
	p.lock = nil
	if s.RestartCommand != "" {
		b.PendingMarker = PendingPath(s.ConfigPath)
	} else if p.RestartPending {
		b.Commands = append(b.Commands, remote.BatchCommand{Name: "clear-marker", Cmd: "rm -f -- " + remote.Quote(PendingPath(s.ConfigPath))})
	}
	if p.PEMChanged {
		fw := remote.FileWrite{Path: s.PEMDest, Data: s.PEM, Mode: 0o644, MkdirMode: 0o755, Journal: true}
		if p.FirstRun && p.pemExists {
			fw.OrigPath = OrigPath(s.PEMDest)
		}
		b.Files = append(b.Files, fw)
	}
	if p.ConfigChanged {
		a.BackupPath = remote.BackupPath(s.ConfigPath, now)
		// the mode read by Plan is given explicitly (set through the umask,
		// no chmod); owner and group are kept
		b.Files = append(b.Files, remote.FileWrite{Path: s.ConfigPath, Data: p.newConfig, Mode: p.cfgInfo.Mode &^ os.ModeType,
			BackupPath: a.BackupPath, OrigPath: OrigPath(s.ConfigPath), Journal: true})
	} else if p.FirstRun && p.PEMChanged {
		// keep the original even though only the PEM changes: Restore
		// relies on it to know that cmtls was here
		// made exclusively: a copy to a new name, linked (never replacing)
		// into place, so nothing is ever written through an existing name
		b.Commands = append(b.Commands, remote.BatchCommand{Name: "keep-orig",
			Cmd: fmt.Sprintf("[ -e %[2]s ] || { t=%[2]s.$$; cp -p -- %[1]s \"$t\" && { ln -- \"$t\" %[2]s || [ -e %[2]s ]; }; r=$?; rm -f -- \"$t\"; exit $r; }", remote.Quote(s.ConfigPath), remote.Quote(OrigPath(s.ConfigPath)))})
	}
	if p.FirstRun && (p.ConfigChanged || p.PEMChanged) {
		a.OrigPath = OrigPath(s.ConfigPath)
	}
	logTail := ""
	if s.LogPath != "" {
		logTail = fmt.Sprintf(" || { rc=$?; echo '--- last lines of %[1]s:'; tail -n 15 %[2]s 2>&1; exit $rc; }", strings.ReplaceAll(s.LogPath, "'", ""), remote.Quote(s.LogPath))
	}
	if s.RestartCommand != "" {
		b.Commands = append(b.Commands, remote.BatchCommand{Name: "restart", Cmd: "(" + s.RestartCommand + "\n)" + logTail, OnlyIfChanged: true, ClearsMarker: true})
	}
	if s.CheckCommand != "" {
		tries := s.CheckRetries
		if tries <= 0 {
			tries = 5
		}
		// retried only when it fails: a healthy agent costs one run
		b.Commands = append(b.Commands, remote.BatchCommand{Name: "check",
			Cmd: fmt.Sprintf("(i=1; while :; do { %s\n} && exit 0; [ $i -lt %d ] || exit 1; i=$((i+1)); sleep 1; done)%s", s.CheckCommand, tries, logTail)})
	}
	next := p.next
	p.next = nil
	res, err := remote.RunBatchNext(ctx, h, next, b)
	if res != nil {
		i := 0
		if p.PEMChanged {
			a.PEMChanged = res.Files[i].Changed
			i++
		}
		if p.ConfigChanged {
			a.ConfigChanged = res.Files[i].Changed
			// the name made (another run may have taken the one asked for)
			a.BackupPath = res.Files[i].BackupPath
		}
	}
	if err != nil {
		return fail("apply", err, "nothing was half-written (files are staged and renamed); fix the cause and re-run")
	}
	for _, c := range res.Commands {
		switch c.Name {
		case "keep-orig":
			if c.Code != 0 {
				return fail("apply", fmt.Errorf("cannot keep %s: %s", OrigPath(s.ConfigPath), strings.TrimSpace(string(c.Output))), "")
			}
		case "restart":
			a.Restarted = c.Ran && c.Code == 0
			if c.Ran && c.Code != 0 {
				return fail("restart", fmt.Errorf("%q exited %d: %s", s.RestartCommand, c.Code, tail(c.Output)),
					"look at the agent's log on the host; re-running retries the restart")
			}
		case "check":
			a.CheckOutput = tail(c.Output)
			a.Verified = c.Ran && c.Code == 0
			if !a.Verified {
				return fail("check", fmt.Errorf("%q exited %d: %s", s.CheckCommand, c.Code, tail(c.Output)),
					"the agent is not running after the change; see its log on the host, or run 'cmtls rollback'")
			}
		}
	}
	if s.CheckCommand == "" {
		a.Verified = true
	}
	return a, nil
}

// tail is the last few lines of a command's output, for messages.
func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	lines := strings.Split(s, "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	s = strings.Join(lines, " / ")
	if len(s) > 800 {
		s = s[len(s)-800:]
	}
	if s == "" {
		return "(no output)"
	}
	return s
}

// Restored is what Restore did.
type Restored struct {
	ConfigChanged bool `json:"config_changed"`
	PEMRestored   bool `json:"pem_restored"`
	PEMRemoved    bool `json:"pem_removed"`
	// UndoRun is the run whose changes were undone ("" on a host changed
	// before cmtls kept journals: restored from .cmtls.orig).
	UndoRun string `json:"undo_run,omitempty"`
	// EditedCopies: files edited since cmtls wrote them, kept here before
	// a forced restore replaced them.
	EditedCopies []string `json:"edited_copies,omitempty"`
	// DirsRemoved: the PEM's directory, which cmtls had created, is gone.
	DirsRemoved bool `json:"dirs_removed,omitempty"`
}

// RestoreOptions say how RestoreWith undoes a change.
type RestoreOptions struct {
	// Force restores over files edited since cmtls wrote them (a
	// *remote.DriftError with the diff otherwise, nothing touched); each
	// edited file is first kept as <file>.cmtls-<time>.edited.
	Force bool
	// Undo is the run to undo; "" = the most recent run recorded here.
	Undo string
	// All undoes every change cmtls recorded here (each file back to its
	// state before cmtls), instead of one run's.
	All bool
	// RunID names this restore in the journals ("" = "rollback-" + time).
	RunID string
	Now   time.Time // zero: now
	// Lock, when set, is the per-host lock (LockPath) held for the restore.
	Lock     *remote.LockInfo
	LockWait time.Duration
}

// Restore undoes every change cmtls recorded on the host (RestoreWith with
// All, without force): config.ini and the PEM back to their state before
// cmtls, as a rollback has always done, now refusing files edited since.
func Restore(ctx context.Context, h remote.Host, configPath, pemDest string) (*Restored, error) {
	return RestoreWith(ctx, h, configPath, pemDest, RestoreOptions{All: true})
}

// RestoreWith undoes the most recent change cmtls recorded in the journals
// of config.ini and the PEM (or the run o.Undo, or with o.All every change
// recorded, back to the state before cmtls): each file changed by that
// run gets its before-image back, byte for byte with its mode and owner; a
// PEM that run created is removed, with the directories it created for
// it. A file edited since is refused (*remote.DriftError, its diff in the
// message) unless o.Force. A host changed before cmtls kept journals is
// restored from <config>.cmtls.orig. It does not restart the agent (the
// caller does, once per host, after deciding). Two remote commands (three
// with a lock); a host cmtls never changed is an error.
func RestoreWith(ctx context.Context, h remote.Host, configPath, pemDest string, o RestoreOptions) (*Restored, error) {
	fail := func(err error, fix string) (*Restored, error) {
		return nil, &HostError{Host: h.Name(), Op: "restore", Err: err, Fix: fix}
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.RunID == "" {
		o.RunID = "rollback-" + o.Now.UTC().Format("20060102T150405.000Z")
	}
	var lock *remote.HostLock
	if o.Lock != nil {
		var err error
		if lock, err = remote.LockHost(ctx, h, LockPath(configPath), *o.Lock, o.LockWait); err != nil {
			return fail(err, "")
		}
	}
	undo := o.Undo
	if o.All {
		undo = remote.AllRuns
	}
	plan, err := remote.PlanRestore(ctx, h, undo, configPath, pemDest)
	if errors.Is(err, remote.ErrNoHistory) && (plan == nil || !plan.Journaled) {
		r, err := restoreOrig(ctx, h, configPath, pemDest, lock)
		if err != nil {
			fix := "nothing to roll back here"
			if errors.Is(err, remote.ErrSymlink) || errors.Is(err, remote.ErrNotRegular) {
				fix = ReadFix(err)
			}
			return fail(err, fix)
		}
		return r, nil
	}
	if err != nil {
		if lock != nil {
			_ = lock.Release(ctx)
		}
		return fail(err, ReadFix(err))
	}
	res, err := remote.ApplyRestore(ctx, h, plan, remote.RestoreOptions{RunID: o.RunID, Now: o.Now, Force: o.Force, Unlock: lock})
	if err != nil {
		return fail(err, "")
	}
	r := &Restored{UndoRun: plan.UndoRun}
	for _, f := range res.Files {
		if f.EditedCopy != "" {
			r.EditedCopies = append(r.EditedCopies, f.EditedCopy)
		}
		switch f.Path {
		case configPath:
			r.ConfigChanged = f.Changed
		case pemDest:
			r.PEMRemoved = f.Removed
			r.PEMRestored = f.Changed && !f.Removed
			r.DirsRemoved = f.DirsRemoved
		}
	}
	return r, nil
}

// restoreOrig is the restore of a host changed before cmtls kept journals:
// config.ini back from <config>.cmtls.orig, the PEM from <pem>.cmtls.orig
// or removed.
func restoreOrig(ctx context.Context, h remote.Host, configPath, pemDest string, lock *remote.HostLock) (*Restored, error) {
	files, err := remote.Read(ctx, h, remote.ReadSpec{Path: OrigPath(configPath)}, remote.ReadSpec{Path: OrigPath(pemDest)},
		remote.ReadSpec{Path: pemDest, StatOnly: true})
	if err != nil {
		if lock != nil {
			_ = lock.Release(ctx)
		}
		return nil, err
	}
	orig, pemOrig, pem := files[0], files[1], files[2]
	if !orig.Info.Exists {
		if lock != nil {
			_ = lock.Release(ctx)
		}
		return nil, fmt.Errorf("no journal %s and no backup %s: cmtls has not changed this host", remote.JournalPath(configPath), OrigPath(configPath))
	}
	b := &remote.Batch{Unlock: lock, Files: []remote.FileWrite{{Path: configPath, Data: orig.Data, Mode: orig.Info.Mode.Perm(),
		Owner: orig.Info.Owner, Group: orig.Info.Group, SkipIfSame: true}}}
	r := &Restored{}
	if pemOrig.Info.Exists {
		b.Files = append(b.Files, remote.FileWrite{Path: pemDest, Data: pemOrig.Data, Mode: pemOrig.Info.Mode.Perm(), SkipIfSame: true})
	} else if pem.Info.Exists {
		b.Commands = append(b.Commands, remote.BatchCommand{Name: "rm-pem", Cmd: "rm -f -- " + remote.Quote(pemDest)})
	}
	res, err := remote.RunBatch(ctx, h, b)
	if err != nil {
		return nil, err
	}
	r.ConfigChanged = res.Files[0].Changed
	if len(res.Files) > 1 {
		r.PEMRestored = res.Files[1].Changed
	}
	for _, c := range res.Commands {
		if c.Name == "rm-pem" {
			if c.Code != 0 {
				return r, fmt.Errorf("remove %s: %s", pemDest, tail(c.Output))
			}
			r.PEMRemoved = true
		}
	}
	return r, nil
}
