package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aymanbagabas/go-udiff"
)

// FileRestore is the undoing of one file's most recent change (see
// JournalPath), as PlanRestore found it.
type FileRestore struct {
	Path string
	// Change is the (oldest) change undone: its before-image comes back.
	Change JournalEntry
	// Undone is how many changes the restore undoes (more than one with
	// AllRuns); Latest is the newest of them, whose bytes the file should
	// hold.
	Undone  int
	Latest  JournalEntry
	Current FileData // the file now
	Before  FileData // the before-image; Exists false: the change created the file, the restore removes it
	// Drift: the file no longer holds what cmtls wrote (someone edited,
	// replaced or removed it since). Restoring over it needs Force.
	Drift bool
}

// Diff shows, as a unified diff, what restoring would do to the file as it
// is now (binary files by their SHA-256 only).
func (r *FileRestore) Diff() string {
	now, then := r.Current.Data, r.Before.Data
	if !utf8.Valid(now) || !utf8.Valid(then) || bytes.IndexByte(now, 0) >= 0 || bytes.IndexByte(then, 0) >= 0 {
		return fmt.Sprintf("binary file %s: now sha256 %s, restore would make it %s\n", r.Path, sumOrNone(r.Current), sumOrNone(r.Before))
	}
	d := udiff.Unified(r.Path+" (now)", r.Path+" (after the restore)", string(now), string(then))
	if d == "" {
		return "(no difference in content)\n"
	}
	return d
}

func sumOrNone(f FileData) string {
	if !f.Info.Exists {
		return "(no file)"
	}
	return sha256Hex(f.Data)
}

// RestorePlan is what ApplyRestore will do on one host.
type RestorePlan struct {
	Host  string
	Files []*FileRestore
	// Untouched are the paths left as they are: no change of theirs is
	// outstanding, or their most recent change belongs to another run.
	Untouched []string
	// UndoRun is the run whose changes are undone.
	UndoRun string
	// Journaled: at least one of the files has a journal (cmtls recorded
	// changes here, even if all are undone by now).
	Journaled bool
	next      *Next
}

// Drifted is the files that no longer hold what cmtls wrote.
func (p *RestorePlan) Drifted() []*FileRestore {
	var out []*FileRestore
	for _, f := range p.Files {
		if f.Drift {
			out = append(out, f)
		}
	}
	return out
}

// Release frees the remote shell kept for ApplyRestore (a plan that will
// not be applied).
func (p *RestorePlan) Release() {
	if p != nil {
		p.next.Release()
		p.next = nil
	}
}

// AllRuns, as PlanRestore's undoRun, undoes every change cmtls recorded
// and has not undone yet: each file back to its state before cmtls.
const AllRuns = "*"

// ErrNoHistory: none of the files has a journal entry left to undo.
var ErrNoHistory = errors.New("cmtls has no recorded change to undo here")

