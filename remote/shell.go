package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// runFunc runs one sh command line on a host.
type runFunc func(ctx context.Context, cmd string, stdin io.Reader) (*Result, error)

// shellHost implements ReadFile, Stat and PutFile with small POSIX sh
// scripts over a Run function, so the local and the SSH host share one
// implementation (and one contract test). The scripts need sh and GNU
// coreutils (cat, stat, sha256sum, mktemp, head, chmod, chown, cp, mv), which
// every distribution Cloudera Manager supports has.
type shellHost struct {
	name  string
	run   runFunc
	close func() error
	now   func() time.Time
	// chain, when set, runs a command and leaves the shell waiting for one
	// more (see Chainer)
	chain func(ctx context.Context, first string) (*Result, *Next, error)
}

func (h *shellHost) Name() string { return h.name }

func (h *shellHost) Run(ctx context.Context, cmd string, stdin io.Reader) (*Result, error) {
	return h.run(ctx, cmd, stdin)
}

func (h *shellHost) Close() error {
	if h.close == nil {
		return nil
	}
	return h.close()
}

// Exit codes the scripts use for conditions the caller tells apart.
const (
	codeNotExist = 66 // EX_NOINPUT
	codeIsDir    = 67
	codeSymlink  = 68
)

// Quote returns s as one single-quoted sh word.
func Quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:,=@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (h *shellHost) ReadFile(ctx context.Context, p string) ([]byte, error) {
	script := fmt.Sprintf(`f=%s; [ -e "$f" ] || exit %d; [ ! -d "$f" ] || exit %d; exec cat -- "$f"`, Quote(p), codeNotExist, codeIsDir)
	res, err := h.run(ctx, script, nil)
	if err != nil {
		return nil, fmt.Errorf("host %s: read %s: %w", h.name, p, err)
	}
	switch res.Code {
	case 0:
		return res.Stdout, nil
	case codeNotExist:
		return nil, &fs.PathError{Op: "read", Path: p, Err: fs.ErrNotExist}
	case codeIsDir:
		return nil, &fs.PathError{Op: "read", Path: p, Err: ErrNotRegular}
	}
	return nil, &CommandError{Host: h.name, What: "read " + p, Code: res.Code, Stderr: string(res.Stderr)}
}

// statFormat is GNU stat's: raw mode in hex, uid, gid, size, owner, group.
const statFormat = `%f %u %g %s %U %G`

func (h *shellHost) Stat(ctx context.Context, p string) (FileInfo, error) {
	script := fmt.Sprintf(`f=%s; [ -e "$f" ] || exit %d; exec stat -c '%s' -- "$f"`, Quote(p), codeNotExist, statFormat)
	res, err := h.run(ctx, script, nil)
	if err != nil {
		return FileInfo{}, fmt.Errorf("host %s: stat %s: %w", h.name, p, err)
	}
	switch res.Code {
	case 0:
		fi, err := parseStat(string(bytes.TrimSpace(res.Stdout)))
		if err != nil {
			return FileInfo{}, fmt.Errorf("host %s: stat %s: %w", h.name, p, err)
		}
		return fi, nil
	case codeNotExist:
		return FileInfo{}, nil
	}
	return FileInfo{}, &CommandError{Host: h.name, What: "stat " + p, Code: res.Code, Stderr: string(res.Stderr)}
}

// parseStat reads one line of statFormat.
func parseStat(line string) (FileInfo, error) {
	f := strings.Fields(line)
	if len(f) < 6 {
		return FileInfo{}, fmt.Errorf("unexpected stat output %q", line)
	}
	raw, err1 := strconv.ParseUint(f[0], 16, 32)
	uid, err2 := strconv.Atoi(f[1])
	gid, err3 := strconv.Atoi(f[2])
	size, err4 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return FileInfo{}, fmt.Errorf("unexpected stat output %q", line)
	}
	return FileInfo{Exists: true, Mode: unixMode(uint32(raw)), UID: uid, GID: gid, Size: size, Owner: f[4], Group: f[5]}, nil
}

// unixMode turns a st_mode into an os.FileMode.
func unixMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	switch m & 0o170000 {
	case 0o040000:
		mode |= os.ModeDir
	case 0o120000:
		mode |= os.ModeSymlink
	case 0o010000:
		mode |= os.ModeNamedPipe
	case 0o140000:
		mode |= os.ModeSocket
	case 0o020000:
		mode |= os.ModeDevice | os.ModeCharDevice
	case 0o060000:
		mode |= os.ModeDevice
	}
	return mode
}

func (h *shellHost) PutFile(ctx context.Context, p string, data []byte, opt PutOptions) (PutResult, error) {
	fw := FileWrite{Path: p, Data: data, Mode: opt.Mode, Owner: opt.Owner, Group: opt.Group, SkipIfSame: true}
	now := h.now()
	if opt.Backup || opt.RunID != "" {
		fw.BackupPath = BackupPath(p, now)
	}
	fw.Journal = opt.RunID != ""
	res, err := RunBatch(ctx, h, &Batch{Files: []FileWrite{fw}, RunID: opt.RunID, Time: now})
	if err != nil {
		return PutResult{}, err
	}
	return res.Files[0], nil
}

// BackupPath is where a copy of p taken at t goes: p.cmtls-<UTC stamp>.bak.
func BackupPath(p string, t time.Time) string {
	return p + ".cmtls-" + t.UTC().Format("20060102T150405.000Z") + ".bak"
}

// sha256Hex is the hex SHA-256 of b.
func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// dirOf is the directory of a remote (POSIX) path.
func dirOf(p string) string { return path.Dir(p) }
