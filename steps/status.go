package steps

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/remote/cmapi"
)

// AgentStatus is what `cmtls status` shows for one agent host.
type AgentStatus struct {
	Host           string    `json:"host"`
	Reachable      bool      `json:"reachable"`
	Error          string    `json:"error,omitempty"`
	ServerHost     string    `json:"server_host,omitempty"`
	UseTLS         string    `json:"use_tls,omitempty"`
	VerifyCertFile string    `json:"verify_cert_file,omitempty"`
	PEMFingerprint string    `json:"pem_sha256,omitempty"` // of the first certificate in pem_dest
	PEMMatches     bool      `json:"pem_matches_server"`
	PEMNotAfter    time.Time `json:"pem_not_after,omitzero"` // of the first certificate in pem_dest
	NameMatches    bool      `json:"server_host_matches_cert"`
	LastHeartbeat  time.Time `json:"last_heartbeat,omitzero"`
	// TLS is the agent's TLS to the server: verified (proven from the
	// host: the server verifies with its PEM and server_host), not-verified
	// (that check failed: TLSProof says why), encrypted (level 1), plain,
	// or unknown; "stale" when the last heartbeat is too old to say
	// anything about the agent now (LastTLS then keeps what was found).
	TLS      string `json:"tls"`
	LastTLS  string `json:"last_tls,omitempty"`
	TLSProof string `json:"tls_proof,omitempty"`
	// HeartbeatFresh: the last heartbeat is newer than 3 heartbeat
	// intervals on the server's clock.
	HeartbeatFresh bool `json:"heartbeat_fresh"`
	// Verified: on verified TLS now, by everything status can check; else
	// Problems says why not.
	Verified bool     `json:"verified"`
	Problems []string `json:"problems,omitempty"`
}

// ServerStatus is the server's side.
type ServerStatus struct {
	Host         string    `json:"host"`
	CertSubject  string    `json:"cert_subject,omitempty"`
	CertSANs     string    `json:"cert_sans,omitempty"`
	CertNotAfter time.Time `json:"cert_not_after,omitzero"`
	CertSHA256   string    `json:"cert_sha256,omitempty"`
	CertError    string    `json:"cert_error,omitempty"`
	AgentTLS     bool      `json:"agent_tls"`
	ConsoleTLS   bool      `json:"console_tls"`
	SAML         bool      `json:"saml"`
	KeystorePath string    `json:"keystore_path,omitempty"`
	APIError     string    `json:"api_error,omitempty"`
	// settingsUnknown: the API did not give the settings, so AgentTLS,
	// ConsoleTLS and SAML are not known (the text shows "?", not "off").
	settingsUnknown bool
	HeartbeatPort   string `json:"heartbeat_port_serves,omitempty"`
	// RenewPhase names the phase of a renewal that has not finished ("" when none).
	RenewPhase string `json:"renew_phase,omitempty"`
}

// StatusReport is the whole read-only picture.
type StatusReport struct {
	Server ServerStatus  `json:"server"`
	Agents []AgentStatus `json:"agents"`
	// ServerTime is the server's clock when it listed the heartbeats (the
	// API answer's Date), or this machine's when the server gave none
	// (Clock says which).
	ServerTime time.Time `json:"server_time,omitzero"`
	Clock      string    `json:"clock"`
	// HeartbeatInterval is CM's "Send Agent Heartbeat Every", in seconds.
	HeartbeatInterval int `json:"heartbeat_interval_seconds"`
	// Healthy: every agent is verified with a fresh heartbeat.
	Healthy bool `json:"healthy"`
}

// DefaultHeartbeatInterval is CM's default "Send Agent Heartbeat Every".
const DefaultHeartbeatInterval = 15 * time.Second

// freshIntervals is how many heartbeat intervals a heartbeat stays fresh:
// CM itself marks a host's agent status bad after a few missed heartbeats
// (the "Host's Agent Status" health test).
const freshIntervals = 3

// heartbeatInterval reads "Send Agent Heartbeat Every" (HEARTBEAT_INTERVAL,
// seconds) from the CM settings; DefaultHeartbeatInterval when not given.
func heartbeatInterval(cfg []cmapi.ConfigItem) time.Duration {
	it, ok := cmapi.FindByName(cfg, "HEARTBEAT_INTERVAL")
	if !ok {
		it, ok = cmapi.FindByDisplayName(cfg, "Send Agent Heartbeat Every")
	}
	v := strings.TrimSpace(it.Value)
	if v == "" {
		v = strings.TrimSpace(it.Default)
	}
	if n, err := strconv.Atoi(v); ok && err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return DefaultHeartbeatInterval
}

