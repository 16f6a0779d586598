package sshd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/cmtls/cmtls/daemon/conf"
	"github.com/cmtls/cmtls/remote/localfile"
)

// Config is the sshd config file: one endpoint per sandbox host.
//
//	bind: 127.0.0.1
//	user: alice                       # login accepted ("" = any)
//	authorized_keys: ../id_ed25519.pub
//	log: sshd.log
//	pid: sshd.pid
//	state: sshd-state.json            # bound ports, reused on restart
//	hosts:
//	  - {name: agent1, port: 0, host_key: ../hosts/agent1/ssh_host_ed25519_key, dir: ../hosts/agent1}
type Config struct {
	Bind           string `yaml:"bind"`
	User           string `yaml:"user"`
	AuthorizedKeys string `yaml:"authorized_keys"`
	Log            string `yaml:"log"`
	Pid            string `yaml:"pid"`
	State          string `yaml:"state"`
	Hosts          []Host `yaml:"hosts"`
}

// Host is one endpoint.
type Host struct {
	Name    string `yaml:"name"`
	Port    int    `yaml:"port"`
	HostKey string `yaml:"host_key"`
	Dir     string `yaml:"dir"`
}

// LoadConfig reads an sshd config; relative paths are taken from its directory.
func LoadConfig(path string) (*Config, error) {
	abs, b, err := conf.Read(path, "sshd config")
	if err != nil {
		return nil, err
	}
	return ParseConfig(b, abs)
}

// ParseConfig decodes an sshd config's bytes; abs is its path.
func ParseConfig(b []byte, abs string) (*Config, error) {
	var c Config
	if err := conf.Decode(b, abs, "sshd config", &c); err != nil {
		return nil, err
	}
	dir := filepath.Dir(abs)
	fix := func(p *string, def string) {
		if *p == "" {
			*p = def
		}
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if c.Bind == "" {
		c.Bind = "127.0.0.1"
	}
	if c.AuthorizedKeys == "" {
		return nil, fmt.Errorf("sshd config %s: authorized_keys is required", abs)
	}
	fix(&c.AuthorizedKeys, "")
	fix(&c.Log, "sshd.log")
	fix(&c.Pid, "sshd.pid")
	fix(&c.State, "sshd-state.json")
	seen := map[string]bool{}
	for i := range c.Hosts {
		h := &c.Hosts[i]
		if h.Name == "" || seen[h.Name] {
			return nil, fmt.Errorf("sshd config %s: hosts[%d] needs a unique name", abs, i)
		}
		seen[h.Name] = true
		if h.Port < 0 || h.Port > 65535 {
			return nil, fmt.Errorf("sshd config %s: host %s: port %d out of range", abs, h.Name, h.Port)
		}
		fix(&h.HostKey, "")
		fix(&h.Dir, "")
		if h.HostKey == "" {
			return nil, fmt.Errorf("sshd config %s: host %s: host_key is required", abs, h.Name)
		}
	}
	return &c, nil
}

// ReadPorts returns the ports the sshd bound, by host name.
func ReadPorts(statePath string) (map[string]int, error) {
	b, err := os.ReadFile(statePath)
	if err != nil {
		return nil, err
	}
	var ports map[string]int
	if err := json.Unmarshal(b, &ports); err != nil {
		return nil, fmt.Errorf("sshd state %s: %w", statePath, err)
	}
	return ports, nil
}

// RunDaemon serves every host of the config until ctx ends. Ports bound
// before (state file) are reused; the pid file is written once listening.
func RunDaemon(ctx context.Context, configPath string) error {
	c, err := LoadConfig(configPath)
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(c.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	akb, err := os.ReadFile(c.AuthorizedKeys)
	if err != nil {
		return fmt.Errorf("authorized_keys: %w", err)
	}
	var authorized []ssh.PublicKey
	for len(bytes.TrimSpace(akb)) > 0 {
		k, _, _, rest, err := ssh.ParseAuthorizedKey(akb)
		if err != nil {
			return fmt.Errorf("authorized_keys %s: %w", c.AuthorizedKeys, err)
		}
		authorized = append(authorized, k)
		akb = rest
	}
	prev, _ := ReadPorts(c.State)
	ports := map[string]int{}
	var servers []*Server
	var lns []net.Listener
	closeAll := func() {
		for _, l := range lns {
			l.Close()
		}
	}
	for _, h := range c.Hosts {
		kb, err := os.ReadFile(h.HostKey)
		if err != nil {
			closeAll()
			return fmt.Errorf("host %s: host key: %w", h.Name, err)
		}
		signer, err := ssh.ParsePrivateKey(kb)
		if err != nil {
			closeAll()
			return fmt.Errorf("host %s: host key: %w", h.Name, err)
		}
		srv, err := New(Options{HostKey: signer, Authorized: authorized, User: c.User, Dir: h.Dir, Log: logf})
		if err != nil {
			closeAll()
			return err
		}
		port := h.Port
		if p := prev[h.Name]; p != 0 {
			port = p
		}
		l, err := net.Listen("tcp", net.JoinHostPort(c.Bind, strconv.Itoa(port)))
		if err != nil {
			closeAll()
			return fmt.Errorf("host %s: %w", h.Name, err)
		}
		lns = append(lns, l)
		servers = append(servers, srv)
		ports[h.Name] = l.Addr().(*net.TCPAddr).Port
	}
	b, _ := json.MarshalIndent(ports, "", "  ")
	if err := localfile.Write(c.State, append(b, '\n'), 0o600); err != nil {
		closeAll()
		return err
	}
	if err := os.WriteFile(c.Pid, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		closeAll()
		return err
	}
	defer func() {
		if b, err := os.ReadFile(c.Pid); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
			os.Remove(c.Pid)
		}
	}()
	fmt.Fprintf(logf, "sshd[%d]: listening for %d hosts\n", os.Getpid(), len(servers))
	var wg sync.WaitGroup
	errc := make(chan error, len(servers))
	for i := range servers {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := servers[i].Serve(lns[i]); err != nil {
				errc <- err
			}
		}(i)
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	for _, s := range servers {
		s.Close()
	}
	wg.Wait()
	return err
}