// PlanRestore reads the journals of paths and the files themselves, finds
// the run to undo (undoRun, or when "" the most recent run among the
// files' outstanding changes, or with AllRuns every outstanding change:
// back to the state before cmtls) and reads the before-images of that run's
// changes: two remote commands, the second left waiting for ApplyRestore.
// A file whose newest outstanding change is not of that run is left alone
// (Untouched). No journal anywhere is ErrNoHistory.
func PlanRestore(ctx context.Context, h Host, undoRun string, paths ...string) (*RestorePlan, error) {
	specs := make([]ReadSpec, 0, 2*len(paths))
	for _, p := range paths {
		specs = append(specs, ReadSpec{Path: JournalPath(p)}, ReadSpec{Path: p})
	}
	files, err := Read(ctx, h, specs...)
	if err != nil {
		return nil, err
	}
	plan := &RestorePlan{Host: h.Name(), UndoRun: undoRun}
	tops := make([]*JournalEntry, len(paths))
	outs := make([][]JournalEntry, len(paths))
	for i, p := range paths {
		j := files[2*i]
		if !j.Info.Exists {
			continue
		}
		plan.Journaled = true
		entries, err := ParseJournal(j.Data)
		if err != nil {
			return nil, fmt.Errorf("host %s: %s: %w", h.Name(), JournalPath(p), err)
		}
		out, err := Outstanding(entries)
		if err != nil {
			return nil, fmt.Errorf("host %s: %s: %w", h.Name(), JournalPath(p), err)
		}
		if len(out) > 0 {
			tops[i] = &out[len(out)-1]
			outs[i] = out
		}
	}
	if undoRun == "" {
		// the most recent run among the files' outstanding changes
		var latest time.Time
		for _, e := range tops {
			if e != nil && !e.Time.Before(latest) {
				latest, plan.UndoRun = e.Time, e.RunID
			}
		}
	}
	var before []ReadSpec
	for i, p := range paths {
		top := tops[i]
		if top == nil || (top.RunID != plan.UndoRun && plan.UndoRun != AllRuns) {
			plan.Untouched = append(plan.Untouched, p)
			continue
		}
		cur := files[2*i+1]
		fr := &FileRestore{Path: p, Change: *top, Latest: *top, Undone: 1, Current: cur}
		if plan.UndoRun == AllRuns {
			fr.Change, fr.Undone = outs[i][0], len(outs[i])
		}
		fr.Drift = sumOf(cur) != top.Written
		plan.Files = append(plan.Files, fr)
		if fr.Change.BeforePath != "" {
			before = append(before, ReadSpec{Path: fr.Change.BeforePath})
		}
	}
	if len(plan.Files) == 0 {
		return plan, fmt.Errorf("host %s: %w", h.Name(), ErrNoHistory)
	}
	if len(before) == 0 {
		return plan, nil
	}
	bfiles, next, err := ReadNext(ctx, h, before...)
	if err != nil {
		return nil, err
	}
	k := 0
	for _, fr := range plan.Files {
		if fr.Change.BeforePath == "" {
			continue
		}
		fr.Before = bfiles[k]
		k++
		if !fr.Before.Info.Exists || sha256Hex(fr.Before.Data) != fr.Change.Before {
			next.Release()
			return nil, fmt.Errorf("host %s: %s: the backup %s of the state before run %s is gone or changed; restore it by hand", h.Name(), fr.Path, fr.Change.BeforePath, fr.Change.RunID)
		}
	}
	plan.next = next
	return plan, nil
}

func sumOf(f FileData) string {
	if !f.Info.Exists {
		return ""
	}
	return sha256Hex(f.Data)
}

// RestoreOptions say how ApplyRestore writes.
type RestoreOptions struct {
	RunID string    // the restore's run id in the journals
	Now   time.Time // stamps backups and journal lines (zero: now)
	// Force restores over files that drifted; each edited file is kept
	// first as <file>.cmtls-<stamp>.edited beside the backups.
	Force bool
	// Unlock, when set, is released at the end of the restore's remote
	// command (see LockHost).
	Unlock *HostLock
	// Commands run after the files are restored, in the same remote
	// command (e.g. the agent's restart).
	Commands []BatchCommand
}

// DriftError refuses a restore: files were changed since cmtls wrote them.
// Nothing was touched.
type DriftError struct {
	Host  string
	Files []*FileRestore
}

func (e *DriftError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "host %s: not restored, changed since cmtls wrote ", e.Host)
	for i, f := range e.Files {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.Path)
	}
	for _, f := range e.Files {
		b.WriteString("\n")
		b.WriteString(strings.TrimRight(f.Diff(), "\n"))
	}
	return b.String()
}

// Hint names the way out.
func (e *DriftError) Hint() string {
	return "someone edited the file after cmtls wrote it; the diff shows what a restore would change. Keep the edit (do nothing), or re-run with --force: the edited file is kept beside its backups as <file>.cmtls-<time>.edited"
}

// RestoreResult is what ApplyRestore did, per file in plan order.
type RestoreResult struct {
	Files    []RestoredFile
	Commands []CommandResult
}

// RestoredFile is one file's restore.
type RestoredFile struct {
	Path        string
	Changed     bool   // the file was written or removed
	Removed     bool   // cmtls had created it: removed
	EditedCopy  string // with Force over drift: where the edited file was kept
	DirsRemoved bool   // the directory cmtls created for it was removed (it was empty of anything else)
}

