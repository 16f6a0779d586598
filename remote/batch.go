package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// A Batch is several file writes and commands done in ONE remote command,
// so that a host costs one round trip, not one per file: every file is first
// staged in a temp file beside its target and checked by SHA-256, then the
// replaced files are backed up, then every temp file is renamed into place
// (in order), then the commands run. If the connection drops or the context
// is cancelled while the data streams in, no target is touched (the temp
// files are removed); each rename is atomic, so a reader sees the old file
// or the new one, never a mix.
type Batch struct {
	Files    []FileWrite
	Commands []BatchCommand
	// RunID names the run in the journals of files written with Journal
	// (see JournalPath); it must be one word. Time stamps their entries and
	// automatic backups (zero: now).
	RunID string
	Time  time.Time
	// Unlock, when set, is released when the batch's remote command ends,
	// however it ends (the lock a ReadNextLocked took).
	Unlock *HostLock
	// PendingMarker, when set, is a file created just before the first
	// rename and removed once a command with ClearsMarker succeeds; while
	// it exists, OnlyIfChanged commands run even when no file changes. So a
	// restart cut off by a dropped connection is done by the next run.
	PendingMarker string
}

// FileWrite is one file of a Batch.
type FileWrite struct {
	Path string
	Data []byte
	// Mode, Owner, Group: as PutOptions (0/"" keep what is replaced; a new
	// file gets 0644 and its writer as owner).
	Mode         os.FileMode
	Owner, Group string
	// BackupPath, when set, receives a copy (cp -p) of the replaced file.
	BackupPath string
	// OrigPath, when set and no file exists there yet, receives a copy of
	// the replaced file: the pre-cmtls original, kept once, never
	// overwritten.
	OrigPath string
	// MkdirMode, when non-zero, creates missing parent directories with it.
	MkdirMode os.FileMode
	// SkipIfSame compares the target with Data on the host first and
	// leaves it alone when equal (a caller that just read the file knows
	// already and leaves this off to save the hash).
	SkipIfSame bool
	// Journal records the write, when it happens, in the file's journal
	// (JournalPath): the before-image (BackupPath, made when empty), its
	// SHA-256, the SHA-256 of Data, and the top-most directory MkdirMode
	// created. RestoreFiles undoes the most recent entry.
	Journal bool
	// Undo, with Journal, records the write as the undoing of the most
	// recent change instead of as a change (ApplyRestore sets it), or of
	// the UndoCount most recent ones (0: one).
	Undo      bool
	UndoCount int
}

// BatchCommand is a command run after the files are in place.
type BatchCommand struct {
	Name string // short id for the result, e.g. "restart"
	Cmd  string
	// OnlyIfChanged runs it only when some file of the batch changed.
	OnlyIfChanged bool
	// ClearsMarker removes Batch.PendingMarker when the command exits 0.
	ClearsMarker bool
}

// BatchResult is what a Batch did.
type BatchResult struct {
	Files    []PutResult // one per FileWrite, in order
	Commands []CommandResult
}

// CommandResult is one BatchCommand's outcome. Ran is false when it was
// skipped (OnlyIfChanged and nothing changed, or a file step failed).
type CommandResult struct {
	Name   string
	Ran    bool
	Code   int
	Output []byte // stdout and stderr together
}

const marker = "@cmtls"

// Script returns the sh script for the batch and what must be fed on stdin.
//
// The script is written for speed as much as for safety: at hundreds of
// hosts every process it starts costs, so checks use shell builtins (test
// -O/-G, read) and a process is started only for real work (head, mv, ln).
func (b *Batch) Script() (string, []byte) { return b.script(false) }

// inlineMax bounds the data put into a script rather than on stdin.
const inlineMax = 256 << 10

