package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Result is what a remote command left behind. Code is its exit status; a
// command that was killed by a signal or sent no status has Code -1.
type Result struct {
	Code   int
	Stdout []byte
	Stderr []byte
}

// OK reports exit status 0.
func (r *Result) OK() bool { return r != nil && r.Code == 0 }

// FileInfo describes a file on a host. A missing file is Exists=false with
// no error.
type FileInfo struct {
	Exists bool
	Mode   os.FileMode // permission bits plus setuid/setgid/sticky and the type (dir)
	Owner  string
	Group  string
	UID    int
	GID    int
	Size   int64
}

// PutOptions says how PutFile writes.
type PutOptions struct {
	// Mode of the written file. 0 keeps the mode of the file it replaces,
	// or 0644 for a new file.
	Mode os.FileMode
	// Owner and Group, when set, are given to the file (chown); otherwise a
	// replaced file's owner and group are kept, and a new file belongs to
	// whoever writes it.
	Owner, Group string
	// Backup keeps a copy (cp -p: same mode, owner, timestamps) of the
	// replaced file next to it as <path>.cmtls-<UTC stamp>.bak.
	Backup bool
	// RunID, when set, journals the write (see JournalPath): the
	// before-image is kept as the backup and recorded with its SHA-256 and
	// that of the new bytes, so that PlanRestore/ApplyRestore can undo it
	// and see later edits. One word (letters, digits, ._:-).
	RunID string
}

// PutResult says what PutFile did.
type PutResult struct {
	Changed    bool   // false: the file already had these bytes and was not touched
	BackupPath string // the copy of the replaced file, when Backup was asked and something was replaced
}

// Host is one machine: agent host, server host, or this machine.
//
// Every method is safe for concurrent use. Errors are transport or
// protocol errors; a command's own failure is its Result.Code.
type Host interface {
	// Name is the host's name as the user gave it (for messages).
	Name() string
	// Run runs cmd with sh on the host (as root when the host was opened
	// with become), feeding stdin (may be nil). err is only for transport
	// problems; the exit status is in Result.Code.
	Run(ctx context.Context, cmd string, stdin io.Reader) (*Result, error)
	// ReadFile returns a file's bytes. A missing file gives an error
	// matching errors.Is(err, fs.ErrNotExist).
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// Stat describes a file; a missing file is FileInfo{Exists: false}.
	Stat(ctx context.Context, path string) (FileInfo, error)
	// PutFile writes data to path atomically (temp file in the same
	// directory, then rename): readers see the old file or the new one,
	// never a mix. Identical bytes change nothing (Changed=false).
	PutFile(ctx context.Context, path string, data []byte, opt PutOptions) (PutResult, error)
	// Close ends the connection.
	Close() error
}

// CommandError is a remote command that exited non-zero where the caller
// needed it to succeed.
type CommandError struct {
	Host   string
	What   string // e.g. "write /etc/cmf/server.pem"
	Code   int
	Stderr string
}

func (e *CommandError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = fmt.Sprintf("exit status %d", e.Code)
	}
	if e.Host != "" {
		return fmt.Sprintf("host %s: %s: %s", e.Host, e.What, msg)
	}
	return fmt.Sprintf("%s: %s", e.What, msg)
}

// ErrNotRegular is returned when a path that must be a regular file is not.
var ErrNotRegular = errors.New("not a regular file")

// ErrSymlink is returned by Read for a path that is a symbolic link.
var ErrSymlink = errors.New("a symbolic link")