// ApplyRestore carries out plan in one remote command: files with a
// before-image get it back (atomically, its mode and owner, a backup of
// what they held); files cmtls created are removed, and the directories
// it created for them when nothing else is left in them. Each restore is
// journaled. Drifted files refuse the whole plan with a *DriftError
// unless o.Force.
func ApplyRestore(ctx context.Context, h Host, plan *RestorePlan, o RestoreOptions) (*RestoreResult, error) {
	next := plan.next
	plan.next = nil
	refuse := func(err error) (*RestoreResult, error) {
		next.Release()
		if o.Unlock != nil {
			_ = o.Unlock.Release(ctx)
		}
		return nil, err
	}
	if d := plan.Drifted(); len(d) > 0 && !o.Force {
		return refuse(&DriftError{Host: h.Name(), Files: d})
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if !validRunID(o.RunID) {
		return refuse(fmt.Errorf("host %s: restore: RunID %q must be one word", h.Name(), o.RunID))
	}
	stamp := o.Now.UTC().Format("20060102T150405.000Z")
	b := &Batch{RunID: o.RunID, Time: o.Now, Unlock: o.Unlock}
	out := &RestoreResult{Files: make([]RestoredFile, len(plan.Files))}
	fileIdx := make([]int, len(plan.Files))
	for i, fr := range plan.Files {
		out.Files[i].Path = fr.Path
		fileIdx[i] = -1
		edited := ""
		if fr.Drift && fr.Current.Info.Exists {
			edited = fr.Path + ".cmtls-" + stamp + ".edited"
			out.Files[i].EditedCopy = edited
		}
		if fr.Before.Info.Exists {
			bp := edited
			if bp == "" {
				bp = BackupPath(fr.Path, o.Now)
			}
			fileIdx[i] = len(b.Files)
			b.Files = append(b.Files, FileWrite{Path: fr.Path, Data: fr.Before.Data, Mode: fr.Before.Info.Mode &^ os.ModeType,
				Owner: fr.Before.Info.Owner, Group: fr.Before.Info.Group, BackupPath: bp, Journal: true, Undo: true, UndoCount: fr.Undone})
			continue
		}
		b.Commands = append(b.Commands, BatchCommand{Name: fmt.Sprintf("remove-%d", i), Cmd: removeScript(fr, edited, o)})
	}
	b.Commands = append(b.Commands, o.Commands...)
	res, err := RunBatchNext(ctx, h, next, b)
	if res != nil {
		for i, k := range fileIdx {
			if k >= 0 {
				out.Files[i].Changed = res.Files[k].Changed
			}
		}
		for _, c := range res.Commands {
			var i int
			if _, serr := fmt.Sscanf(c.Name, "remove-%d", &i); serr == nil && i >= 0 && i < len(out.Files) {
				if c.Ran && c.Code != 0 && err == nil {
					err = &CommandError{Host: h.Name(), What: "remove " + plan.Files[i].Path, Code: c.Code, Stderr: string(c.Output)}
				}
				out.Files[i].Changed = c.Ran && c.Code == 0
				out.Files[i].Removed = out.Files[i].Changed
				out.Files[i].DirsRemoved = bytes.Contains(c.Output, []byte(marker+" dirs-removed"))
				continue
			}
			out.Commands = append(out.Commands, c)
		}
	}
	return out, err
}

// removeScript removes a file cmtls created (keeping an edited one as
// edited), journals it, and removes the directories cmtls made for it when
// only cmtls's own files are left there.
func removeScript(fr *FileRestore, edited string, o RestoreOptions) string {
	d := Quote(fr.Path)
	var s strings.Builder
	cur := "-"
	if fr.Current.Info.Exists {
		cur = sha256Hex(fr.Current.Data)
		if edited != "" {
			fmt.Fprintf(&s, "ln -- %s %s || exit 76\n", d, Quote(edited))
		}
		fmt.Fprintf(&s, "rm -f -- %s || exit 77\n", d)
	}
	ed := "-"
	if edited != "" {
		ed = edited
	}
	line := fmt.Sprintf("%s\\trestore\\t%s\\t%s\\t%s\\t-\\t-\\t%%s\\n", journalVersion, o.Now.UTC().Format(time.RFC3339Nano), o.RunID, cur)
	n := max(1, fr.Undone)
	fmt.Fprintf(&s, "printf '%s'%s >> %s || exit 78\n", strings.Repeat(line, n), strings.Repeat(" "+Quote(ed), n), Quote(JournalPath(fr.Path)))
	if fr.Change.MadeDir != "" && edited == "" {
		// the directory is cmtls's: its backups and journal of this file go
		// with it; anything else in it keeps it (rmdir fails)
		fmt.Fprintf(&s, "rm -f -- %[1]s.cmtls-*.bak %[1]s.cmtls-journal %[1]s.cmtls.orig\n", d)
		fmt.Fprintf(&s, "p=%s; while rmdir -- \"$p\" 2>/dev/null; do [ \"$p\" != %s ] || { echo '%s dirs-removed'; break; }; p=${p%%/*}; done\n",
			Quote(dirOf(fr.Path)), Quote(fr.Change.MadeDir), marker)
	}
	s.WriteString("true")
	return s.String()
}