// script with inline puts the files' bytes into the script itself (printf,
// a builtin: no process per file). Only for scripts that travel on stdin
// (a chained command), never on a command line, and only text.
func (b *Batch) script(inline bool) (string, []byte) {
	var s strings.Builder
	var stdin bytes.Buffer
	tag := randomTag()
	// umask 077: a temp file is never readable by others before its final
	// mode is set.
	if b.Unlock != nil {
		fmt.Fprintf(&s, "unl() {\n%s}\n", unlockScript(b.Unlock.path, b.Unlock.token))
		s.WriteString("umask 077\nch=0\ntl=\ntrap '[ -z \"$tl\" ] || rm -f $tl; unl' EXIT\n")
	} else {
		s.WriteString("umask 077\nch=0\ntl=\ntrap '[ -z \"$tl\" ] || rm -f $tl' EXIT\n")
	}
	// a stop signal ends the script through exit, so that the EXIT trap
	// (temp files removed, lock released) runs in every sh (dash runs no
	// EXIT trap when a signal kills it)
	s.WriteString("trap 'exit 143' TERM; trap 'exit 129' HUP; trap 'exit 130' INT\n")
	s.WriteString("die() { echo \"$2\" >&2; exit $1; }\n")
	if b.PendingMarker != "" {
		fmt.Fprintf(&s, "[ ! -e %s ] || ch=1\n", Quote(b.PendingMarker))
	}
	// SELinux: the temp file is created in the target's own directory, so
	// it gets that directory's default context, and chcon --reference
	// copies a customised label of the replaced file. A file made in /tmp
	// and moved into /etc would keep tmp_t; copying into place (install,
	// cp) would relabel but is not atomic. Staging beside the target and
	// renaming gives both.
	s.WriteString("sel=; [ -e /sys/fs/selinux/enforce ] && command -v chcon >/dev/null 2>&1 && sel=1\n")
	for i, f := range b.Files {
		want := sha256Hex(f.Data)
		fmt.Fprintf(&s, "d%d=%s\n", i, Quote(f.Path))
		fmt.Fprintf(&s, "[ ! -d \"$d%d\" ] || die 67 %s\n", i, Quote(f.Path+": is a directory"))
		fmt.Fprintf(&s, "[ ! -L \"$d%d\" ] || die 68 %s\n", i, Quote(f.Path+": is a symbolic link; write to its target instead"))
		fmt.Fprintf(&s, "m%d=-\n", i)
		if f.MkdirMode != 0 && f.Journal {
			// the top-most directory about to be made, for the journal
			fmt.Fprintf(&s, "p=%s; while [ -n \"$p\" ] && [ ! -d \"$p\" ]; do m%d=$p; p=${p%%/*}; done\n", Quote(dirOf(f.Path)), i)
		}
		if f.MkdirMode != 0 {
			// umask 022 for the parents mkdir -p makes (-m sets only the last)
			fmt.Fprintf(&s, "[ -d %[1]s ] || { umask 022; mkdir -p -m %[2]o %[1]s; } || die 73 %[3]s\numask 077\n", Quote(dirOf(f.Path)), f.MkdirMode.Perm(), Quote("cannot create "+dirOf(f.Path)))
		}
		fmt.Fprintf(&s, "s%d=1\n", i)
		if f.SkipIfSame {
			fmt.Fprintf(&s, "if [ -f \"$d%d\" ]; then set -- $(sha256sum < \"$d%d\"); [ \"$1\" != %s ] || s%d=0; fi\n", i, i, want, i)
		}
		fmt.Fprintf(&s, "if [ $s%d = 1 ]; then\n", i)
		// the final permission bits through the umask, so no chmod runs
		perm := f.Mode.Perm()
		explicit := f.Mode != 0 && modeBits(f.Mode) == 0
		if explicit {
			fmt.Fprintf(&s, " umask %03o\n", 0o777&^perm)
		} else if f.Mode == 0 {
			fmt.Fprintf(&s, " [ -e \"$d%d\" ] || umask 022\n", i)
		}
		fmt.Fprintf(&s, " t%d=%s\n tl=\"$tl $t%d\"\n", i, Quote(dirOf(f.Path)+"/."+baseOf(f.Path)+".cmtls."+tag), i)
		// noclobber: the temp name is created exclusively; true is a regular
		// builtin, so a failed redirection is a status, not a shell exit
		fmt.Fprintf(&s, " set -C; true 2>/dev/null > \"$t%d\" || die 73 %s; set +C; umask 077\n", i,
			Quote("cannot create a file beside "+f.Path+" (read-only file system, no space, or no permission?)"))
		// the data, then a trailer line: reading the trailer (a builtin)
		// proves that every byte arrived, or the target is left alone
		if inline {
			fmt.Fprintf(&s, " printf '%%s' %s > \"$t%d\" || die 74 %s\n", Quote(string(f.Data)), i, Quote("cannot write beside "+f.Path+" (disk full or read-only?)"))
		} else {
			fmt.Fprintf(&s, " head -c %d > \"$t%d\" || die 74 %s\n", len(f.Data), i, Quote("cannot write beside "+f.Path+" (disk full or read-only?)"))
			fmt.Fprintf(&s, " IFS= read -r x; [ \"$x\" = '%s-%s-%d' ] || die 74 %s\n", marker, tag, i, Quote("input cut off while staging "+f.Path+"; nothing replaced"))
			stdin.Write(f.Data)
			fmt.Fprintf(&stdin, "%s-%s-%d\n", marker, tag, i)
		}
		fmt.Fprintf(&s, " if [ -e \"$d%d\" ]; then\n", i)
		if f.Mode == 0 {
			fmt.Fprintf(&s, "  chmod --reference=\"$d%d\" \"$t%d\" || exit 75\n", i, i)
		}
		if f.Owner == "" && f.Group == "" {
			// keep owner and group; chown only when they differ from the
			// writer's (test -O/-G are builtins)
			fmt.Fprintf(&s, "  { [ -O \"$d%[1]d\" ] && [ -G \"$d%[1]d\" ] && [ -G \"$t%[1]d\" ]; } || chown --reference=\"$d%[1]d\" \"$t%[1]d\" 2>/dev/null || die 75 %[2]s\n", i,
				Quote("cannot keep the owner of "+f.Path+" (log in as its owner or root, or use become: sudo)"))
		}
		fmt.Fprintf(&s, "  [ -z \"$sel\" ] || chcon --reference=\"$d%d\" \"$t%d\" 2>/dev/null || :\n", i, i)
		s.WriteString(" fi\n")
		if f.Mode != 0 && !explicit {
			fmt.Fprintf(&s, " chmod %o \"$t%d\" || exit 75\n", perm|modeBits(f.Mode), i)
		}
		if f.Owner != "" || f.Group != "" {
			og := f.Owner
			if f.Group != "" {
				og += ":" + f.Group
			}
			fmt.Fprintf(&s, " chown %s \"$t%d\" || die 75 %s\n", Quote(og), i, Quote("cannot give "+f.Path+" to "+og))
		}
		s.WriteString("fi\n")
	}
	// backups, then renames: only once every file is staged. A backup is a
	// hard link to the file being replaced (no copy; cp -p where links
	// fail): after the rename the old inode lives on under the backup's
	// name alone, with its mode, owner, label and times. keep makes a
	// backup name exclusively: ln and the final ln of a copy never replace
	// an existing name, and nothing is ever copied onto an existing file,
	// which would write through it into every hard link it has (a second
	// run's backup or original would take the new bytes).
	needKeep := false
	for _, f := range b.Files {
		if f.OrigPath != "" || f.BackupPath != "" || f.Journal {
			needKeep = true
		}
	}
	if needKeep {
		s.WriteString("keep() { ln -- \"$1\" \"$2\" 2>/dev/null && return 0; { [ ! -e \"$2\" ] && [ ! -L \"$2\" ]; } || return 1; tl=\"$tl $2.$tag\"; cp -p -- \"$1\" \"$2.$tag\" && ln -- \"$2.$tag\" \"$2\"; r=$?; rm -f -- \"$2.$tag\"; [ $r = 0 ] || return $r; set -- $(sha256sum < \"$1\") $(sha256sum < \"$2\"); [ \"$1\" = \"$3\" ]; }\n")
		fmt.Fprintf(&s, "tag=%s\n", tag)
	}
	for i, f := range b.Files {
		bp := f.BackupPath
		if bp == "" && f.Journal {
			bp = BackupPath(f.Path, b.now())
		}
		fmt.Fprintf(&s, "b%d=-; hb%d=-\n", i, i)
		fmt.Fprintf(&s, "if [ $s%d = 1 ] && [ -f \"$d%d\" ]; then :\n", i, i)
		if f.OrigPath != "" {
			// the pristine original: made once, exclusively, and checked
			// to hold the bytes being replaced; one made by a concurrent
			// run is left as it is
			fmt.Fprintf(&s, " keep \"$d%[1]d\" %[2]s || [ -e %[2]s ] || die 76 %[3]s\n", i, Quote(f.OrigPath), Quote("cannot keep the original of "+f.Path))
		}
		if bp != "" {
			fmt.Fprintf(&s, " b%[1]d=%[2]s; keep \"$d%[1]d\" \"$b%[1]d\" || { b%[1]d=%[3]s; keep \"$d%[1]d\" \"$b%[1]d\"; } || die 76 %[4]s; echo '%[5]s backup %[1]d' \"$b%[1]d\"\n",
				i, Quote(bp), Quote(bp+"."+tag), Quote("cannot back up "+f.Path), marker)
		}
		if f.Journal {
			// the hash of the before-image itself, which is what the
			// journal promises
			fmt.Fprintf(&s, " set -- $(sha256sum < \"$b%[1]d\"); hb%[1]d=$1\n", i)
		}
		s.WriteString("fi\n")
	}
	if b.PendingMarker != "" && len(b.Files) > 0 {
		s.WriteString("if false")
		for i := range b.Files {
			fmt.Fprintf(&s, " || [ $s%d = 1 ]", i)
		}
		fmt.Fprintf(&s, "; then true > %s || die 76 %s; fi\n", Quote(b.PendingMarker), Quote("cannot create "+b.PendingMarker))
	}
	for i, f := range b.Files {
		fmt.Fprintf(&s, "if [ $s%d = 1 ]; then mv -f \"$t%d\" \"$d%d\" || exit 77; ch=1; echo '%s changed %d'", i, i, i, marker, i)
		if f.Journal {
			kind, lines := "change", 1
			if f.Undo {
				kind, lines = "restore", max(1, f.UndoCount)
			}
			// one printf, so the lines land in one write
			line := fmt.Sprintf("%s\\t%s\\t%s\\t%s\\t%%s\\t%s\\t%%s\\t%%s\\n", journalVersion, kind, b.now().UTC().Format(time.RFC3339Nano), b.RunID, sha256Hex(f.Data))
			args := strings.Repeat(fmt.Sprintf(" \"$hb%d\" \"$m%d\" \"$b%d\"", i, i, i), lines)
			fmt.Fprintf(&s, "\n printf '%s'%s >> %s || die 78 %s\n",
				strings.Repeat(line, lines), args, Quote(JournalPath(f.Path)), Quote("cannot append to "+JournalPath(f.Path)))
			s.WriteString("fi\n")
			continue
		}
		s.WriteString("; fi\n")
	}
	// every temp file is renamed: nothing left for the exit trap to remove
	s.WriteString("tl=\n")
	for _, c := range b.Commands {
		if c.OnlyIfChanged {
			s.WriteString("if [ $ch = 1 ]; then\n")
		}
		fmt.Fprintf(&s, "echo '%s begin %s'\n", marker, c.Name)
		// the command runs in a subshell, with stdin closed: it gets none
		// of the batch's data, and cannot end the script with exit (the
		// space keeps bash, a login shell, from reading "((" as arithmetic
		// when the command itself starts with a parenthesis)
		fmt.Fprintf(&s, "( %s\n) </dev/null 2>&1\n", c.Cmd)
		s.WriteString("rc=$?\n")
		if c.ClearsMarker && b.PendingMarker != "" {
			fmt.Fprintf(&s, "[ $rc != 0 ] || rm -f %s\n", Quote(b.PendingMarker))
		}
		fmt.Fprintf(&s, "printf '\\n%s end %s %%d\\n' $rc\n", marker, c.Name)
		if c.OnlyIfChanged {
			s.WriteString("fi\n")
		}
	}
	s.WriteString("exit 0\n")
	return s.String(), stdin.Bytes()
}

