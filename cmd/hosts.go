package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/inventory"
	"github.com/cmtls/cmtls/steps/answers"
)

// applyDefaults is answers.File.ApplyDefaults, except that an
// agents.ssh.port the file does not give stays 0: a host without a port of
// its own then takes the Port of ~/.ssh/config, then 22, as OpenSSH users
// expect (the dialer does that for a zero port).
func applyDefaults(file *answers.File) {
	portSet := file.Agents != nil && file.Agents.SSH != nil && file.Agents.SSH.Port != 0
	file.ApplyDefaults()
	if !portSet && file.Agents != nil && file.Agents.SSH != nil {
		file.Agents.SSH.Port = 0
	}
}

// apiHostLister lists the hosts CM knows (agents.from_api); nil where a
// command does not use the API.
type apiHostLister func(context.Context) ([]string, error)

// resolveAgentHosts lists the agents: agents.hosts, then the hosts of
// agents.inventory (an Ansible INI or YAML inventory), then, with
// agents.from_api, the hosts CM knows; each once (the first wins), with the
// agents-wide settings under its own. Port and User stay 0 and "" unless
// the answers file or the inventory gives them, so that ~/.ssh/config
// decides (see applyDefaults). Address stays "" unless given, so that a
// HostName in ~/.ssh/config applies.
//
// An inventory's ansible_ssh_private_key_file and ansible_become* go to
// the host's own fields; a become password is read from the environment
// ({{ lookup('env', 'NAME') }}, through f) or, given in plain text,
// accepted with a warning on f's stderr, as a plain secret in the answers
// file is. f may be nil (tests): the process environment, no warnings.
func resolveAgentHosts(ctx context.Context, f *Factory, file *answers.File, fromAPI apiHostLister) ([]answers.AgentHost, error) {
	a := file.Agents
	if a == nil {
		return nil, file.Errorf("", "add an agents: section with hosts (or inventory)", "agents is required")
	}
	var out []answers.AgentHost
	seen := map[string]bool{}
	add := func(h answers.Host) {
		if seen[h.Name] {
			return
		}
		seen[h.Name] = true
		out = append(out, a.Resolve(h))
	}
	for _, h := range a.Hosts {
		add(h)
	}
	if a.Inventory != "" {
		p := file.ExpandPath(a.Inventory)
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, file.Errorf("agents.inventory", "check agents.inventory", "cannot read the inventory: %v", unwrapPathError(err))
		}
		inv, err := inventory.Parse(b)
		if err != nil {
			return nil, &answers.Error{File: p, Msg: "inventory: " + err.Error(), Fix: "fix the inventory (Ansible INI or YAML format)"}
		}
		for _, ih := range inv {
			if seen[ih.Name] {
				continue
			}
			ah, err := inventoryHost(f, a, ih, p)
			if err != nil {
				return nil, err
			}
			seen[ih.Name] = true
			out = append(out, ah)
		}
	}
	if a.FromAPI {
		if fromAPI == nil {
			return nil, file.Errorf("agents.from_api", "list agents.hosts or agents.inventory for 'agents push', or use 'cmtls init', which reads the CM API",
				"agents.from_api needs the CM API, which 'agents push' does not use")
		}
		names, err := fromAPI(ctx)
		if err != nil {
			return nil, fmt.Errorf("agents.from_api: %w", err)
		}
		for _, n := range names {
			add(answers.Host{Name: n})
		}
	}
	if len(out) == 0 {
		return nil, file.Errorf("agents", "list agents.hosts, an agents.inventory with hosts, or set agents.from_api: true", "no agent hosts")
	}
	return out, nil
}

