package remote

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"
)

// Stopping a command on a host. A cancelled command is first asked to stop
// (SIGTERM, to its whole process group: on SSH through the session's
// "signal" request, RFC 4254 section 6.9, which OpenSSH's sshd delivers
// with killpg), and killed (SIGKILL) only if it is still running after a
// grace period: a service restart cut off by SIGKILL can leave the service
// down, one asked to stop finishes or backs out cleanly.

// DefaultKillGrace is the time between SIGTERM and SIGKILL.
const DefaultKillGrace = 5 * time.Second

type graceKey struct{}

// WithKillGrace returns a context under which a cancelled remote command
// gets d between SIGTERM and SIGKILL (0 or less: SIGKILL at once).
func WithKillGrace(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, graceKey{}, d)
}

func killGrace(ctx context.Context) time.Duration {
	if d, ok := ctx.Value(graceKey{}).(time.Duration); ok {
		return d
	}
	return DefaultKillGrace
}

// InFlight returns the context for one piece of host work that a first
// interrupt lets finish: it carries stop's values but not its
// cancellation, and is cancelled (with abort's cause) only when abort is.
// A runner checks stop before it starts new host work, and runs the work
// itself under InFlight(stop, abort): the first Ctrl-C cancels stop (no new
// host is started, commands running finish or time out), the second
// cancels abort (running commands get SIGTERM, then SIGKILL after the
// grace). Call the CancelFunc when the work is done.
func InFlight(stop, abort context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(stop))
	unregister := context.AfterFunc(abort, func() { cancel(context.Cause(abort)) })
	return ctx, func() {
		unregister()
		cancel(context.Canceled)
	}
}

// pgPrefix makes a command first tell its process group on stderr (the
// login shell leads it: sshd starts each session with setsid). sshd
// refuses "signal" requests for sessions it serves in its privileged
// monitor, which is every root login (sshd logs "session signalling
// requires privilege separation"), so the signal is also sent in band:
// kill on the group, from a session of its own. /proc/PID/stat's fifth
// field is the process group (proc(5)); read is a builtin.
//
// Only a shell that leads its own group tells it: a server that runs
// commands without a session of their own (an embedded test server, say)
// would name a group holding other processes, which must not be killed.
const pgPrefix = "read -r _ _ _ _ cmtls_pg _ < /proc/$$/stat 2>/dev/null && [ \"$cmtls_pg\" = $$ ] && printf '" + marker + "-pg %s\\n' \"$cmtls_pg\" >&2; "

// splitPG takes the process group line pgPrefix printed off stderr.
func splitPG(stderr []byte) (int, []byte) {
	p := []byte(marker + "-pg ")
	if !bytes.HasPrefix(stderr, p) {
		return 0, stderr
	}
	nl := bytes.IndexByte(stderr, '\n')
	if nl < 0 {
		return 0, stderr
	}
	pg, err := strconv.Atoi(string(stderr[len(p):nl]))
	if err != nil || pg <= 1 {
		return 0, stderr[nl+1:]
	}
	return pg, stderr[nl+1:]
}

// terminate stops an SSH session whose context ended: SIGTERM, then
// SIGKILL once grace has passed without the command ending (done). Each
// signal goes as a "signal" request (RFC 4254 section 6.9) and, when the
// command told its process group, as kill from a separate session.
func (h *sshHost) terminate(s *ssh.Session, done <-chan error, grace time.Duration, stderr func() []byte) {
	// the process group line may still be on its way: looked for again
	// until it is there or the command ends
	signal := func(sig ssh.Signal, name string, until <-chan time.Time) bool {
		_ = s.Signal(sig)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		sent := false
		for {
			if !sent {
				if pg, _ := splitPG(stderr()); pg > 0 {
					h.killGroup(pg, name)
					sent = true
				}
			}
			select {
			case <-done:
				return true
			case <-until:
				return false
			case <-tick.C:
			}
		}
	}
	if grace > 0 {
		t := time.NewTimer(grace)
		defer t.Stop()
		if signal(ssh.SIGTERM, "TERM", t.C) {
			_ = s.Close()
			return
		}
	}
	// killed: given a moment to end, not waited for
	t := time.NewTimer(time.Second)
	defer t.Stop()
	signal(ssh.SIGKILL, "KILL", t.C)
	_ = s.Close()
}

// killGroup sends sig to the process group pg on the host, in a session of
// its own (bounded: the host may be unreachable by now).
func (h *sshHost) killGroup(pg int, sig string) {
	ks, err := h.client.NewSession()
	if err != nil {
		return
	}
	defer ks.Close()
	done := make(chan struct{})
	go func() {
		// no "--": dash's kill takes a negative pid after the signal, not after --
		_ = ks.Run(fmt.Sprintf("kill -%s -%d 2>/dev/null", sig, pg))
		close(done)
	}()
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