// validRunID: one word of letters, digits and ._:- (it goes into a
// script and a tab-separated journal line as it is).
func validRunID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._:-", r)) {
			return false
		}
	}
	return true
}

func (b *Batch) now() time.Time {
	if b.Time.IsZero() {
		b.Time = time.Now()
	}
	return b.Time
}

func randomTag() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func modeBits(m os.FileMode) os.FileMode {
	var b os.FileMode
	if m&os.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

func baseOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// RunBatch runs b on h in one command.
func RunBatch(ctx context.Context, h Host, b *Batch) (*BatchResult, error) {
	return RunBatchNext(ctx, h, nil, b)
}

// RunBatchNext runs b on the shell next left waiting (see ReadNext), or in
// a new command when next is nil.
func RunBatchNext(ctx context.Context, h Host, next *Next, b *Batch) (*BatchResult, error) {
	for _, f := range b.Files {
		if !strings.HasPrefix(f.Path, "/") {
			return nil, fmt.Errorf("host %s: write %s: the path must be absolute", h.Name(), f.Path)
		}
		if f.Journal && (strings.ContainsAny(f.Path+f.BackupPath, "\t\n") || !validRunID(b.RunID)) {
			return nil, fmt.Errorf("host %s: write %s: a journaled write needs a one-word RunID and a path without tabs or newlines", h.Name(), f.Path)
		}
	}
	if !next.Alive() {
		// released (another command ran on the host since) or none: a
		// session of its own
		next = nil
	}
	inline := next != nil
	for _, f := range b.Files {
		if len(f.Data) > inlineMax || bytes.IndexByte(f.Data, 0) >= 0 {
			inline = false
		}
	}
	script, stdin := b.script(inline)
	var res *Result
	var err error
	if next != nil {
		res, err = next.Run(ctx, script, stdin)
	} else {
		res, err = h.Run(ctx, script, bytes.NewReader(stdin))
	}
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", h.Name(), err)
	}
	out, perr := parseBatch(b, res.Stdout)
	if res.Code != 0 {
		what := "write files"
		if len(b.Files) > 0 {
			names := make([]string, len(b.Files))
			for i, f := range b.Files {
				names[i] = f.Path
			}
			what = "write " + strings.Join(names, ", ")
		}
		return out, &CommandError{Host: h.Name(), What: what, Code: res.Code, Stderr: string(res.Stderr)}
	}
	if perr != nil {
		return out, fmt.Errorf("host %s: %w", h.Name(), perr)
	}
	return out, nil
}