// inventoryHost is an inventory host with the agents-wide settings under
// its own connection and become variables.
func inventoryHost(f *Factory, a *answers.Agents, ih inventory.Host, invPath string) (answers.AgentHost, error) {
	r := a.Resolve(answers.Host{Name: ih.Name, Address: ih.Address, Port: ih.Port, User: ih.User})
	if ih.IdentityFile != "" {
		r.IdentityFile = ih.IdentityFile
		if !filepath.IsAbs(r.IdentityFile) && !strings.HasPrefix(r.IdentityFile, "~") {
			// Ansible takes a relative key path from where it runs; the
			// inventory's directory is the steadier choice for a tool run
			// from anywhere
			r.IdentityFile = filepath.Join(filepath.Dir(invPath), r.IdentityFile)
		}
	}
	if ih.BecomeSet {
		r.Become = "none"
		if ih.Become {
			r.Become = "sudo"
		}
	}
	r.BecomeUser = ih.BecomeUser
	switch {
	case ih.BecomePasswordEnv != "":
		r.BecomePassword = answers.Secret{Env: ih.BecomePasswordEnv}
		lookup := os.LookupEnv
		if f != nil && f.LookupEnv != nil {
			lookup = f.LookupEnv
		}
		if err := r.BecomePassword.Resolve(lookup, ""); err != nil {
			return r, &answers.Error{File: invPath, Line: ih.Line, Msg: fmt.Sprintf("host %s: ansible_become_password: %v", ih.Name, err),
				Fix: "export " + ih.BecomePasswordEnv + " before running cmtls"}
		}
	case ih.BecomePassword != "":
		r.BecomePassword = answers.NewSecret([]byte(ih.BecomePassword))
		if f != nil {
			fmt.Fprintf(f.ErrOut, "warning: %s: host %s: ansible_become_password is in plain text; prefer {{ lookup('env', 'NAME') }}\n", invPath, ih.Name)
		}
	}
	return r, nil
}

// agentTarget is where and how to reach an agent host over SSH: its own
// address, port, user, key and become settings over the agents-wide ones.
func agentTarget(a answers.AgentHost) remote.Target {
	t := remote.Target{Name: a.Name, Address: a.Address, Port: a.Port, User: a.User,
		IdentityFile: a.IdentityFile, Become: a.Become, BecomeUser: a.BecomeUser}
	if a.BecomePassword.Resolved() {
		t.BecomePassword = a.BecomePassword.Value()
	}
	return t
}

// unwrapPathError drops the *os.PathError's path (the caller names the
// setting instead) but keeps other errors whole.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// sshOptions turns an answers file's ssh: section (agents.ssh or
// server.ssh) into remote.Options. warn receives the dialer's warnings
// (an ssh config it cannot parse, a key it skips).
func sshOptions(f *Factory, file *answers.File, s *answers.SSH, acceptNew bool, warn func(string)) remote.Options {
	o := remote.Options{AcceptNewHostKeys: acceptNew, AgentSocket: f.Getenv("SSH_AUTH_SOCK"), Warn: warn}
	if s == nil {
		return o
	}
	o.User, o.Port = s.User, s.Port
	if s.IdentityFile != "" {
		o.IdentityFiles = []string{file.ExpandPath(s.IdentityFile)}
	}
	if s.KnownHosts != "" {
		o.KnownHostsFiles = []string{file.ExpandPath(s.KnownHosts)}
	}
	if s.Config != "" {
		o.SSHConfigPath = file.ExpandPath(s.Config)
	}
	o.Become = s.Become
	o.BecomePassword = s.BecomePassword.Value()
	if pp := s.Passphrase.Value(); len(pp) > 0 {
		o.Passphrase = func(string) ([]byte, error) { return pp, nil }
	}
	o.ConnectTimeout = s.Timeout.D()
	return o
}

// warnTo prints a dialer warning on w's stderr.
func warnTo(f *Factory) func(string) {
	return func(w string) { fmt.Fprintf(f.ErrOut, "warning: %s\n", w) }
}

// dialServer reaches the CM server host: this machine unless server.ssh
// is given, then over SSH (server.ssh.address, else server.host).
func dialServer(ctx context.Context, f *Factory, file *answers.File, acceptNew bool) (remote.Host, error) {
	s := file.Server
	if s.SSH == nil {
		return remote.NewLocal(s.Host), nil
	}
	addr := s.SSH.Address
	if addr == "" {
		addr = s.Host
	}
	h, err := remote.Dial(ctx, remote.Target{Name: s.Host, Address: addr, Port: s.SSH.Port, User: s.SSH.User},
		sshOptions(f, file, s.SSH, acceptNew, warnTo(f)))
	if err != nil {
		return nil, fmt.Errorf("connect to the server host %s: %w", s.Host, err)
	}
	return h, nil
}
