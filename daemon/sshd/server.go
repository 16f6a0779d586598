package sshd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Server serves one SSH endpoint.
type Server struct {
	cfg  *ssh.ServerConfig
	dir  string
	log  io.Writer
	user string

	mu     sync.Mutex
	lns    []net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Options configure a Server.
type Options struct {
	HostKey    ssh.Signer
	Authorized []ssh.PublicKey
	// User, when set, is the only login name accepted.
	User string
	// Dir is the working directory of commands and SFTP.
	Dir string
	Log io.Writer
}

// New returns a server; it refuses to run without an authorised key.
func New(o Options) (*Server, error) {
	if o.HostKey == nil || len(o.Authorized) == 0 {
		return nil, errors.New("sshd: a host key and an authorised key are required")
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	s := &Server{dir: o.Dir, log: o.Log, user: o.User, conns: map[net.Conn]struct{}{}}
	s.cfg = &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if s.user != "" && meta.User() != s.user {
				return nil, fmt.Errorf("user %q not allowed", meta.User())
			}
			for _, k := range o.Authorized {
				if bytes.Equal(k.Marshal(), key.Marshal()) {
					return &ssh.Permissions{}, nil
				}
			}
			return nil, errors.New("key not authorised")
		},
		MaxAuthTries: 6,
	}
	s.cfg.AddHostKey(o.HostKey)
	return s, nil
}

func (s *Server) logf(format string, args ...any) {
	fmt.Fprintf(s.log, "%s sshd[%d]: %s\n", time.Now().UTC().Format(time.RFC3339), os.Getpid(), fmt.Sprintf(format, args...))
}

// Serve accepts connections on l until Close.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.lns = append(s.lns, l)
	s.mu.Unlock()
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			return err
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.handleConn(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Close stops listening, drops connections and waits for their handlers.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for _, l := range s.lns {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) handleConn(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	sc, chans, reqs, err := ssh.NewServerConn(c, s.cfg)
	if err != nil {
		s.logf("connection from %s refused: %v", c.RemoteAddr(), err)
		return
	}
	_ = c.SetDeadline(time.Time{})
	s.logf("Accepted publickey for %s from %s", sc.User(), c.RemoteAddr())
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only session channels")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.session(ch, creqs)
		}()
	}
	wg.Wait()
}

func (s *Server) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var env []string
	for req := range reqs {
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			if ssh.Unmarshal(req.Payload, &kv) == nil {
				env = append(env, kv.Name+"="+kv.Value)
			}
			_ = req.Reply(true, nil)
		case "exec":
			var p struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &p); err != nil {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			code := s.exec(ch, p.Command, env)
			sendExit(ch, code)
			return
		case "subsystem":
			var p struct{ Name string }
			if err := ssh.Unmarshal(req.Payload, &p); err != nil || p.Name != "sftp" {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			opts := []sftp.ServerOption{}
			if s.dir != "" {
				opts = append(opts, sftp.WithServerWorkingDirectory(s.dir))
			}
			srv, err := sftp.NewServer(ch, opts...)
			if err != nil {
				sendExit(ch, 1)
				return
			}
			err = srv.Serve()
			srv.Close()
			code := 0
			if err != nil && !errors.Is(err, io.EOF) {
				code = 1
			}
			sendExit(ch, code)
			return
		default:
			// pty-req, shell, x11, forwarding: not offered.
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		}
	}
}

func (s *Server) exec(ch ssh.Channel, command string, env []string) int {
	s.logf("exec: %s", command)
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = ch
	cmd.Stderr = ch.Stderr()
	// Commands that daemonize must not keep the session open: their
	// output goes to their own files, and Wait returns at the shell's exit.
	cmd.WaitDelay = 2 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 255
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(ch.Stderr(), "sh: %v\n", err)
		return 127
	}
	go func() {
		_, _ = io.Copy(stdin, ch)
		stdin.Close()
	}()
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	case errors.Is(err, exec.ErrWaitDelay):
		return cmd.ProcessState.ExitCode()
	}
	return 255
}

func sendExit(ch ssh.Channel, code int) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(code))
	_, _ = ch.SendRequest("exit-status", false, b[:])
}