func parseBatch(b *Batch, stdout []byte) (*BatchResult, error) {
	out := &BatchResult{Files: make([]PutResult, len(b.Files)), Commands: make([]CommandResult, len(b.Commands))}
	for i, c := range b.Commands {
		out.Commands[i].Name = c.Name
	}
	rest := stdout
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		f := strings.Fields(string(line))
		if len(f) < 3 || f[0] != marker {
			continue
		}
		switch f[1] {
		case "changed", "backup":
			i, err := strconv.Atoi(f[2])
			if err != nil || i < 0 || i >= len(b.Files) {
				return out, fmt.Errorf("unexpected batch output %q", line)
			}
			if f[1] == "changed" {
				out.Files[i].Changed = true
			} else if parts := strings.SplitN(string(line), " ", 4); len(parts) == 4 {
				// the name actually made (another run may have taken the
				// one asked for)
				out.Files[i].BackupPath = parts[3]
			} else {
				out.Files[i].BackupPath = b.Files[i].BackupPath
			}
		case "begin":
			ci := -1
			for j, c := range b.Commands {
				if c.Name == f[2] {
					ci = j
				}
			}
			if ci < 0 {
				return out, fmt.Errorf("unexpected batch output %q", line)
			}
			end := []byte("\n" + marker + " end " + f[2] + " ")
			k := bytes.Index(rest, end)
			if k < 0 {
				return out, fmt.Errorf("command %s: output cut off", f[2])
			}
			cr := &out.Commands[ci]
			cr.Ran = true
			cr.Output = append([]byte(nil), rest[:k]...)
			rest = rest[k+len(end):]
			codeEnd := bytes.IndexByte(rest, '\n')
			if codeEnd < 0 {
				codeEnd = len(rest)
			}
			code, err := strconv.Atoi(string(rest[:codeEnd]))
			if err != nil {
				return out, fmt.Errorf("command %s: unexpected status %q", f[2], rest[:codeEnd])
			}
			cr.Code = code
			if codeEnd < len(rest) {
				rest = rest[codeEnd+1:]
			} else {
				rest = nil
			}
		}
	}
	return out, nil
}