// serverClock is what the API can say of the server's clock.
type serverClock interface{ ServerDate() time.Time }

// UnhealthyError is a status that is not every agent verified with a
// fresh heartbeat: a failure, naming each host and why.
type UnhealthyError struct {
	Hosts []string // "host: why; why"
	Total int
}

func (e *UnhealthyError) Error() string {
	return fmt.Sprintf("%d of %d agent host(s) not verified with a fresh heartbeat:\n  %s", len(e.Hosts), e.Total, strings.Join(e.Hosts, "\n  "))
}
func (e *UnhealthyError) Hint() string {
	return "fix each host named (a stopped agent: start it and read its log; TLS not verified: run cmtls init), then check again with cmtls status"
}

// Err is nil when every agent is verified with a fresh heartbeat, else an
// *UnhealthyError naming each host that is not.
func (r *StatusReport) Err() error {
	var bad []string
	for _, a := range r.Agents {
		if !a.Verified {
			bad = append(bad, a.Host+": "+strings.Join(a.Problems, "; "))
		}
	}
	if len(bad) == 0 && len(r.Agents) > 0 {
		return nil
	}
	if len(r.Agents) == 0 {
		bad = []string{"no agent host"}
	}
	return &UnhealthyError{Hosts: bad, Total: len(r.Agents)}
}

// judge decides per agent whether it is verified now, and the report's
// health, at the server's time now with heartbeats every interval.
func (r *StatusReport) judge(now time.Time, interval time.Duration) {
	r.Healthy = len(r.Agents) > 0
	for i := range r.Agents {
		a := &r.Agents[i]
		var why []string
		if !a.Reachable {
			why = append(why, "its files could not be read over SSH"+orEmpty(": ", a.Error))
		} else {
			if a.UseTLS != "1" || a.VerifyCertFile == "" {
				why = append(why, "config.ini does not ask for verified TLS (use_tls=1, verify_cert_file)")
			}
			if !a.PEMMatches {
				why = append(why, "the PEM it trusts is not the server's certificate")
			}
			if !a.NameMatches {
				why = append(why, "the server certificate does not name its server_host")
			}
		}
		if !r.Server.AgentTLS {
			why = append(why, "AGENT_TLS is off on the server")
		}
		age := now.Sub(a.LastHeartbeat)
		a.HeartbeatFresh = !a.LastHeartbeat.IsZero() && age < freshIntervals*interval
		switch {
		case a.LastHeartbeat.IsZero():
			why = append(why, "CM has no heartbeat from it")
		case !a.HeartbeatFresh:
			why = append(why, fmt.Sprintf("its last heartbeat is %s old, more than %d heartbeat intervals (%s) on the server's clock: the agent is stopped or cannot reach the server",
				age.Round(time.Second), freshIntervals, interval))
		}
		if !a.HeartbeatFresh {
			a.LastTLS, a.TLS = a.TLS, "stale"
		}
		if a.TLS == "not-verified" {
			why = append(why, "TLS from the host does not verify: "+a.TLSProof)
		}
		if a.TLS == "unknown" && a.Reachable && a.TLSProof != "" {
			why = append(why, a.TLSProof)
		}
		if a.TLS == "plain" || a.TLS == "encrypted" {
			why = append(why, "its last heartbeat came "+map[string]string{"plain": "without TLS", "encrypted": "over TLS without certificate verification (level 1)"}[a.TLS])
		}
		a.Problems, a.Verified = why, len(why) == 0
		r.Healthy = r.Healthy && a.Verified
	}
}

func orEmpty(sep, s string) string {
	if s == "" {
		return ""
	}
	return sep + s
}

