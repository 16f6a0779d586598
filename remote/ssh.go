package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Target is one host to reach over SSH. Name is the name the user gave (an
// ~/.ssh/config alias, a host name); Address, Port and User, when set,
// win over ~/.ssh/config, which wins over Options' defaults.
type Target struct {
	Name    string
	Address string
	Port    int
	User    string
	// IdentityFile is this host's own private key (an inventory's
	// ansible_ssh_private_key_file); it is tried before Options'
	// IdentityFiles. A leading ~ is expanded.
	IdentityFile string
	// Become, when set, replaces Options.Become for this host: "sudo", or
	// "none" to run as the login user where Options says sudo (Ansible's
	// per-host ansible_become).
	Become string
	// BecomeUser, when set, replaces Options.BecomeUser for this host.
	BecomeUser string
	// BecomePassword, when set, replaces Options.BecomePassword for this
	// host. It travels on stdin only, like Options'.
	BecomePassword []byte
}

// Options are the SSH settings shared by every host of a run.
type Options struct {
	// User is the login user when neither the Target nor ~/.ssh/config
	// names one (default: the local user).
	User string
	// Port when neither the Target nor ~/.ssh/config names one (default 22).
	Port int
	// IdentityFiles are private keys tried first (before ~/.ssh/config's
	// IdentityFile and the agent's keys). A leading ~ is expanded.
	IdentityFiles []string
	// Passphrase returns the passphrase of an encrypted key (a TUI prompt,
	// or a secret from the answers file). nil: encrypted keys are skipped
	// with a warning.
	Passphrase func(path string) ([]byte, error)
	// AgentSocket is the ssh-agent socket ($SSH_AUTH_SOCK); "" = no agent.
	AgentSocket string
	// KnownHostsFiles are the known_hosts files; the first is where newly
	// accepted keys are appended. Empty: ~/.ssh/config's
	// UserKnownHostsFile, else ~/.ssh/known_hosts (plus
	// /etc/ssh/ssh_known_hosts when it exists, read-only).
	KnownHostsFiles []string
	// SSHConfigPath is the OpenSSH client config; "" = ~/.ssh/config if it
	// exists, "none" = no config file.
	SSHConfigPath string
	// AcceptNewHostKeys trusts a host seen for the first time and records
	// its key (OpenSSH's StrictHostKeyChecking=accept-new). A changed key
	// is refused regardless.
	AcceptNewHostKeys bool
	// AskHostKey, when set, is asked about a host seen for the first time
	// (address, SHA256 fingerprint); true records and trusts its key. Calls
	// are serialised. Not asked about a changed key: that is refused.
	AskHostKey func(addr, fingerprint string) bool
	// Become is "" (run as the login user) or "sudo" (commands run as root
	// through sudo; files are written as root).
	Become string
	// BecomeUser is the user sudo runs commands as ("" = root).
	BecomeUser string
	// BecomePassword is sudo's password; it travels on the command's stdin
	// only, never on a command line.
	BecomePassword []byte
	// ConnectTimeout bounds TCP connect plus SSH handshake and auth
	// (default 15s, or ~/.ssh/config's ConnectTimeout).
	ConnectTimeout time.Duration
	// CommandTimeout bounds each command (0 = only the caller's context).
	CommandTimeout time.Duration
	// Warn receives non-fatal remarks (an ssh config that cannot be
	// parsed, an encrypted key without passphrase). May be nil.
	Warn func(string)
	// HomeDir replaces the user's home for ~ expansion (tests).
	HomeDir string
}

// Dial opens one SSH connection to t. Every Run, ReadFile, Stat and PutFile
// on the returned Host is a session multiplexed over that connection.
func Dial(ctx context.Context, t Target, o Options) (Host, error) {
	d, err := NewDialer(o)
	if err != nil {
		return nil, err
	}
	return d.Dial(ctx, t)
}

// sshHost is the SSH Host: one client connection (plus the jump hosts it
// goes through), sessions per command.
type sshHost struct {
	name    string
	client  *ssh.Client
	jumps   []*ssh.Client
	o       *Options
	timeout time.Duration

	// idle is the shell a RunChain left waiting (at most one per host)
	idleMu sync.Mutex
	idle   *Next

	becomeOnce sync.Once
	becomeMode sudoMode
	becomeErr  error
	marker     string
}

func (h *sshHost) close() error {
	err := h.client.Close()
	for i := len(h.jumps) - 1; i >= 0; i-- {
		_ = h.jumps[i].Close()
	}
	return err
}

// run runs cmd in a new session. With become it goes through sudo.
func (h *sshHost) run(ctx context.Context, cmd string, stdin io.Reader) (*Result, error) {
	if h.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.timeout)
		defer cancel()
	}
	if h.o.Become == "" {
		return h.session(ctx, cmd, stdin, false, nil)
	}
	h.becomeOnce.Do(func() { h.becomeMode, h.becomeErr = h.probeSudo(ctx) })
	if h.becomeErr != nil {
		return nil, h.becomeErr
	}
	return h.runSudo(ctx, cmd, stdin)
}

