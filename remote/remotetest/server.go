package remotetest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/crypto/ssh"
)

// ServerOptions configure an in-process SSH server.
type ServerOptions struct {
	// AuthorizedKeys may log in (any user name).
	AuthorizedKeys []ssh.PublicKey
	// HostKey; nil: a new ed25519 key.
	HostKey ssh.Signer
	// Env is added to every command's environment (e.g. PATH with a fake
	// sudo first).
	Env []string
	// Dir is the commands' working directory.
	Dir string
	// Forward allows direct-tcpip channels (ProxyJump through this server).
	Forward bool
}

// Server is an in-process SSH server on 127.0.0.1 that runs each exec
// request with /bin/sh -c, as sshd does with the login shell.
type Server struct {
	Addr    string // 127.0.0.1:port
	Port    int
	HostKey ssh.PublicKey

	o     ServerOptions
	cfg   *ssh.ServerConfig
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
	// Sessions counts exec requests served (tests assert how many round
	// trips a task took).
	sessions int
}

// NewServer starts a server; t.Cleanup stops it.
func NewServer(t testing.TB, o ServerOptions) *Server {
	t.Helper()
	if o.HostKey == nil {
		o.HostKey = NewKey(t, "", "host_ed25519", nil).Signer
	}
	s := &Server{o: o, HostKey: o.HostKey.PublicKey(), conns: map[net.Conn]bool{}}
	s.cfg = &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			for _, k := range o.AuthorizedKeys {
				if bytes.Equal(k.Marshal(), key.Marshal()) {
					return nil, nil
				}
			}
			return nil, errors.New("unknown key")
		},
	}
	s.cfg.AddHostKey(o.HostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	s.Addr = ln.Addr().String()
	s.Port = ln.Addr().(*net.TCPAddr).Port
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.Close)
	return s
}

// Sessions returns how many commands were run.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// Close stops listening and drops every connection.
func (s *Server) Close() {
	_ = s.ln.Close()
	s.DropAll()
	s.wg.Wait()
}

// DropAll cuts every open connection (as a crashed sshd would).
func (s *Server) DropAll() {
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

func (s *Server) handle(nc net.Conn) {
	defer nc.Close()
	sc, chans, reqs, err := ssh.NewServerConn(nc, s.cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	defer wg.Wait()
	for nch := range chans {
		switch nch.ChannelType() {
		case "session":
			ch, creqs, err := nch.Accept()
			if err != nil {
				continue
			}
			wg.Add(1)
			go func() { defer wg.Done(); s.session(ch, creqs) }()
		case "direct-tcpip":
			if !s.o.Forward {
				_ = nch.Reject(ssh.Prohibited, "forwarding disabled")
				continue
			}
			var p struct {
				Host     string
				Port     uint32
				OrigHost string
				OrigPort uint32
			}
			if err := ssh.Unmarshal(nch.ExtraData(), &p); err != nil {
				_ = nch.Reject(ssh.ConnectionFailed, "bad request")
				continue
			}
			dst, err := net.Dial("tcp", net.JoinHostPort(p.Host, strconv.Itoa(int(p.Port))))
			if err != nil {
				_ = nch.Reject(ssh.ConnectionFailed, err.Error())
				continue
			}
			ch, creqs, err := nch.Accept()
			if err != nil {
				dst.Close()
				continue
			}
			go ssh.DiscardRequests(creqs)
			wg.Add(1)
			go func() {
				defer wg.Done()
				go func() { _, _ = io.Copy(dst, ch); _ = dst.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(ch, dst)
				ch.Close()
				dst.Close()
			}()
		default:
			_ = nch.Reject(ssh.UnknownChannelType, "unsupported")
		}
	}
}

func (s *Server) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var cmd *exec.Cmd
	done := make(chan struct{})
	for req := range reqs {
		switch req.Type {
		case "exec":
			if cmd != nil {
				_ = req.Reply(false, nil)
				continue
			}
			if len(req.Payload) < 4 {
				_ = req.Reply(false, nil)
				continue
			}
			n := binary.BigEndian.Uint32(req.Payload)
			line := string(req.Payload[4 : 4+n])
			cmd = exec.Command("/bin/sh", "-c", line)
			cmd.Env = append(os.Environ(), s.o.Env...)
			cmd.Dir = s.o.Dir
			cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			// our own stdin copy: exec.Cmd.Wait would otherwise wait for the
			// client to close its side even after the command exited
			stdin, err := cmd.StdinPipe()
			if err != nil {
				_ = req.Reply(false, nil)
				return
			}
			if err := cmd.Start(); err != nil {
				_ = req.Reply(false, nil)
				return
			}
			go func() { _, _ = io.Copy(stdin, ch); _ = stdin.Close() }()
			s.mu.Lock()
			s.sessions++
			s.mu.Unlock()
			_ = req.Reply(true, nil)
			go func() {
				err := cmd.Wait()
				code := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					code = ee.ExitCode()
					if code < 0 {
						code = 255
					}
				}
				_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ C uint32 }{uint32(code)}))
				_ = ch.Close()
				close(done)
			}()
		case "signal":
			// RFC 4254 section 6.9: the signal name without "SIG"; sent
			// to the command's process group, as OpenSSH's sshd does
			var sig struct{ Name string }
			if cmd != nil && cmd.Process != nil && ssh.Unmarshal(req.Payload, &sig) == nil {
				if n, ok := map[string]syscall.Signal{"TERM": syscall.SIGTERM, "KILL": syscall.SIGKILL, "INT": syscall.SIGINT, "HUP": syscall.SIGHUP}[sig.Name]; ok {
					_ = syscall.Kill(-cmd.Process.Pid, n)
				}
			}
		case "pty-req":
			// no terminals here: a requiretty sudo cannot be served
			_ = req.Reply(false, nil)
		default:
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		}
	}
	if cmd != nil && cmd.Process != nil {
		select {
		case <-done:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
}

// String is for messages.
func (s *Server) String() string { return fmt.Sprintf("in-process ssh server %s", s.Addr) }