// FileData is one file read by ReadFiles.
type FileData struct {
	Path string
	Info FileInfo // Exists false: missing (Data nil)
	Data []byte
}

// ReadFiles reads several files (with their stat) in one remote command.
// A missing file is Info.Exists=false; a directory is an error.
func ReadFiles(ctx context.Context, h Host, paths ...string) ([]FileData, error) {
	specs := make([]ReadSpec, len(paths))
	for i, p := range paths {
		specs[i].Path = p
	}
	return Read(ctx, h, specs...)
}

// ReadSpec is one file for Read; StatOnly skips its content.
type ReadSpec struct {
	Path     string
	StatOnly bool
}

// Read reads (or only stats) several files in one remote command, with one
// stat and one cat for all of them.
func Read(ctx context.Context, h Host, specs ...ReadSpec) ([]FileData, error) {
	files, next, err := read(ctx, h, false, specs)
	next.Release()
	return files, err
}

// ReadNext is Read on a host that can chain (see Chainer): the remote shell
// stays, waiting for one more command (RunBatchNext), so that read and write
// cost one session. next is nil on hosts that cannot chain; the caller must
// Release a next it does not use.
func ReadNext(ctx context.Context, h Host, specs ...ReadSpec) ([]FileData, *Next, error) {
	return read(ctx, h, true, specs)
}