// ReadStatus reads, and changes nothing, the state of the server and of every
// agent.
func ReadStatus(ctx context.Context, env *Env) *StatusReport {
	env.init()
	env.discover(ctx)
	r := &StatusReport{Server: ServerStatus{Host: env.Answers.Server.Host}}
	var leaf *x509.Certificate
	if _, c, err := env.serverPEM(); err == nil {
		leaf = c
		r.Server.CertSubject = c.Subject.String()
		r.Server.CertSANs = pki.SANString(c)
		r.Server.CertNotAfter = c.NotAfter.UTC()
		r.Server.CertSHA256 = pki.SHA256Fingerprint(c)
	} else {
		r.Server.CertError = err.Error()
	}
	var hosts []cmapi.Host
	interval := DefaultHeartbeatInterval
	if cfg, err := env.settings(); err == nil {
		interval = heartbeatInterval(cfg)
		get := func(n string) string { it, _ := cmapi.FindByName(cfg, n); return it.Value }
		r.Server.AgentTLS = isTrue(get(settingAgentTLS))
		r.Server.ConsoleTLS = isTrue(get(settingWebTLS))
		r.Server.KeystorePath = get(settingKeystorePath)
		if it, ok := cmapi.FindByDisplayName(cfg, "External Authentication Type"); ok {
			r.Server.SAML = strings.EqualFold(it.Value, "SAML")
		}
		hosts, err = env.Facts().Hosts, env.Facts().HostsErr
		if hosts == nil && err == nil {
			// no agent answered: the runner did not ask, status does
			hosts, err = env.API.Hosts(ctx)
		}
		if err != nil {
			r.Server.APIError = err.Error()
		}
		// The API answer that listed the heartbeats carries the server's
		// clock: judged on it, a skewed clock here cannot make a stopped
		// agent look alive.
		if c, ok := env.API.(serverClock); ok && !c.ServerDate().IsZero() {
			r.ServerTime, r.Clock = c.ServerDate().UTC(), "server"
		}
	} else {
		r.Server.APIError = errors.Unwrap(err).Error()
		r.Server.settingsUnknown = true
	}
	r.Server.RenewPhase = ReadRenewPhase(ctx, env)
	if leaf != nil && r.Server.AgentTLS {
		if why := env.probeHeartbeatPort(ctx, leaf); why == "" {
			r.Server.HeartbeatPort = "this certificate"
		} else {
			r.Server.HeartbeatPort = why
		}
	}
	r.Agents = make([]AgentStatus, len(env.Agents))
	// what the runner read on each agent (one command per host)
	for i, a := range env.Agents {
		r.Agents[i] = agentStatus(env, a, hosts, leaf, r.Server.AgentTLS)
	}
	env.proveAgentTLS(ctx, r.Agents)
	if r.ServerTime.IsZero() {
		r.ServerTime, r.Clock = env.Now().UTC(), "local"
	}
	r.HeartbeatInterval = int(interval / time.Second)
	r.judge(r.ServerTime, interval)
	return r
}

// agentStatus is one agent's row: CM's view of its heartbeats and what the
// runner read on the host.
func agentStatus(env *Env, a *Agent, hosts []cmapi.Host, leaf *x509.Certificate, agentTLS bool) AgentStatus {
	s := AgentStatus{Host: a.Name, TLS: "unknown"}
	if h, ok := findHost(hosts, a.Name); ok {
		s.LastHeartbeat = h.LastHeartbeat.UTC()
	}
	if a.Host == nil {
		if e := env.failure(a.Name); e != nil {
			s.Error = e.Err.Error()
		}
		return s
	}
	s.Reachable = true
	af := env.Facts().Agent(a.Name)
	if af.Err != nil {
		s.Error = af.Err.Error()
		return s
	}
	s.ServerHost, s.UseTLS, s.VerifyCertFile = af.INI.ServerHost, af.INI.UseTLS, af.INI.VerifyCertFile
	switch {
	case af.INI.UseTLS != "1" || !agentTLS:
		s.TLS = "plain"
	case !af.INI.tlsVerified():
		s.TLS = "encrypted"
	}
	if leaf != nil {
		s.NameMatches = pki.MatchHostname(leaf, af.INI.ServerHost) == nil
	}
	if af.PEMExists {
		if certs, err := pki.ParseCertificates(af.PEM); err == nil && len(certs) > 0 {
			s.PEMFingerprint = pki.SHA256Fingerprint(certs[0])
			s.PEMMatches = leaf != nil && certs[0].Equal(leaf)
			s.PEMNotAfter = certs[0].NotAfter.UTC()
		}
	}
	return s
}

