package remote

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A host lock is a file created exclusively ON the host (sh's noclobber:
// open with O_CREAT|O_EXCL), holding who took it: owner (user@machine),
// machine, pid, command, start time and a random token. Two cmtls runs on
// different machines that change the same host see each other through it;
// the host is the one place both reach. A lock is stale, and taken over
// with a note, when it is older than its bound, or when its holder's
// process is gone: checked on the host itself when the holder ran there,
// and on this machine when it ran here (the usual case: one admin box).

// DefaultStaleAfter bounds how long a lock is honoured when its holder
// cannot be checked (a run on another machine that died without
// releasing).
const DefaultStaleAfter = 2 * time.Hour

// codeLocked is the exit status of a lock script that found the lock held.
const codeLocked = 69

// LockInfo says who takes a lock. Zero fields are filled from this process.
type LockInfo struct {
	Command string // what the holder is doing, e.g. "cmtls agents push"
	Owner   string // user@machine
	Machine string // this machine's host name
	PID     int
	Since   time.Time
	// StaleAfter: older locks are taken over (0: DefaultStaleAfter).
	StaleAfter time.Duration
	// Note is told when a stale lock is taken over (may be nil).
	Note func(string)
}

func (i LockInfo) filled() LockInfo {
	if i.Machine == "" {
		i.Machine, _ = os.Hostname()
	}
	if i.Owner == "" {
		name := "?"
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
		i.Owner = name + "@" + i.Machine
	}
	if i.PID == 0 {
		i.PID = os.Getpid()
	}
	if i.Since.IsZero() {
		i.Since = time.Now()
	}
	if i.StaleAfter <= 0 {
		i.StaleAfter = DefaultStaleAfter
	}
	if i.Command == "" {
		i.Command = "cmtls"
	}
	return i
}

// LockHolder is what a lock file says about its holder.
type LockHolder struct {
	Owner   string
	Machine string
	PID     int
	Command string
	Since   time.Time
	Token   string
}

func parseLockHolder(b []byte) LockHolder {
	var h LockHolder
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch k {
		case "token":
			h.Token = v
		case "owner":
			h.Owner = v
		case "machine":
			h.Machine = v
		case "pid":
			h.PID, _ = strconv.Atoi(v)
		case "command":
			h.Command = v
		case "epoch":
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				h.Since = time.Unix(n, 0).UTC()
			}
		}
	}
	return h
}

// LockedError: another run holds the lock and did not let go within the
// wait. Its kind is an ordinary failure.
type LockedError struct {
	Host   string
	Path   string
	Holder LockHolder
	Waited time.Duration
}