// LockRequest is a lock ReadNextLocked takes (see Lock).
type LockRequest struct {
	Path string
	Info LockInfo
	Wait time.Duration
}

// ReadNextLocked is ReadNext that first takes a lock on the host in the
// same remote command (no extra round trip): the lock is held until a
// batch run with Batch.Unlock set to it ends, or until its Release. A lock
// held by another run is a *LockedError once lk.Wait has passed.
func ReadNextLocked(ctx context.Context, h Host, lk LockRequest, specs ...ReadSpec) ([]FileData, *Next, *HostLock, error) {
	if !strings.HasPrefix(lk.Path, "/") {
		return nil, nil, nil, fmt.Errorf("host %s: lock %s: the path must be absolute", h.Name(), lk.Path)
	}
	info := lk.Info.filled()
	force := ""
	for {
		l := &HostLock{h: h, path: lk.Path, token: randomTag()}
		start := time.Now()
		files, next, stdout, err := readWith(ctx, h, true, specs, lockScript(lk.Path, info, l.token, lk.Wait, force, true))
		takenOver(h, lk.Path, info, stdout)
		var ce *CommandError
		if errors.As(err, &ce) && ce.Code == codeLocked {
			le := &LockedError{Host: h.Name(), Path: lk.Path, Holder: parseLockHolder([]byte(ce.Stderr)), Waited: time.Since(start)}
			if force == "" && holderGoneHere(le.Holder) {
				force = le.Holder.Token
				continue
			}
			return nil, nil, nil, le
		}
		if err != nil {
			return nil, nil, nil, err
		}
		return files, next, l, nil
	}
}

func read(ctx context.Context, h Host, chain bool, specs []ReadSpec) (files []FileData, next *Next, err error) {
	files, next, _, err = readWith(ctx, h, chain, specs, "")
	return files, next, err
}

