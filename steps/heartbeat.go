package steps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
)

// VerifyHeartbeats is Step 6: every agent heartbeats again, after its
// restart, over TLS verified against the pushed PEM. A host that does not
// come back gets the reason from its agent log and the fix.
type VerifyHeartbeats struct {
	// Plain waits for heartbeats without TLS (after a rollback).
	Plain bool
}

func (VerifyHeartbeats) Name() string { return "verify-heartbeats" }
func (s VerifyHeartbeats) Title() string {
	if s.Plain {
		return "Rollback: agents heartbeat again without TLS"
	}
	return "Step 6: agents heartbeat over verified TLS"
}

func (s VerifyHeartbeats) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	for _, a := range env.live() {
		if env.Planned().WillRestart(a.Name) {
			ch.Add(Item{Host: a.Name, Kind: KindCheck, Target: "heartbeat after restart", New: describeTransport(s.want())})
		}
	}
	return ch, nil
}

// Apply has nothing to change: the proof is Verify's.
func (s VerifyHeartbeats) Apply(ctx context.Context, env *Env) error { return nil }

func (s VerifyHeartbeats) Verify(ctx context.Context, env *Env) error {
	agents := env.live()
	if len(agents) == 0 {
		return &allFailedError{msg: "no agent host left to verify"}
	}
	start := env.Now()
	// A host nothing was done to in this run is proven by the heartbeat
	// CM has now, when it is fresh and came over the wanted transport;
	// only hosts restarted (or changed) in this run, or not proven so,
	// wait for a new heartbeat.
	wait := env.provenNow(ctx, s.Name(), agents, s.want())
	since := map[string]time.Time{}
	for _, a := range wait {
		since[a.Name] = start
	}
	env.waitHeartbeats(ctx, s.Name(), wait, since, !s.Plain)
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(env.live()) == 0 {
		return &allFailedError{msg: "no agent heartbeats " + describeTransport(s.want())}
	}
	return ctx.Err()
}

// provenNow verifies, from one hosts API answer, the agents not touched in
// this run whose last heartbeat is fresh (newer than 3 heartbeat intervals
// on the server's clock) and came over the wanted transport, and returns
// the others.
func (e *Env) provenNow(ctx context.Context, step string, agents []*Agent, want tlsWant) []*Agent {
	var untouched []*Agent
	var rest []*Agent
	for _, a := range agents {
		if e.Done().touched(a.Name) {
			rest = append(rest, a)
		} else {
			untouched = append(untouched, a)
		}
	}
	if len(untouched) == 0 {
		return rest
	}
	hosts, err := e.API.Hosts(ctx)
	if err != nil {
		return agents
	}
	now := e.Now()
	if c, ok := e.API.(serverClock); ok && !c.ServerDate().IsZero() {
		now = c.ServerDate()
	}
	cfg, err := e.API.Config(ctx)
	if err != nil {
		return agents
	}
	fresh := now.Add(-freshIntervals * heartbeatInterval(cfg))
	it, _ := cmapi.FindByName(cfg, settingAgentTLS)
	agentTLS := isTrue(it.Value)
	// what the runner read of config.ini holds: nothing changed the file
	inis := &iniCache{m: map[string]*AgentINI{}}
	for _, a := range untouched {
		if ini := e.Facts().Agent(a.Name).INI; ini != nil {
			inis.m[a.Name] = ini
		}
	}
	// each host's proof includes a TLS check from the host: all at once
	proven := make([]bool, len(untouched))
	FanOut(ctx, untouched, e.parallelism(), func(ctx context.Context, a *Agent) error {
		ok, _ := e.heartbeatOK(ctx, a, hosts, fresh, want, agentTLS, inis)
		proven[slices.Index(untouched, a)] = ok
		return nil
	})
	for i, a := range untouched {
		if !proven[i] {
			rest = append(rest, a)
			continue
		}
		e.Done().Verified(a.Name)
		e.report(Event{Step: step, Host: a.Name, Phase: PhaseVerify, Status: StatusOK,
			Detail: "heartbeat " + describeTransport(want) + " (fresh; nothing changed on the host)"})
	}
	return rest
}

