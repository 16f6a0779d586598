package steps

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/steps/agentcfg"
)

// RestartServer is Step 4: restart the CM server so that it loads the TLS
// settings and the keystore, then wait until its API answers again.
type RestartServer struct{}

func (RestartServer) Name() string  { return "restart-server" }
func (RestartServer) Title() string { return "Step 4: restart the CM server" }

func (s RestartServer) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	cmd := env.Answers.Server.RestartCommand
	if by := env.Planned().ServerReload(); len(by) > 0 {
		ch.Add(Item{Kind: KindService, Target: cmd, Note: "loads what " + strings.Join(by, ", ") + " change(s): AGENT_TLS and the keystore"})
		return ch, nil
	}
	// Nothing the server loads at start changes in this run: restart only
	// when the heartbeat port does not serve the server's certificate yet
	// (an earlier run that stopped before this step).
	if !isTrue(env.Facts().Setting(settingAgentTLS)) {
		return ch, nil
	}
	_, leaf, err := env.serverPEM()
	if err != nil {
		return ch, nil
	}
	if why := env.probeHeartbeatPort(ctx, leaf); why != "" && !strings.HasPrefix(why, "cannot reach") {
		ch.Add(Item{Kind: KindService, Target: cmd, Note: why})
	}
	return ch, nil
}

func (s RestartServer) Apply(ctx context.Context, env *Env) error {
	if !env.Planned().WebTLSOff() && env.agentTLSOn(ctx) {
		if err := env.checkKeystoreAccess(ctx, s.Name(), "the server was not restarted"); err != nil {
			return err
		}
	}
	return env.restartServer(ctx, s.Name())
}

// restartServer runs server.restart_command and waits for the API.
func (e *Env) restartServer(ctx context.Context, step string) error {
	cmd := e.Answers.Server.RestartCommand
	e.Done().ServerRestarted(e.Now())
	e.report(Event{Step: step, Host: e.serverName(), Phase: PhaseApply, Status: StatusProgress, Detail: "running " + cmd})
	// A restart once begun is let finish (or time out) on the first
	// Ctrl-C: a server killed half-way through its start is worse.
	work, stop := InFlight(ctx)
	res, err := e.Server.Run(work, cmd, nil)
	stop()
	if err != nil {
		return fmt.Errorf("restart the server (%s): %w", cmd, err)
	}
	if res.Code != 0 {
		return &HostError{Host: e.Server.Name(), Step: step,
			Err: fmt.Errorf("%s exited %d: %s", cmd, res.Code, strings.TrimSpace(string(res.Stderr)+" "+string(res.Stdout))),
			Fix: "read the CM server log (/var/log/cloudera-scm-server/cloudera-scm-server.log); `cmtls rollback` turns the TLS settings back"}
	}
	if e.Planned().WebTLSOff() && e.PlainAPI != nil {
		e.API = e.PlainAPI
	}
	return e.waitAPI(ctx, step)
}

// waitAPI polls the hosts API until it answers, up to verify.api_timeout.
func (e *Env) waitAPI(ctx context.Context, step string) error {
	deadline := e.Now().Add(e.apiTimeout())
	var last error
	for {
		_, err := e.API.Hosts(ctx)
		if err == nil {
			e.report(Event{Step: step, Host: e.serverName(), Phase: PhaseApply, Status: StatusProgress, Detail: "the CM API answers again"})
			return nil
		}
		last = err
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !e.Now().Before(deadline) {
			return &HostError{Host: e.Server.Name(), Step: step,
				Err: fmt.Errorf("the CM API did not answer within %s after the restart: %w", e.apiTimeout(), last),
				Fix: "the server may refuse to start with a missing keystore or a wrong KEYSTORE_PASSWORD: read its log; a longer wait is verify.api_timeout in the answers file; `cmtls rollback` turns the TLS settings back"}
		}
		if err := e.sleep(ctx, e.pollInterval()); err != nil {
			return err
		}
	}
}

func (s RestartServer) Verify(ctx context.Context, env *Env) error {
	if _, err := env.API.Hosts(ctx); err != nil {
		return fmt.Errorf("the CM API does not answer: %w", err)
	}
	if !env.agentTLSOn(ctx) {
		return nil
	}
	_, leaf, err := env.serverPEM()
	if err != nil {
		return err
	}
	why := env.probeHeartbeatPort(ctx, leaf)
	switch {
	case why == "":
		env.report(Event{Step: s.Name(), Host: env.serverName(), Phase: PhaseVerify, Status: StatusProgress, Detail: "the heartbeat port serves the new certificate over TLS"})
	case strings.HasPrefix(why, "cannot reach"):
		env.report(Event{Step: s.Name(), Host: env.serverName(), Phase: PhaseVerify, Status: StatusWarn, Detail: why + "; the agents' heartbeats (Step 6) will tell"})
	default:
		return fmt.Errorf("after the restart, %s", why)
	}
	return nil
}

// heartbeatAddr is server_host:server_port as the agents use it (from the
// first agent whose config.ini was read).
func (e *Env) heartbeatAddr() string {
	for _, a := range e.live() {
		if ini := e.Facts().Agent(a.Name).INI; ini != nil && ini.ServerHost != "" {
			return net.JoinHostPort(ini.ServerHost, ini.ServerPort)
		}
	}
	return net.JoinHostPort(e.Answers.Server.Host, "7182")
}

