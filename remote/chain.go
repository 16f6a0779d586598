package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Next runs one more command on the remote shell a RunChain left waiting:
// at most once. Its stdin is fed right after the command. A host keeps at
// most one waiting shell: any other command on the host releases it first
// (sshd allows few sessions per connection), after which Alive is false and
// callers run their command the ordinary way (RunBatchNext does).
type Next struct {
	mu      sync.Mutex
	run     func(ctx context.Context, cmd string, stdin []byte) (*Result, error)
	release func()
}

// ErrNextGone is Next.Run's error once the waiting shell was released.
var ErrNextGone = errors.New("remote: the waiting shell was released or used")

// take returns the run function once; nil after Run or Release.
func (n *Next) take() func(ctx context.Context, cmd string, stdin []byte) (*Result, error) {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	r := n.run
	n.run = nil
	return r
}

// Alive reports whether the shell still waits for its command.
func (n *Next) Alive() bool {
	if n == nil {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.run != nil
}

// Run runs cmd on the waiting shell.
func (n *Next) Run(ctx context.Context, cmd string, stdin []byte) (*Result, error) {
	r := n.take()
	if r == nil {
		return nil, ErrNextGone
	}
	return r(ctx, cmd, stdin)
}

// Release ends the waiting shell without running anything.
func (n *Next) Release() {
	if n.take() != nil {
		n.release()
	}
}

// Chainer is a Host that can run a command and then, on the same remote
// shell, one more command chosen after reading the first one's output:
// plan-then-apply in one SSH session instead of two, which is a tenth of a
// host's cost at fleet scale. Hosts that cannot (local) do not implement
// it; callers fall back to two Runs.
type Chainer interface {
	RunChain(ctx context.Context, first string) (*Result, *Next, error)
}

// RunChain implements Chainer for hosts that have it (SSH, not requiretty).
func (h *shellHost) RunChain(ctx context.Context, first string) (*Result, *Next, error) {
	if h.chain == nil {
		res, err := h.run(ctx, first, nil)
		return res, nil, err
	}
	return h.chain(ctx, first)
}

// streamBuf collects a stream and wakes waiters on every write.
type streamBuf struct {
	mu   sync.Mutex
	b    bytes.Buffer
	wake chan struct{}
}

func newStreamBuf() *streamBuf { return &streamBuf{wake: make(chan struct{}, 1)} }

func (s *streamBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	n, err := s.b.Write(p)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return n, err
}

func (s *streamBuf) snapshot() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}