func (s VerifyHeartbeats) want() tlsWant {
	if s.Plain {
		return wantPlain
	}
	return wantVerifiedTLS
}

// tlsWant says what transport a heartbeat must have come over.
type tlsWant int

const (
	wantVerifiedTLS tlsWant = iota
	wantPlain
)

// waitHeartbeats polls the hosts API until each agent's lastHeartbeat is
// newer than since[name] and (verified) it is on verified TLS, up to the
// heartbeat timeout. Hosts that do not make it fail, with their agent log's
// reason.
func (e *Env) waitHeartbeats(ctx context.Context, step string, agents []*Agent, since map[string]time.Time, verified bool) {
	want := wantPlain
	if verified {
		want = wantVerifiedTLS
	}
	pending := map[string]*Agent{}
	for _, a := range agents {
		pending[a.Name] = a
	}
	deadline := e.Now().Add(e.heartbeatTimeout())
	last := map[string]string{}
	total := len(agents)
	inis := &iniCache{m: map[string]*AgentINI{}}
	for len(pending) > 0 {
		hosts, err := e.API.Hosts(ctx)
		if err == nil {
			agentTLS := true
			if want == wantVerifiedTLS {
				agentTLS = e.agentTLSOn(ctx)
			}
			// the hosts' checks (a TLS check from each host among them) all at once
			names := sortedKeys(pending)
			type verdict struct {
				ok  bool
				why string
			}
			verdicts := make([]verdict, len(names))
			FanOut(ctx, names, e.parallelism(), func(ctx context.Context, name string) error {
				ok, why := e.heartbeatOK(ctx, pending[name], hosts, since[name], want, agentTLS, inis)
				verdicts[slices.Index(names, name)] = verdict{ok, why}
				return nil
			})
			for i, name := range names {
				ok, why := verdicts[i].ok, verdicts[i].why
				if ok {
					delete(pending, name)
					e.Done().Verified(name)
					e.report(Event{Step: step, Host: name, Phase: PhaseVerify, Status: StatusOK,
						Detail: "heartbeat " + describeTransport(want), Done: total - len(pending), Total: total})
					continue
				}
				last[name] = why
			}
		} else {
			for name := range pending {
				last[name] = "hosts API: " + err.Error()
			}
		}
		if len(pending) == 0 {
			break
		}
		if ctx.Err() != nil || !e.Now().Before(deadline) {
			break
		}
		if err := e.sleep(ctx, e.pollInterval()); err != nil {
			break
		}
	}
	for _, name := range sortedKeys(pending) {
		a := pending[name]
		if ctx.Err() != nil {
			// Interrupted, not failed: the host stays "done, not
			// verified". Its agent log's last error is from before the
			// restart and would send the operator after a problem that is
			// not there ("restart the server ...").
			e.report(Event{Step: step, Host: name, Phase: PhaseVerify, Status: StatusWarn,
				Detail: "not verified: interrupted while waiting for its heartbeat", Hint: "re-run the same command to continue"})
			continue
		}
		he := &HostError{Host: name, Step: step,
			Err: fmt.Errorf("no heartbeat %s within %s: %s", describeTransport(want), e.heartbeatTimeout(), last[name])}
		he.Log, he.Fix = e.agentLogReason(ctx, a)
		e.fail(he)
	}
}

// iniCache reads each agent's config.ini once per wait: what the agent
// runs with does not change while cmtls waits for its heartbeat. It also
// keeps each host's TLS proof, so a host is probed once it heartbeats, not
// at every poll.
type iniCache struct {
	mu     sync.Mutex
	m      map[string]*AgentINI
	proved map[string]bool
}