// session runs one command. With pty, a terminal is requested (sudo's
// requiretty) and onPty, when set, gets to answer the output as it comes.
func (h *sshHost) session(ctx context.Context, cmd string, stdin io.Reader, pty bool, answer func(w io.Writer, seen []byte) bool) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h.releaseIdle()
	s, err := h.client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("open session: %w", err)
	}
	defer s.Close()
	var out, errb lockedBuffer
	s.Stdout, s.Stderr = &out, &errb
	in, err := s.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("open session: %w", err)
	}
	if pty {
		// no echo, and no \n -> \r\n on output, so that output bytes stay as
		// they are (stderr is merged into stdout on a terminal though)
		modes := ssh.TerminalModes{ssh.ECHO: 0, ssh.ONLCR: 0, ssh.OPOST: 0, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
		if err := s.RequestPty("dumb", 40, 200, modes); err != nil {
			return nil, fmt.Errorf("request pty: %w", err)
		}
	}
	if !pty {
		cmd = pgPrefix + cmd
	}
	if err := s.Start(cmd); err != nil {
		return nil, fmt.Errorf("start command: %w", err)
	}
	if answer != nil {
		// watch the output for sudo's prompt; the password is written only
		// when it is asked for
		go func() {
			deadline := time.NewTimer(30 * time.Second)
			defer deadline.Stop()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-deadline.C:
					return
				case <-tick.C:
					if answer(in, out.Bytes()) {
						if stdin != nil {
							_, _ = io.Copy(in, stdin)
						}
						return
					}
				}
			}
		}()
	} else {
		go func() {
			if stdin != nil {
				// errors are ignored: a command may exit without reading all
				// of its input, and its exit status tells what happened
				_, _ = io.Copy(in, stdin)
			}
			_ = in.Close()
		}()
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		h.terminate(s, done, killGrace(ctx), errb.Bytes)
		return nil, ctx.Err()
	}
	_, rest := splitPG(errb.Bytes())
	return sessionResult(out.Bytes(), rest, err)
}

// sessionResult turns what an SSH session's Wait returned into a Result:
// an exit status is the command's code (-1 when a signal ended it); no
// exit status means the connection ended under the command.
func sessionResult(stdout, stderr []byte, err error) (*Result, error) {
	res := &Result{Stdout: stdout, Stderr: stderr}
	var ee *ssh.ExitError
	var em *ssh.ExitMissingError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Code = ee.ExitStatus()
		if ee.Signal() != "" {
			res.Code = -1
		}
	case errors.As(err, &em):
		return nil, errors.New("the connection ended before the command finished (no exit status)")
	default:
		return nil, fmt.Errorf("the connection ended before the command finished: %w", err)
	}
	return res, nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.b.Bytes()...)
}

// dialAddr is host:port for net.Dial.
func dialAddr(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

func trimLines(b []byte) string { return strings.TrimSpace(string(b)) }