// WriteText prints the report for humans.
func (r *StatusReport) WriteText(w io.Writer, now time.Time) error {
	var b strings.Builder
	s := r.Server
	fmt.Fprintf(&b, "server %s\n", s.Host)
	if s.CertError != "" {
		fmt.Fprintf(&b, "  certificate: %s\n", s.CertError)
	} else {
		fmt.Fprintf(&b, "  certificate: %s  SAN [%s]  expires %s (%d days)  sha256 %s\n", s.CertSubject, s.CertSANs,
			s.CertNotAfter.Format(time.DateOnly), int(s.CertNotAfter.Sub(now).Hours()/24), s.CertSHA256)
	}
	if s.APIError != "" {
		fmt.Fprintf(&b, "  api: %s\n", s.APIError)
	}
	if s.settingsUnknown {
		fmt.Fprintf(&b, "  agent TLS (AGENT_TLS): ?   console TLS (WEB_TLS): ?   SAML: ?   (no settings from the CM API: see api above)\n")
	} else {
		fmt.Fprintf(&b, "  agent TLS (AGENT_TLS): %s   console TLS (WEB_TLS): %s   SAML: %s\n", onOff(s.AgentTLS), onOff(s.ConsoleTLS), onOff(s.SAML))
	}
	if s.HeartbeatPort != "" {
		fmt.Fprintf(&b, "  heartbeat port serves: %s\n", s.HeartbeatPort)
	}
	if r.HeartbeatInterval > 0 {
		clock := "the server's clock"
		if r.Clock == "local" {
			clock = "this machine's clock (the server sent no Date)"
		}
		fmt.Fprintf(&b, "  heartbeats are fresh within %d x %ds, judged on %s (%s)\n", freshIntervals, r.HeartbeatInterval, clock, fmtTime(r.ServerTime))
	}
	fmt.Fprintf(&b, "%-20s %-9s %-7s %-16s %-8s %-8s %-32s %s\n", "agent", "reachable", "use_tls", "verify_cert_file", "pem=cert", "name ok", "last heartbeat", "tls")
	for _, a := range r.Agents {
		vcf := a.VerifyCertFile
		if vcf == "" {
			vcf = "-"
		}
		// On a host that cannot be reached nothing was read: the PEM and
		// name checks are unknown, and "no" would send the operator to
		// re-push a certificate that may well be right.
		pemOK, nameOK := yesNo(a.PEMMatches), yesNo(a.NameMatches)
		if !a.Reachable {
			pemOK, nameOK = "?", "?"
		}
		fmt.Fprintf(&b, "%-20s %-9s %-7s %-16s %-8s %-8s %-32s %s\n", a.Host, yesNo(a.Reachable), orDash(a.UseTLS), vcf,
			pemOK, nameOK, heartbeatAge(a.LastHeartbeat, now), a.TLS)
		if a.Error != "" {
			fmt.Fprintf(&b, "    %s\n", a.Error)
		}
		if !a.Verified && len(a.Problems) > 0 && r.HeartbeatInterval > 0 {
			fmt.Fprintf(&b, "    NOT VERIFIED: %s\n", strings.Join(a.Problems, "; "))
		}
	}
	if r.HeartbeatInterval > 0 {
		if r.Healthy {
			fmt.Fprintf(&b, "healthy: %d agent host(s) verified with a fresh heartbeat\n", len(r.Agents))
		} else {
			n := 0
			for _, a := range r.Agents {
				if !a.Verified {
					n++
				}
			}
			fmt.Fprintf(&b, "NOT healthy: %d of %d agent host(s) not verified with a fresh heartbeat\n", n, len(r.Agents))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// heartbeatAge is the last heartbeat with its age: agents heartbeat every
// few seconds (CM's default 15 s), so a heartbeat minutes old means the
// agent stopped (for instance it refuses the server's certificate), whatever
// TLS state that old heartbeat came with.
func heartbeatAge(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	age := now.Sub(t).Round(time.Second)
	if age < 0 {
		age = 0
	}
	return fmtTime(t) + " (" + age.String() + " ago)"
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// proveAgentTLS checks, from each agent host whose config.ini asks for
// verified TLS, that its server verifies with its PEM and server_host as
// written: CM's API does not say how a heartbeat arrived, so this is what
// "verified" rests on. One check per host, in parallel.
func (e *Env) proveAgentTLS(ctx context.Context, rows []AgentStatus) {
	var todo []int
	for i, r := range rows {
		if r.TLS == "unknown" && r.Reachable && r.Error == "" && e.Facts().Agent(rows[i].Host).INI != nil {
			todo = append(todo, i)
		}
	}
	byName := map[string]*Agent{}
	for _, a := range e.Agents {
		byName[a.Name] = a
	}
	FanOut(ctx, todo, e.parallelism(), func(ctx context.Context, i int) error {
		r := &rows[i]
		a := byName[r.Host]
		p, err := e.probeTLS(ctx, a, e.Facts().Agent(r.Host).INI)
		switch {
		case err != nil:
			r.TLSProof = "verified TLS could not be proven from the host: " + err.Error()
		case p.Verified:
			r.TLS, r.TLSProof = "verified", p.Tool+": "+p.Reason
		default:
			r.TLS, r.TLSProof = "not-verified", p.Tool+": "+p.Reason
		}
		return nil
	})
}