// probe proves from a's host that its server verifies with its PEM and
// server_host ("" = verified), once per wait.
func (c *iniCache) probe(ctx context.Context, e *Env, a *Agent, ini *AgentINI) string {
	c.mu.Lock()
	done := c.proved[a.Name]
	c.mu.Unlock()
	if done {
		return ""
	}
	p, err := e.probeTLS(ctx, a, ini)
	switch {
	case err != nil:
		return "verified TLS could not be proven from the host: " + err.Error()
	case !p.Verified:
		return "from the host, " + ini.ServerHost + ":" + ini.ServerPort + " does not verify with " + ini.VerifyCertFile + " (" + p.Tool + "): " + p.Reason
	}
	c.mu.Lock()
	if c.proved == nil {
		c.proved = map[string]bool{}
	}
	c.proved[a.Name] = true
	c.mu.Unlock()
	return ""
}

func (c *iniCache) get(ctx context.Context, a *Agent) (*AgentINI, error) {
	c.mu.Lock()
	ini := c.m[a.Name]
	c.mu.Unlock()
	if ini != nil {
		return ini, nil
	}
	ini, err := readINI(ctx, a)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.m[a.Name] = ini
	c.mu.Unlock()
	return ini, nil
}

func describeTransport(w tlsWant) string {
	if w == wantPlain {
		return "without TLS"
	}
	return "over verified TLS"
}

// findHost finds an agent in the API's hosts by name (MatchHost: FQDN, IP
// or short name); an ambiguous name is not found.
func findHost(hosts []cmapi.Host, name string) (cmapi.Host, bool) {
	h, err := MatchHost(hosts, name, "")
	return h, err == nil
}

// hostOf finds a's host in the API's hosts: by name, else (when the name
// matches none or several) by the hostId its agent keeps in lib_dir/uuid.
func (e *Env) hostOf(ctx context.Context, a *Agent, hosts []cmapi.Host, ini *AgentINI) (cmapi.Host, error) {
	h, err := MatchHost(hosts, a.Name, "")
	if err == nil {
		return h, nil
	}
	id, idErr := agentHostID(ctx, a, ini)
	if idErr != nil {
		return h, err
	}
	if h, err2 := MatchHost(hosts, "", id); err2 == nil {
		return h, nil
	}
	return h, err
}

// heartbeatOK says whether a's heartbeat is newer than since and came over
// the wanted transport; why says what is missing.
func (e *Env) heartbeatOK(ctx context.Context, a *Agent, hosts []cmapi.Host, since time.Time, want tlsWant, agentTLS bool, inis *iniCache) (bool, string) {
	ini0, _ := inis.get(ctx, a)
	h, err := e.hostOf(ctx, a, hosts, ini0)
	var amb *AmbiguousHostError
	switch {
	case errors.As(err, &amb):
		return false, amb.Error() + ": " + amb.Hint()
	case err != nil:
		return false, "CM does not know the host (the hosts API has no host named " + a.Name + ", by FQDN, short name, IP or the agent's hostId)"
	}
	if !h.LastHeartbeat.After(since) {
		return false, "last heartbeat " + fmtTime(h.LastHeartbeat) + " is not newer than " + fmtTime(since)
	}
	// CM does not say how a heartbeat came (its ApiHost has no such
	// field): the agent's config.ini and the server's AGENT_TLS say what
	// was asked, and a TLS check from the agent host itself, with the
	// agent's PEM and server_host as written, proves it.
	ini, err := inis.get(ctx, a)
	if err != nil {
		return false, err.Error()
	}
	switch want {
	case wantPlain:
		if ini.UseTLS == "1" {
			return false, "use_tls is still 1 in " + a.ConfigPath
		}
	case wantVerifiedTLS:
		if !agentTLS {
			return false, "AGENT_TLS is off on the server"
		}
		if !ini.tlsVerified() {
			return false, "config.ini does not ask for verified TLS (use_tls=1 and verify_cert_file)"
		}
		if why := inis.probe(ctx, e, a, ini); why != "" {
			return false, why
		}
	}
	return true, ""
}