func (h *sshHost) chain(ctx context.Context, first string) (*Result, *Next, error) {
	if h.o.Become != "" {
		h.becomeOnce.Do(func() { h.becomeMode, h.becomeErr = h.probeSudo(ctx) })
		if h.becomeErr != nil {
			return nil, nil, h.becomeErr
		}
		if h.becomeMode != sudoNoPassword && h.becomeMode != sudoPassword {
			// requiretty: a pty cannot carry the protocol; two sessions
			res, err := h.run(ctx, first, nil)
			return res, nil, err
		}
	}
	h.releaseIdle()
	tag := "@cmtls-phase-" + randomTag()
	// the first command runs in a subshell (its exit ends only it), then
	// the shell reports its status on both streams and waits for a length
	// line and that many bytes of script, which it runs in place: the
	// script reads its own data from the same stdin after it. The script
	// must end with the tag: one cut off in transit is never run, not even
	// in part.
	prog := fmt.Sprintf("(\n%s\n) </dev/null\nrc=$?\nprintf '\\n%s %%d\\n' $rc\nprintf '\\n%s\\n' >&2\nIFS= read -r n || exit 0\ns=$(head -c \"$n\") || exit 1\ncase $s in *'#%s-end') ;; *) echo 'the command was cut off in transit; nothing was run' >&2; exit 70 ;; esac\neval \"$s\"\n", first, tag, tag, tag)
	cmd := pgPrefix + prog
	var pre []byte
	switch {
	case h.o.Become == "":
	case h.becomeMode == sudoNoPassword:
		cmd = h.sudo() + "-n -- sh -c " + Quote(prog)
	default:
		cmd = h.sudo() + "-k -S -p " + Quote(h.marker) + " -- sh -c " + Quote(prog)
		pre = append(append([]byte(nil), h.o.BecomePassword...), '\n')
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s, err := h.client.NewSession()
	if err != nil {
		return nil, nil, fmt.Errorf("open session: %w", err)
	}
	out, errb := newStreamBuf(), newStreamBuf()
	s.Stdout, s.Stderr = out, errb
	in, err := s.StdinPipe()
	if err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("open session: %w", err)
	}
	if err := s.Start(cmd); err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("start command: %w", err)
	}
	if len(pre) > 0 {
		if _, err := in.Write(pre); err != nil {
			s.Close()
			return nil, nil, fmt.Errorf("write to session: %w", err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	kill := func() {
		_ = s.Signal(ssh.SIGKILL)
		_ = s.Close()
	}
	stop := func() { h.terminate(s, done, killGrace(ctx), errb.snapshot) }
	outMark, errMark := []byte("\n"+tag+" "), []byte("\n"+tag+"\n")
	var timeout <-chan time.Time
	if h.timeout > 0 {
		t := time.NewTimer(h.timeout)
		defer t.Stop()
		timeout = t.C
	}
	for {
		o, e := out.snapshot(), errb.snapshot()
		if i := bytes.Index(o, outMark); i >= 0 {
			if j := bytes.IndexByte(o[i+len(outMark):], '\n'); j >= 0 {
				if k := bytes.Index(e, errMark); k >= 0 {
					code, cerr := strconv.Atoi(string(o[i+len(outMark) : i+len(outMark)+j]))
					if cerr != nil {
						kill()
						return nil, nil, fmt.Errorf("unexpected status from the remote shell")
					}
					_, first := splitPG(e[:k])
					res := &Result{Code: code, Stdout: o[:i], Stderr: bytes.Replace(first, []byte(h.marker), nil, 1)}
					outOff, errOff := i+len(outMark)+j+1, k+len(errMark)
					next := &Next{release: func() { _ = in.Close(); go func() { <-done; s.Close() }() }}
					next.run = func(ctx context.Context, cmd string, stdin []byte) (*Result, error) {
						h.forgetIdle(next)
						return h.finishChain(ctx, s, in, out, errb, done, outOff, errOff, cmd+"\n#"+tag+"-end", stdin)
					}
					h.setIdle(next)
					return res, next, nil
				}
			}
		}
		select {
		case <-out.wake:
		case <-errb.wake:
		case err := <-done:
			s.Close()
			o, e := out.snapshot(), errb.snapshot()
			return nil, nil, fmt.Errorf("the remote shell ended early: %v: %s", err, bytes.TrimSpace(append(o, e...)))
		case <-ctx.Done():
			stop()
			return nil, nil, ctx.Err()
		case <-timeout:
			stop()
			return nil, nil, fmt.Errorf("command timed out after %s", h.timeout)
		}
	}
}

func (h *sshHost) finishChain(ctx context.Context, s *ssh.Session, in io.WriteCloser, out, errb *streamBuf, done chan error, outOff, errOff int, cmd string, stdin []byte) (*Result, error) {
	if h.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.timeout)
		defer cancel()
	}
	defer s.Close()
	msg := make([]byte, 0, len(cmd)+len(stdin)+16)
	msg = strconv.AppendInt(msg, int64(len(cmd)), 10)
	msg = append(msg, '\n')
	msg = append(msg, cmd...)
	msg = append(msg, stdin...)
	go func() {
		_, _ = in.Write(msg)
		_ = in.Close()
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		h.terminate(s, done, killGrace(ctx), errb.snapshot)
		return nil, ctx.Err()
	}
	o, e := out.snapshot(), errb.snapshot()
	return sessionResult(o[outOff:], e[errOff:], err)
}

// releaseIdle ends the host's waiting shell, if any, before another
// session is opened.
func (h *sshHost) releaseIdle() {
	h.idleMu.Lock()
	n := h.idle
	h.idle = nil
	h.idleMu.Unlock()
	n.Release()
}

func (h *sshHost) setIdle(n *Next) {
	h.idleMu.Lock()
	old := h.idle
	h.idle = n
	h.idleMu.Unlock()
	if old != n {
		old.Release()
	}
}

func (h *sshHost) forgetIdle(n *Next) {
	h.idleMu.Lock()
	if h.idle == n {
		h.idle = nil
	}
	h.idleMu.Unlock()
}
