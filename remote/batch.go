package remote

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
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
func (b *Batch) Script() (string, []byte) {
	var s strings.Builder
	var stdin bytes.Buffer
	// umask 077: a temp file is never readable by others before its final
	// mode is set.
	s.WriteString("umask 077\nch=0\ntl=\ntrap 'rm -f $tl' EXIT\n")
	s.WriteString("die() { echo \"$2\" >&2; exit $1; }\n")
	s.WriteString("sum() { set -- $(sha256sum < \"$1\") && echo \"$1\"; }\n")
	// SELinux: the temp file is created in the target's own directory, so
	// it gets that directory's default context, and chcon --reference
	// copies a customised label of the replaced file. A file made in /tmp
	// and moved into /etc would keep tmp_t; copying into place (install,
	// cp) would relabel but is not atomic. Staging beside the target and
	// renaming gives both.
	if b.PendingMarker != "" {
		fmt.Fprintf(&s, "[ ! -e %s ] || ch=1\n", Quote(b.PendingMarker))
	}
	s.WriteString("sel=; [ -e /sys/fs/selinux/enforce ] && command -v chcon >/dev/null 2>&1 && sel=1\n")
	for i, f := range b.Files {
		want := sha256Hex(f.Data)
		fmt.Fprintf(&s, "d%d=%s\n", i, Quote(f.Path))
		fmt.Fprintf(&s, "[ ! -d \"$d%d\" ] || die 67 %s\n", i, Quote(f.Path+": is a directory"))
		if f.MkdirMode != 0 {
			fmt.Fprintf(&s, "[ -d %s ] || mkdir -p -m %o %s || exit 73\n", Quote(dirOf(f.Path)), f.MkdirMode.Perm(), Quote(dirOf(f.Path)))
		}
		fmt.Fprintf(&s, "s%d=1\n", i)
		if f.SkipIfSame {
			fmt.Fprintf(&s, "[ -f \"$d%d\" ] && [ \"$(sum \"$d%d\")\" = %s ] && s%d=0\n", i, i, want, i)
		}
		fmt.Fprintf(&s, "if [ $s%d = 1 ]; then\n", i)
		fmt.Fprintf(&s, " t%d=$(mktemp %s) || die 73 %s\n tl=\"$tl $t%d\"\n", i,
			Quote(dirOf(f.Path)+"/."+baseOf(f.Path)+".cmtls.XXXXXX"), Quote("cannot create a temp file beside "+f.Path), i)
		fmt.Fprintf(&s, " head -c %d > \"$t%d\" || die 74 %s\n", len(f.Data), i, Quote("cannot write beside "+f.Path+" (disk full or read-only?)"))
		fmt.Fprintf(&s, " [ \"$(sum \"$t%d\")\" = %s ] || die 74 %s\n", i, want, Quote("short write staging "+f.Path+" (input cut off or disk full); nothing replaced"))
		fmt.Fprintf(&s, " if [ -f \"$d%d\" ]; then\n", i)
		if f.Mode == 0 {
			fmt.Fprintf(&s, "  chmod --reference=\"$d%d\" \"$t%d\" || exit 75\n", i, i)
		}
		if f.Owner == "" && f.Group == "" {
			fmt.Fprintf(&s, "  chown --reference=\"$d%d\" \"$t%d\" 2>/dev/null || die 75 %s\n", i, i,
				Quote("cannot keep the owner of "+f.Path+" (log in as its owner or root, or use become: sudo)"))
		}
		fmt.Fprintf(&s, "  [ -z \"$sel\" ] || chcon --reference=\"$d%d\" \"$t%d\" 2>/dev/null || :\n", i, i)
		if f.Mode == 0 {
			fmt.Fprintf(&s, " else chmod 644 \"$t%d\" || exit 75\n", i)
		}
		s.WriteString(" fi\n")
		if f.Mode != 0 {
			fmt.Fprintf(&s, " chmod %o \"$t%d\" || exit 75\n", f.Mode.Perm()|modeBits(f.Mode), i)
		}
		if f.Owner != "" || f.Group != "" {
			og := f.Owner
			if f.Group != "" {
				og += ":" + f.Group
			}
			fmt.Fprintf(&s, " chown %s \"$t%d\" || exit 75\n", Quote(og), i)
		}
		s.WriteString("fi\n")
		stdin.Write(f.Data)
	}
	// backups, then renames: only once every file is staged
	for i, f := range b.Files {
		fmt.Fprintf(&s, "if [ $s%d = 1 ]; then :\n", i)
		if f.OrigPath != "" {
			fmt.Fprintf(&s, " [ ! -f \"$d%d\" ] || [ -e %s ] || cp -p \"$d%d\" %s || die 76 %s\n", i, Quote(f.OrigPath), i, Quote(f.OrigPath), Quote("cannot keep the original of "+f.Path))
		}
		if f.BackupPath != "" {
			fmt.Fprintf(&s, " if [ -f \"$d%d\" ]; then cp -p \"$d%d\" %s || die 76 %s; echo '%s backup %d'; fi\n", i, i, Quote(f.BackupPath), Quote("cannot back up "+f.Path), marker, i)
		}
		s.WriteString("fi\n")
	}
	if b.PendingMarker != "" && len(b.Files) > 0 {
		s.WriteString("if false")
		for i := range b.Files {
			fmt.Fprintf(&s, " || [ $s%d = 1 ]", i)
		}
		fmt.Fprintf(&s, "; then : > %s || die 76 %s; fi\n", Quote(b.PendingMarker), Quote("cannot create "+b.PendingMarker))
	}
	for i := range b.Files {
		fmt.Fprintf(&s, "if [ $s%d = 1 ]; then mv -f \"$t%d\" \"$d%d\" || exit 77; ch=1; echo '%s changed %d'; fi\n", i, i, i, marker, i)
	}
	for _, c := range b.Commands {
		if c.OnlyIfChanged {
			s.WriteString("if [ $ch = 1 ]; then\n")
		}
		fmt.Fprintf(&s, "echo '%s begin %s'\n", marker, c.Name)
		// the command runs in a subshell, with stdin closed: it gets none
		// of the batch's data, and cannot end the script with exit
		fmt.Fprintf(&s, "(%s\n) </dev/null 2>&1\n", c.Cmd)
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
	for _, f := range b.Files {
		if !strings.HasPrefix(f.Path, "/") {
			return nil, fmt.Errorf("host %s: write %s: the path must be absolute", h.Name(), f.Path)
		}
	}
	script, stdin := b.Script()
	res, err := h.Run(ctx, script, bytes.NewReader(stdin))
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

// Read reads (or only stats) several files in one remote command.
func Read(ctx context.Context, h Host, specs ...ReadSpec) ([]FileData, error) {
	paths := make([]string, len(specs))
	for i, sp := range specs {
		paths[i] = sp.Path
	}
	var s strings.Builder
	for i, sp := range specs {
		p := sp.Path
		cat := `cat -- "$f" || exit 1`
		if sp.StatOnly {
			cat = ":"
		}
		fmt.Fprintf(&s, "f=%s\nif [ -d \"$f\" ]; then echo %s >&2; exit %d\n", Quote(p), Quote(p+": is a directory, not a file"), codeIsDir)
		fmt.Fprintf(&s, "elif [ -e \"$f\" ]; then printf '%s file %d '; stat -c '%s' -- \"$f\" || exit 1; %s; printf '\\n%s eof %d\\n'\n", marker, i, statFormat, cat, marker, i)
		fmt.Fprintf(&s, "else echo '%s missing %d'; fi\n", marker, i)
	}
	res, err := h.Run(ctx, s.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("host %s: read %s: %w", h.Name(), strings.Join(paths, ", "), err)
	}
	if res.Code != 0 {
		return nil, &CommandError{Host: h.Name(), What: "read " + strings.Join(paths, ", "), Code: res.Code, Stderr: string(res.Stderr)}
	}
	out := make([]FileData, len(paths))
	rest := res.Stdout
	for i, p := range paths {
		out[i].Path = p
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return nil, fmt.Errorf("host %s: read %s: output cut off", h.Name(), p)
		}
		head := string(rest[:nl])
		rest = rest[nl+1:]
		if head == fmt.Sprintf("%s missing %d", marker, i) {
			continue
		}
		pre := fmt.Sprintf("%s file %d ", marker, i)
		if !strings.HasPrefix(head, pre) {
			return nil, fmt.Errorf("host %s: read %s: unexpected output %q", h.Name(), p, head)
		}
		fi, err := parseStat(head[len(pre):])
		if err != nil {
			return nil, fmt.Errorf("host %s: read %s: %w", h.Name(), p, err)
		}
		if !fi.Mode.IsRegular() {
			return nil, fmt.Errorf("host %s: read %s: %w", h.Name(), p, ErrNotRegular)
		}
		end := []byte(fmt.Sprintf("\n%s eof %d\n", marker, i))
		out[i].Info = fi
		if specs[i].StatOnly {
			if !bytes.HasPrefix(rest, end) {
				return nil, fmt.Errorf("host %s: stat %s: unexpected output", h.Name(), p)
			}
			rest = rest[len(end):]
			continue
		}
		// the size from stat frames the bytes; the eof marker proves the
		// file did not change size between stat and cat
		if int64(len(rest)) < fi.Size+int64(len(end)) || !bytes.Equal(rest[fi.Size:fi.Size+int64(len(end))], end) {
			return nil, fmt.Errorf("host %s: read %s: the file changed while it was read; run again", h.Name(), p)
		}
		out[i].Info = fi
		out[i].Data = append([]byte(nil), rest[:fi.Size]...)
		rest = rest[fi.Size+int64(len(end)):]
	}
	return out, nil
}