// agentTLSOn reads AGENT_TLS from the API (false when it cannot).
func (e *Env) agentTLSOn(ctx context.Context) bool {
	cfg, err := e.API.Config(ctx)
	if err != nil {
		return false
	}
	it, _ := cmapi.FindByName(cfg, settingAgentTLS)
	return isTrue(it.Value)
}

// agentLogReason reads the tail of a's agent log and returns the reason
// line of the last failed heartbeat (WrongHost, certificate verify failed,
// ...) and the fix for it.
func (e *Env) agentLogReason(ctx context.Context, a *Agent) (string, string) {
	if a.Host == nil || a.LogPath == "" {
		return "", "check that the agent runs and can reach the server"
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	res, err := a.Host.Run(ctx, "tail -n 400 -- "+remote.Quote(a.LogPath), nil)
	if err != nil || res.Code != 0 {
		return "", "read the agent log " + a.LogPath + " on the host"
	}
	return reasonFromLog(string(res.Stdout), a.LogPath)
}

// reasonFromLog finds the reason of the last "Heartbeating to ... failed"
// in an agent log and names the fix.
func reasonFromLog(log, logPath string) (string, string) {
	lines := strings.Split(strings.ReplaceAll(log, "\r\n", "\n"), "\n")
	failAt := -1
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "Heartbeating to") && strings.Contains(lines[i], "failed") {
			failAt = i
			break
		}
	}
	var reason string
	if failAt >= 0 {
		reason = strings.TrimSpace(lines[failAt])
		for _, l := range lines[failAt+1:] {
			if k := knownReason(l); k != "" {
				reason = strings.TrimSpace(l)
				break
			}
		}
	} else {
		for i := len(lines) - 1; i >= 0 && i >= len(lines)-50; i-- {
			if knownReason(lines[i]) != "" {
				reason = strings.TrimSpace(lines[i])
				break
			}
		}
	}
	if reason == "" {
		return "", "no heartbeat failure in " + logPath + ": check that the agent process runs (agents.check_command)"
	}
	return reason, fixFor(reason)
}

var reasons = []string{"WrongHost", "does not match host", "certificate verify failed", "unknown protocol",
	"Connection refused", "Errno 111", "bad certificate", "Reader read 0 bytes", "guid updated", "certificate has expired"}

func knownReason(l string) string {
	for _, r := range reasons {
		if strings.Contains(l, r) {
			return r
		}
	}
	return ""
}

// fixFor names the next action for an agent log reason.
func fixFor(reason string) string {
	switch r := reason; {
	case strings.Contains(r, "WrongHost") || strings.Contains(r, "does not match host"):
		return "the certificate does not name the agent's server_host as written in config.ini: add that name to server.keystore.generate.san (or set server_host to server.host) and re-run"
	case strings.Contains(r, "certificate verify failed") || strings.Contains(r, "certificate has expired"):
		return "the PEM in verify_cert_file does not verify the server's certificate (another certificate, expired, or a missing CA): re-run cmtls init to push the current PEM"
	case strings.Contains(r, "unknown protocol") || strings.Contains(r, "Reader read 0 bytes"):
		return "the agent and the server disagree about TLS on the heartbeat port: restart the server so AGENT_TLS takes effect, or check use_tls"
	case strings.Contains(r, "Connection refused") || strings.Contains(r, "Errno 111"):
		return "nothing listens on server_host:server_port: check that the CM server runs and the agent's server_port"
	case strings.Contains(r, "bad certificate"):
		return "the server asks agents for a client certificate (TLS level 3); this procedure is level 2: turn off agent certificate validation"
	case strings.Contains(r, "guid updated"):
		return "the server was reinstalled: delete cm_guid in the agent's lib_dir and restart the agent"
	}
	return "read the agent log on the host"
}
