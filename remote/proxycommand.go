package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// expandProxyCommand replaces the tokens ssh_config(5) defines for
// ProxyCommand: %h the host to connect to (after HostName), %p its port,
// %r the remote user, %n the name as given, %% a percent sign.
func expandProxyCommand(cmd string, r resolved) string {
	var b strings.Builder
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		if c != '%' || i+1 == len(cmd) {
			b.WriteByte(c)
			continue
		}
		i++
		switch cmd[i] {
		case 'h':
			b.WriteString(r.host)
		case 'p':
			b.WriteString(strconv.Itoa(r.port))
		case 'r':
			b.WriteString(r.user)
		case 'n':
			b.WriteString(r.alias)
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(cmd[i])
		}
	}
	return b.String()
}

// proxyCommandConn runs ProxyCommand (with the user's shell, as OpenSSH
// does: "exec" in front, so the shell does not linger) and speaks SSH over
// its stdin and stdout. The command lives as long as the connection:
// closing the connection ends it (SIGTERM, then SIGKILL after a grace).
func proxyCommandConn(command string, r resolved) (*proxyConn, error) {
	shell := os.Getenv("SHELL")
	if shell == "" {
		shell = "/bin/sh"
	}
	cmd := exec.Command(shell, "-c", "exec "+command)
	// Pipes from os.Pipe are pollable: read and write deadlines work on
	// them, so the handshake timeout applies as it does to TCP.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		_ = inR.Close()
		_ = inW.Close()
		return nil, err
	}
	pc := &proxyConn{cmd: cmd, in: inW, out: outR, addr: proxyAddr(command), done: make(chan struct{})}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, &pc.stderr
	// its own process group: a terminal's Ctrl-C goes to cmtls, which
	// then closes the connection in order
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// a relay's own children may keep stderr open after it ends
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		for _, f := range []*os.File{inR, inW, outR, outW} {
			_ = f.Close()
		}
		return nil, fmt.Errorf("ProxyCommand %q: %w", command, err)
	}
	_ = inR.Close()
	_ = outW.Close()
	go func() {
		pc.waitErr = cmd.Wait()
		close(pc.done)
	}()
	return pc, nil
}

// proxyConn is a net.Conn over a ProxyCommand's stdio.
type proxyConn struct {
	cmd     *exec.Cmd
	in      *os.File // the command's stdin
	out     *os.File // the command's stdout
	addr    proxyAddr
	stderr  boundedBuffer
	done    chan struct{}
	waitErr error
	once    sync.Once
}

func (c *proxyConn) Read(p []byte) (int, error)  { return c.out.Read(p) }
func (c *proxyConn) Write(p []byte) (int, error) { return c.in.Write(p) }

// Close ends the command: its stdin closes (a relay such as nc or ssh -W
// then exits), then SIGTERM, then SIGKILL after a grace.
func (c *proxyConn) Close() error {
	c.once.Do(func() {
		_ = c.in.Close()
		select {
		case <-c.done:
		case <-time.After(500 * time.Millisecond):
			// the whole process group: a relay's helpers go too
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-c.done:
			case <-time.After(2 * time.Second):
				_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
				<-c.done
			}
		}
		// helpers still in the group after the command ended
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
		_ = c.out.Close()
	})
	return nil
}

// exited reports, after a short wait, whether the command has ended, and
// why, with what it wrote to stderr. A command still running did its part:
// the failure is the SSH server's (e.g. authentication).
func (c *proxyConn) exited() (string, bool) {
	select {
	case <-c.done:
	case <-time.After(300 * time.Millisecond):
		return "", false
	}
	why := "exited"
	if c.waitErr != nil {
		why = c.waitErr.Error()
	}
	if msg := strings.TrimSpace(c.stderr.String()); msg != "" {
		why += ": " + msg
	}
	return why, true
}

func (c *proxyConn) LocalAddr() net.Addr  { return c.addr }
func (c *proxyConn) RemoteAddr() net.Addr { return c.addr }
func (c *proxyConn) SetDeadline(t time.Time) error {
	return errors.Join(c.in.SetWriteDeadline(t), c.out.SetReadDeadline(t))
}
func (c *proxyConn) SetReadDeadline(t time.Time) error  { return c.out.SetReadDeadline(t) }
func (c *proxyConn) SetWriteDeadline(t time.Time) error { return c.in.SetWriteDeadline(t) }

// proxyAddr names the command as the connection's address.
type proxyAddr string

func (a proxyAddr) Network() string { return "proxycommand" }
func (a proxyAddr) String() string  { return string(a) }

// boundedBuffer keeps the first 4 KiB a command writes to stderr.
type boundedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *boundedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := 4096 - w.b.Len(); room > 0 {
		w.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (w *boundedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// dialProxyCommand starts r's ProxyCommand as the transport to r.
func dialProxyCommand(ctx context.Context, r resolved) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pc, err := proxyCommandConn(expandProxyCommand(r.proxyCommand, r), r)
	if err != nil {
		return nil, &UnreachableError{Addr: dialAddr(r.host, r.port), Err: err}
	}
	return pc, nil
}

// proxyCommandError adds what the ProxyCommand said to a handshake that
// failed because the command ended (its exit status and stderr say more
// than "EOF"). The caller closes conn.
func proxyCommandError(conn net.Conn, r resolved, err error) error {
	pc, ok := conn.(*proxyConn)
	if !ok {
		return err
	}
	if why, ok := pc.exited(); ok {
		return &UnreachableError{Addr: dialAddr(r.host, r.port), Err: fmt.Errorf("ProxyCommand %q %s (%w)", r.proxyCommand, why, err)}
	}
	return err
}

var _ io.ReadWriteCloser = (*proxyConn)(nil)