// probeHeartbeatPort connects to the heartbeat port with TLS and compares
// the certificate served with leaf. "" means it serves leaf.
func (e *Env) probeHeartbeatPort(ctx context.Context, leaf *x509.Certificate) string {
	addr := e.heartbeatAddr()
	got, err := servedCert(ctx, addr)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, errDial) {
			return fmt.Sprintf("cannot reach the heartbeat port %s: %v", addr, err)
		}
		return fmt.Sprintf("the heartbeat port %s does not speak TLS with the new certificate (%v)", addr, err)
	}
	if !got.Equal(leaf) {
		return fmt.Sprintf("the heartbeat port %s serves another certificate (%s)", addr, describeCert(got))
	}
	return ""
}

var errDial = errors.New("dial")

// servedCert returns the certificate a TLS server at addr presents. It does
// not verify it: the caller compares it byte for byte with the one it
// expects, which is a stronger check than a chain.
func servedCert(ctx context.Context, addr string) (*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errDial, err)
	}
	defer raw.Close()
	host, _, _ := net.SplitHostPort(addr)
	c := tls.Client(raw, &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) //nolint:gosec // compared byte for byte below by the caller
	if err := c.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	certs := c.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, errors.New("no certificate")
	}
	return certs[0], nil
}

// RestartAgents is Step 5: restart the agents whose config changed (or that
// are not on verified TLS yet): the canary host(s) first, verified by their
// heartbeat, then the rest with bounded parallelism.
type RestartAgents struct {
	// Rollback restarts only the restored agents and waits for plain
	// heartbeats.
	Rollback bool
}

func (RestartAgents) Name() string { return "restart-agents" }
func (s RestartAgents) Title() string {
	if s.Rollback {
		return "Rollback: restart the restored agents (canary first)"
	}
	return "Step 5: restart the agents (canary first)"
}

func (s RestartAgents) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	f := env.Facts()
	if f.HostsErr != nil {
		return ch, fmt.Errorf("read the hosts API: %w", f.HostsErr)
	}
	var restart []string
	for _, a := range env.live() {
		why := s.restartReason(env, a, f.Hosts)
		if why == "" {
			continue
		}
		if len(restart) < env.canary() {
			why = "canary; " + why
		}
		restart = append(restart, a.Name)
		ch.Add(Item{Host: a.Name, Kind: KindService, Target: a.RestartCommand, Note: why})
	}
	env.Planned().SetAgentRestarts(restart)
	return ch, nil
}

// restartReason says why a needs a restart ("" = it does not).
func (s RestartAgents) restartReason(e *Env, a *Agent, hosts []cmapi.Host) string {
	if e.Planned().AgentFilesChange(a.Name) {
		return "config.ini or PEM changed"
	}
	if s.Rollback {
		return ""
	}
	h, ok := findHost(hosts, a.Name)
	if !ok {
		return ""
	}
	// CM does not say how a heartbeat came; a host with nothing to change
	// is restarted only when it stopped heartbeating (Step 6 proves its TLS
	// from the host itself).
	if e.Now().Sub(h.LastHeartbeat) > e.heartbeatTimeout() {
		return "no heartbeat since " + fmtTime(h.LastHeartbeat)
	}
	return ""
}

func (s RestartAgents) Apply(ctx context.Context, env *Env) error {
	var todo []*Agent
	for _, a := range env.live() {
		if env.Planned().WillRestart(a.Name) {
			todo = append(todo, a)
		}
	}
	prog := &progress{}
	restart := func(ctx context.Context, a *Agent) error {
		return env.restartAgent(ctx, s.Name(), a, prog, len(todo))
	}
	prove := func(ctx context.Context, canaries []*Agent) {
		since := map[string]time.Time{}
		for _, a := range canaries {
			since[a.Name], _ = env.Done().RestartTime(a.Name)
		}
		env.waitHeartbeats(ctx, s.Name(), canaries, since, !s.Rollback)
	}
	return env.canaryFirst(ctx, s.Name(), todo, restart, prove)
}

// restartAgent runs a's restart command (it is let finish on the first
// Ctrl-C) and clears the restart agentcfg left owed.
func (e *Env) restartAgent(ctx context.Context, step string, a *Agent, prog *progress, total int) error {
	t := e.Now()
	res, err := a.Host.Run(ctx, a.RestartCommand, nil)
	if err == nil && res.Code != 0 {
		err = fmt.Errorf("%s exited %d: %s", a.RestartCommand, res.Code, strings.TrimSpace(string(res.Stderr)))
	}
	if err != nil {
		return &HostError{Host: a.Name, Step: step, Err: err, Fix: "check the agent's restart command (agents.restart_command) on the host"}
	}
	_, _ = a.Host.Run(ctx, "rm -f -- "+remote.Quote(agentcfg.PendingPath(a.ConfigPath)), nil)
	e.Done().Restarted(a.Name, t)
	e.report(Event{Step: step, Host: a.Name, Phase: PhaseApply, Status: StatusChanged, Detail: "restarted", Done: prog.next(), Total: total})
	return nil
}

func (s RestartAgents) Verify(ctx context.Context, env *Env) error {
	var restarted []*Agent
	for _, a := range env.live() {
		if _, ok := env.Done().RestartTime(a.Name); ok && a.CheckCommand != "" {
			restarted = append(restarted, a)
		}
	}
	env.each(ctx, s.Name(), restarted, func(ctx context.Context, a *Agent) error {
		res, err := a.Host.Run(ctx, a.CheckCommand, nil)
		if err == nil && res.Code != 0 {
			err = fmt.Errorf("%s exited %d (the agent is not running)", a.CheckCommand, res.Code)
		}
		if err != nil {
			he := &HostError{Host: a.Name, Step: s.Name(), Err: err}
			he.Log, he.Fix = env.agentLogReason(ctx, a)
			return he
		}
		return nil
	})
	return nil
}