func (e *LockedError) Error() string {
	since := "at an unknown time"
	if !e.Holder.Since.IsZero() {
		since = "since " + e.Holder.Since.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return fmt.Sprintf("host %s is busy: %q (pid %d on %s, as %s) holds %s %s; waited %s",
		e.Host, e.Holder.Command, e.Holder.PID, e.Holder.Machine, e.Holder.Owner, e.Path, since, e.Waited.Round(100*time.Millisecond))
}

// Hint names the way out.
func (e *LockedError) Hint() string {
	return fmt.Sprintf("let the other run finish and try again; if it is gone for good (its machine was rebooted), remove %s on %s", e.Path, e.Host)
}

// lockScript is the sh fragment that takes the lock at path, waiting up
// to wait, or exits codeLocked with the holder's lock file on stderr. A
// lock whose token is force is stale (its holder is known to be dead).
// Stale locks are removed under flock on their directory, so that two
// runs taking over the same stale lock cannot both win.
//
// A lock file that cannot be made (no directory, read-only, no
// permission) is an error, exit 73, unless noDirOK and its directory is
// missing: then there is nothing there to protect, and the caller's own
// read says so better (ReadNextLocked).
func lockScript(path string, i LockInfo, token string, wait time.Duration, force string, noDirOK bool) string {
	content := fmt.Sprintf("token=%s\nowner=%s\nmachine=%s\npid=%d\nsince=%s\nepoch=%d\ncommand=%s\n",
		token, oneLine(i.Owner), oneLine(i.Machine), i.PID, i.Since.UTC().Format(time.RFC3339), i.Since.Unix(), oneLine(i.Command))
	tries := int(wait / (200 * time.Millisecond))
	stale := int64(i.StaleAfter / time.Second)
	var s strings.Builder
	fmt.Fprintf(&s, "lk=%s; lkn=0; lkv=0\n", Quote(path))
	if noDirOK {
		s.WriteString("if [ -d \"${lk%/*}/\" ]; then\n")
	}
	fmt.Fprintf(&s, "while ! ( set -C; printf '%%s' %s > \"$lk\" ) 2>/dev/null; do\n", Quote(content))
	// gone between the attempt and the read (released): tried again, a
	// bounded number of times, since a lock that cannot be created at all
	// looks the same
	fmt.Fprintf(&s, " lkc=$(cat -- \"$lk\" 2>/dev/null) || { lkv=$((lkv+1)); [ $lkv -lt 20 ] || { echo %s >&2; exit 73; }; continue; }\n",
		Quote("cannot create the lock file "+path+" (missing directory, read-only file system, or no permission?)"))
	s.WriteString(" hp=; hm=; he=; ht=\n")
	s.WriteString(" while IFS='=' read -r k v; do case $k in pid) hp=$v;; machine) hm=$v;; epoch) he=$v;; token) ht=$v;; esac; done <<EOF\n$lkc\nEOF\n")
	s.WriteString(" case $hp in ''|*[!0-9]*) hp=;; esac; case $he in ''|*[!0-9]*) he=;; esac\n")
	s.WriteString(" why=\n")
	if force != "" {
		fmt.Fprintf(&s, " [ \"$ht\" != %s ] || why=\"its holder, pid $hp on $hm, is gone\"\n", Quote(force))
	}
	fmt.Fprintf(&s, " if [ -z \"$why\" ] && [ -n \"$he\" ] && [ $(( $(date +%%s) - he )) -gt %d ]; then why=\"it is older than %s\"\n", stale, i.StaleAfter)
	s.WriteString(" elif [ -z \"$why\" ] && [ -n \"$hp\" ] && [ \"$hm\" = \"$(uname -n)\" ] && [ ! -d \"/proc/$hp\" ]; then why=\"its holder, pid $hp on this host, is gone\"; fi\n")
	s.WriteString(" if [ -n \"$why\" ]; then\n")
	s.WriteString("  if ( exec 9<\"${lk%/*}/\"; if command -v flock >/dev/null 2>&1; then flock -w 5 9 || exit 1; fi; [ \"$(cat -- \"$lk\" 2>/dev/null)\" = \"$lkc\" ] && rm -f -- \"$lk\" ); then\n")
	fmt.Fprintf(&s, "   printf '%s lock-stale %%s: %%s\\n' \"$why\" \"$(printf '%%s' \"$lkc\" | tr '\\n' ' ')\" >&2\n", marker)
	s.WriteString("  fi\n  continue\n fi\n")
	fmt.Fprintf(&s, " [ $lkn -lt %d ] || { printf '%%s\\n' \"$lkc\" >&2; exit %d; }\n", tries, codeLocked)
	s.WriteString(" lkn=$((lkn+1)); sleep 0.2\ndone\n")
	if noDirOK {
		s.WriteString("fi\n")
	}
	return s.String()
}

// unlockScript removes the lock at path if it is still the one with token.
func unlockScript(path, token string) string {
	return fmt.Sprintf("lk=%s; ht=; while IFS='=' read -r k v; do [ \"$k\" != token ] || ht=$v; done 2>/dev/null < \"$lk\"; [ \"$ht\" != %s ] || rm -f -- \"$lk\"\n",
		Quote(path), Quote(token))
}

func oneLine(s string) string { return strings.NewReplacer("\n", " ", "\r", " ").Replace(s) }

// takenOver reports the stale locks a lock script took over (to i.Note).
func takenOver(h Host, path string, i LockInfo, stderr []byte) {
	for _, line := range strings.Split(string(stderr), "\n") {
		if rest, ok := strings.CutPrefix(line, marker+" lock-stale "); ok && i.Note != nil {
			i.Note(fmt.Sprintf("host %s: took over the stale lock %s (%s)", h.Name(), path, rest))
		}
	}
}

// HostLock is a lock held on a host; Release lets it go.
type HostLock struct {
	h     Host
	path  string
	token string
}

// Release removes the lock, if it is still ours.
func (l *HostLock) Release(ctx context.Context) error { return l.ReleaseVia(ctx, nil) }

// ReleaseVia releases the lock on the shell next left waiting (no new
// session), or in a command of its own when next is gone or nil.
func (l *HostLock) ReleaseVia(ctx context.Context, next *Next) error {
	var res *Result
	var err error
	if next.Alive() {
		res, err = next.Run(ctx, unlockScript(l.path, l.token), nil)
	}
	if res == nil {
		res, err = l.h.Run(ctx, unlockScript(l.path, l.token), nil)
	}
	if err != nil {
		return fmt.Errorf("host %s: release the lock %s: %w", l.h.Name(), l.path, err)
	}
	if res.Code != 0 {
		return &CommandError{Host: l.h.Name(), What: "release the lock " + l.path, Code: res.Code, Stderr: string(res.Stderr)}
	}
	return nil
}

// Lock takes the lock file at path on h, waiting up to wait while another
// run holds it (then a *LockedError naming the holder). A stale lock is
// taken over and info.Note told. One remote command when the lock is
// free; release is one more.
func Lock(ctx context.Context, h Host, path string, info LockInfo, wait time.Duration) (release func(context.Context) error, err error) {
	l, err := LockHost(ctx, h, path, info, wait)
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// LockHost is Lock returning the lock itself, which a Batch can release
// at its end (Batch.Unlock, RestoreOptions.Unlock) instead of one more
// remote command.
func LockHost(ctx context.Context, h Host, path string, info LockInfo, wait time.Duration) (*HostLock, error) {
	return lock(ctx, h, path, info, wait, "")
}

func lock(ctx context.Context, h Host, path string, info LockInfo, wait time.Duration, force string) (*HostLock, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("host %s: lock %s: the path must be absolute", h.Name(), path)
	}
	info = info.filled()
	token := randomTag()
	start := time.Now()
	res, err := h.Run(ctx, lockScript(path, info, token, wait, force, false), nil)
	if err != nil {
		return nil, fmt.Errorf("host %s: lock %s: %w", h.Name(), path, err)
	}
	takenOver(h, path, info, res.Stderr)
	switch res.Code {
	case 0:
		return &HostLock{h: h, path: path, token: token}, nil
	case codeLocked:
		le := &LockedError{Host: h.Name(), Path: path, Holder: parseLockHolder(res.Stderr), Waited: time.Since(start)}
		if force == "" && holderGoneHere(le.Holder) {
			return lock(ctx, h, path, info, wait, le.Holder.Token)
		}
		return nil, le
	}
	return nil, &CommandError{Host: h.Name(), What: "lock " + path, Code: res.Code, Stderr: string(res.Stderr)}
}

// holderGoneHere: the holder ran on this machine and its process is gone.
func holderGoneHere(hd LockHolder) bool {
	me, _ := os.Hostname()
	if hd.Token == "" || hd.PID <= 0 || hd.Machine != me || hd.PID == os.Getpid() {
		return false
	}
	err := syscall.Kill(hd.PID, 0)
	return err != nil && !errors.Is(err, syscall.EPERM)
}