func readWith(ctx context.Context, h Host, chain bool, specs []ReadSpec, pre string) (files []FileData, next *Next, stdout []byte, err error) {
	defer func() {
		if err != nil {
			next.Release()
			next = nil
		}
	}()
	paths := make([]string, len(specs))
	for i, sp := range specs {
		paths[i] = sp.Path
	}
	var s strings.Builder
	s.WriteString(pre)
	s.WriteString("e=\n")
	for i, p := range paths {
		// a symbolic link is refused, not followed: replacing it by rename
		// would turn the link into a file, and writing through it would
		// change a file somewhere else; the user is told where it points
		fmt.Fprintf(&s, "f%d=%s\nif [ -L \"$f%d\" ]; then echo %s\"$(readlink -- \"$f%d\")\" >&2; exit %d\nelif [ -d \"$f%d\" ]; then echo %s >&2; exit %d; elif [ -e \"$f%d\" ]; then e=\"$e 1\"; else e=\"$e 0\"; fi\n",
			i, Quote(p), i, Quote(p+": is a symbolic link, not a file; name its target instead: "), i, codeSymlink, i, Quote(p+": is a directory, not a file"), codeIsDir, i)
	}
	fmt.Fprintf(&s, "echo \"%s exists$e\"\nset --\n", marker)
	for i := range paths {
		fmt.Fprintf(&s, "[ ! -e \"$f%d\" ] || set -- \"$@\" \"$f%d\"\n", i, i)
	}
	fmt.Fprintf(&s, "[ $# = 0 ] || stat -c '%s' -- \"$@\" || exit 1\nset --\n", statFormat)
	for i, sp := range specs {
		if !sp.StatOnly {
			fmt.Fprintf(&s, "[ ! -e \"$f%d\" ] || set -- \"$@\" \"$f%d\"\n", i, i)
		}
	}
	fmt.Fprintf(&s, "[ $# = 0 ] || cat -- \"$@\" || exit 1\nprintf '\\n%s eof\\n'\n", marker)
	var res *Result
	if c, ok := h.(Chainer); ok && chain {
		res, next, err = c.RunChain(ctx, s.String())
	} else {
		res, err = h.Run(ctx, s.String(), nil)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("host %s: read %s: %w", h.Name(), strings.Join(paths, ", "), err)
	}
	if res.Code != 0 {
		ce := &CommandError{Host: h.Name(), What: "read " + strings.Join(paths, ", "), Code: res.Code, Stderr: string(res.Stderr)}
		switch res.Code {
		case codeSymlink:
			return nil, nil, nil, fmt.Errorf("%w: %w", ErrSymlink, ce)
		case codeIsDir:
			return nil, nil, nil, fmt.Errorf("%w: %w", ErrNotRegular, ce)
		}
		return nil, nil, nil, ce
	}
	bad := func(why string) ([]FileData, *Next, []byte, error) {
		return nil, nil, nil, fmt.Errorf("host %s: read %s: %s", h.Name(), strings.Join(paths, ", "), why)
	}
	out := make([]FileData, len(paths))
	rest := res.Stdout
	nextLine := func() (string, bool) {
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return "", false
		}
		l := string(rest[:nl])
		rest = rest[nl+1:]
		return l, true
	}
	head, ok := nextLine()
	ex := strings.Fields(strings.TrimPrefix(head, marker+" exists"))
	if !ok || !strings.HasPrefix(head, marker+" exists") || len(ex) != len(paths) {
		return bad("unexpected output")
	}
	for i := range paths {
		out[i].Path = paths[i]
		if ex[i] != "1" {
			continue
		}
		l, ok := nextLine()
		if !ok {
			return bad("output cut off")
		}
		fi, err := parseStat(l)
		if err != nil {
			return bad(err.Error())
		}
		if !fi.Mode.IsRegular() {
			return nil, nil, nil, fmt.Errorf("host %s: read %s: %w", h.Name(), paths[i], ErrNotRegular)
		}
		out[i].Info = fi
	}
	// the sizes from stat frame the bytes; the eof marker right after them
	// proves that no file changed size between stat and cat
	for i, sp := range specs {
		if !out[i].Info.Exists || sp.StatOnly {
			continue
		}
		n := out[i].Info.Size
		if int64(len(rest)) < n {
			return bad("a file changed while it was read; run again")
		}
		out[i].Data = append([]byte(nil), rest[:n]...)
		rest = rest[n:]
	}
	if string(rest) != "\n"+marker+" eof\n" {
		return bad("a file changed while it was read; run again")
	}
	return out, next, res.Stderr, nil
}
