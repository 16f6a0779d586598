package steps

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// CheckState is a monitoring plugin's service state. Its number is the
// plugin's exit status by the Monitoring Plugins Development Guidelines
// ("Plugin Return Codes"), the convention Nagios and Icinga read.
type CheckState int

// The four states, in order of severity (UNKNOWN is reported over the
// others only when nothing worse was seen: a CRITICAL finding stays
// CRITICAL even when some other part could not be read).
const (
	CheckOK       CheckState = 0
	CheckWarning  CheckState = 1
	CheckCritical CheckState = 2
	CheckUnknown  CheckState = 3
)

func (s CheckState) String() string {
	switch s {
	case CheckOK:
		return "OK"
	case CheckWarning:
		return "WARNING"
	case CheckCritical:
		return "CRITICAL"
	}
	return "UNKNOWN"
}

// MarshalText makes the state read as its name in JSON.
func (s CheckState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// rank orders states by how much they should wake someone: CRITICAL over
// WARNING over UNKNOWN over OK.
func (s CheckState) rank() int {
	switch s {
	case CheckCritical:
		return 3
	case CheckWarning:
		return 2
	case CheckUnknown:
		return 1
	}
	return 0
}

// worse returns the more severe of a and b.
func worse(a, b CheckState) CheckState {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// DefaultHeartbeatMaxAge is how old an agent's last heartbeat may be and
// still count as fresh: CM marks a host Concerning after 5 missed
// heartbeats ("Set health status to Concerning if the Agent heartbeats
// fail") at its default interval of 15 s ("Send Agent Heartbeat Every").
const DefaultHeartbeatMaxAge = 5 * 15 * time.Second

// CheckOptions are the thresholds of a check.
type CheckOptions struct {
	// Warn and Critical: the state is WARNING (CRITICAL) when a
	// certificate has less than this left.
	Warn, Critical time.Duration
	// HeartbeatMaxAge: an older last heartbeat is not fresh (0: the default).
	HeartbeatMaxAge time.Duration
	Now             time.Time
}

// CheckFinding is one thing the check found wrong (or could not tell).
type CheckFinding struct {
	State CheckState `json:"state"`
	Host  string     `json:"host,omitempty"` // "" for the server
	What  string     `json:"what"`
}

// AgentCheck is one agent's part of the check.
type AgentCheck struct {
	Host      string     `json:"host"`
	State     CheckState `json:"state"`
	Reachable bool       `json:"reachable"`
	// Verified: its last heartbeat is fresh and came over TLS verified
	// against its PEM (or, on a CM that does not say how a heartbeat came,
	// its config.ini asks for verification and its PEM is the server's
	// certificate).
	Verified     bool      `json:"verified"`
	PEMMatches   bool      `json:"pem_matches_server"`
	PEMNotAfter  time.Time `json:"pem_not_after,omitzero"`
	HeartbeatAge float64   `json:"heartbeat_age_seconds"` // -1: never
}

// CheckResult is the outcome of `cmtls check`: one state, the line a
// monitoring system shows, and the figures behind it.
type CheckResult struct {
	State    CheckState     `json:"state"`
	Summary  string         `json:"summary"`
	Findings []CheckFinding `json:"findings"`
	Server   struct {
		Host         string    `json:"host"`
		CertNotAfter time.Time `json:"cert_not_after,omitzero"`
		CertLeft     float64   `json:"cert_seconds_left"`
		CertSHA256   string    `json:"cert_sha256,omitempty"`
		AgentTLS     bool      `json:"agent_tls"`
		RenewPhase   string    `json:"renew_phase,omitempty"`
	} `json:"server"`
	Agents  []AgentCheck    `json:"agents"`
	Options checkThresholds `json:"thresholds"`
	// now is when the check ran (for the textfile's timestamp).
	now time.Time
}

type checkThresholds struct {
	WarnSeconds     float64 `json:"warn_seconds"`
	CriticalSeconds float64 `json:"critical_seconds"`
	HeartbeatMaxAge float64 `json:"heartbeat_max_age_seconds"`
}

// Check judges a status report by the thresholds: the server certificate's
// remaining validity (and that of every agent's PEM), each agent's PEM
// equal to the server's certificate and naming its server_host, and a
// fresh heartbeat over verified TLS from every agent. It reads nothing:
// the report (ReadStatus) has it all.
func Check(r *StatusReport, o CheckOptions) *CheckResult {
	if o.HeartbeatMaxAge <= 0 {
		o.HeartbeatMaxAge = DefaultHeartbeatMaxAge
	}
	c := &CheckResult{now: o.Now, Findings: []CheckFinding{}, Agents: []AgentCheck{}}
	c.Options = checkThresholds{WarnSeconds: o.Warn.Seconds(), CriticalSeconds: o.Critical.Seconds(), HeartbeatMaxAge: o.HeartbeatMaxAge.Seconds()}
	s := r.Server
	c.Server.Host, c.Server.CertSHA256, c.Server.AgentTLS = s.Host, s.CertSHA256, s.AgentTLS
	c.Server.RenewPhase = s.RenewPhase
	add := func(st CheckState, host, format string, args ...any) {
		c.Findings = append(c.Findings, CheckFinding{State: st, Host: host, What: fmt.Sprintf(format, args...)})
		c.State = worse(c.State, st)
	}
	// validity grades the time a certificate has left.
	validity := func(host, what string, notAfter time.Time) {
		left := notAfter.Sub(o.Now)
		days := int(math.Floor(left.Hours() / 24))
		switch {
		case left <= 0:
			add(CheckCritical, host, "%s expired %s", what, notAfter.UTC().Format(time.DateOnly))
		case left < o.Critical:
			add(CheckCritical, host, "%s expires in %d days (%s)", what, days, notAfter.UTC().Format(time.DateOnly))
		case left < o.Warn:
			add(CheckWarning, host, "%s expires in %d days (%s)", what, days, notAfter.UTC().Format(time.DateOnly))
		}
	}

	apiDown := s.APIError != ""
	if apiDown {
		add(CheckUnknown, "", "CM API: %s", firstLine(s.APIError))
	}
	if s.CertError != "" {
		add(CheckUnknown, "", "server certificate: %s", firstLine(s.CertError))
	} else {
		c.Server.CertNotAfter = s.CertNotAfter
		c.Server.CertLeft = s.CertNotAfter.Sub(o.Now).Seconds()
		validity("", "the server certificate", s.CertNotAfter)
	}
	if !apiDown && !s.settingsUnknown && !s.AgentTLS {
		add(CheckCritical, "", "AGENT_TLS is off: agents do not use TLS (run cmtls init)")
	}
	if !apiDown && s.AgentTLS && s.HeartbeatPort != "" && s.HeartbeatPort != "this certificate" && !strings.HasPrefix(s.HeartbeatPort, "cannot reach") {
		add(CheckCritical, "", "%s", s.HeartbeatPort)
	}
	if s.RenewPhase != "" {
		add(CheckWarning, "", "a renewal is under way (phase %s): run cmtls renew again to finish it", s.RenewPhase)
	}

	for _, a := range r.Agents {
		ac := AgentCheck{Host: a.Host, Reachable: a.Reachable, PEMMatches: a.PEMMatches, PEMNotAfter: a.PEMNotAfter, HeartbeatAge: -1}
		before := len(c.Findings)
		if !a.LastHeartbeat.IsZero() {
			ac.HeartbeatAge = math.Max(0, o.Now.Sub(a.LastHeartbeat).Seconds())
		}
		fresh := !a.LastHeartbeat.IsZero() && o.Now.Sub(a.LastHeartbeat) <= o.HeartbeatMaxAge
		switch {
		case apiDown:
			// the hosts API was not read: nothing is known of heartbeats
		case a.LastHeartbeat.IsZero():
			add(CheckCritical, a.Host, "never heartbeated")
		case !fresh:
			add(CheckCritical, a.Host, "last heartbeat %s ago (more than %s)", time.Duration(ac.HeartbeatAge*float64(time.Second)).Round(time.Second), o.HeartbeatMaxAge)
		case a.TLS == "encrypted":
			add(CheckCritical, a.Host, "heartbeats over TLS without verifying the server (level 1)")
		case a.TLS == "plain":
			add(CheckCritical, a.Host, "heartbeats without TLS")
		}
		if !a.Reachable {
			why := "cannot be reached"
			if a.Error != "" {
				why += ": " + firstLine(a.Error)
			}
			add(CheckUnknown, a.Host, "%s (its PEM and config.ini are not checked)", why)
		} else {
			switch {
			case a.Error != "":
				add(CheckUnknown, a.Host, "%s", firstLine(a.Error))
			case a.PEMFingerprint == "":
				add(CheckCritical, a.Host, "no certificate in its PEM (verify_cert_file)")
			case !a.PEMMatches && s.CertError == "" && s.RenewPhase != "":
				// mid-renewal the PEM is a bundle led by the new
				// certificate; the heartbeats say whether it verifies
				add(CheckWarning, a.Host, "its PEM (sha256 %s) is not the server's certificate alone (renewal under way)", shortFP(a.PEMFingerprint))
			case !a.PEMMatches && s.CertError == "":
				add(CheckCritical, a.Host, "its PEM (sha256 %s) is not the server's certificate", shortFP(a.PEMFingerprint))
			}
			if a.PEMFingerprint != "" && !a.PEMNotAfter.IsZero() {
				validity(a.Host, "its PEM's certificate", a.PEMNotAfter)
			}
			if a.ServerHost != "" && !a.NameMatches && s.CertError == "" {
				add(CheckCritical, a.Host, "the server certificate does not name its server_host %s", a.ServerHost)
			}
			if a.UseTLS != "1" || a.VerifyCertFile == "" {
				add(CheckCritical, a.Host, "config.ini does not verify the server (use_tls=%s, verify_cert_file=%s)", orDash(a.UseTLS), orDash(a.VerifyCertFile))
			}
		}
		ac.State = CheckOK
		for _, f := range c.Findings[before:] {
			ac.State = worse(ac.State, f.State)
		}
		// Verified is what the heartbeats prove: fresh, and over TLS
		// verified (the embedded server says so; a real CM does not, and
		// then the agent's config.ini and PEM, checked above, stand in).
		ac.Verified = !apiDown && fresh && (a.TLS == "verified" || a.TLS == "unknown" && ac.State != CheckCritical && a.Reachable)
		c.Agents = append(c.Agents, ac)
	}
	c.Summary = c.summary(o)
	return c
}

func shortFP(fp string) string {
	if len(fp) > 23 {
		return fp[:23] + "..."
	}
	return fp
}

// summary is the text of the status line: the worst findings first, or
// what is fine.
func (c *CheckResult) summary(o CheckOptions) string {
	verified := 0
	for _, a := range c.Agents {
		if a.Verified {
			verified++
		}
	}
	var ok string
	if c.Server.CertNotAfter.IsZero() {
		ok = fmt.Sprintf("%d/%d agents heartbeat over verified TLS", verified, len(c.Agents))
	} else {
		ok = fmt.Sprintf("server certificate valid %d more days (until %s), %d/%d agents heartbeat over verified TLS",
			int(math.Floor(c.Server.CertLeft/86400)), c.Server.CertNotAfter.UTC().Format(time.DateOnly), verified, len(c.Agents))
	}
	if len(c.Findings) == 0 {
		return ok
	}
	fs := append([]CheckFinding(nil), c.Findings...)
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].State.rank() > fs[j].State.rank() })
	var parts []string
	for i, f := range fs {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(fs)-3))
			break
		}
		if f.Host != "" {
			parts = append(parts, f.Host+": "+f.What)
		} else {
			parts = append(parts, f.What)
		}
	}
	return strings.Join(parts, "; ") + " (" + ok + ")"
}

// Line is the plugin's output: `CMTLS STATE - text | perfdata`, on one
// line, with the performance data in the Development Guidelines' syntax
// ('label'=value[UOM];[warn];[crit];[min];[max]). Thresholds are ranges:
// "N:" alerts when the value falls below N, as a certificate's time left does.
func (c *CheckResult) Line() string {
	text := strings.NewReplacer("|", "/", "\n", " ").Replace(c.Summary)
	return fmt.Sprintf("CMTLS %s - %s | %s", c.State, text, strings.Join(c.Perfdata(), " "))
}

// Perfdata is the performance data of the status line.
func (c *CheckResult) Perfdata() []string {
	var p []string
	warn := fmt.Sprintf("%d:", int64(c.Options.WarnSeconds))
	crit := fmt.Sprintf("%d:", int64(c.Options.CriticalSeconds))
	if !c.Server.CertNotAfter.IsZero() {
		p = append(p, fmt.Sprintf("server_cert_seconds_left=%ds;%s;%s", int64(c.Server.CertLeft), warn, crit))
	}
	verified, pemOK := 0, 0
	maxAge := -1.0
	minPEM := math.Inf(1)
	for _, a := range c.Agents {
		if a.Verified {
			verified++
		}
		if a.PEMMatches {
			pemOK++
		}
		maxAge = math.Max(maxAge, a.HeartbeatAge)
		if !a.PEMNotAfter.IsZero() {
			minPEM = math.Min(minPEM, a.PEMNotAfter.Sub(c.now).Seconds())
		}
	}
	n := len(c.Agents)
	if !math.IsInf(minPEM, 1) {
		p = append(p, fmt.Sprintf("agent_pem_seconds_left_min=%ds;%s;%s", int64(minPEM), warn, crit))
	}
	p = append(p, fmt.Sprintf("agents=%d;;;0", n),
		fmt.Sprintf("agents_verified=%d;;%d:;0;%d", verified, n, n),
		fmt.Sprintf("agents_pem_match=%d;;%d:;0;%d", pemOK, n, n))
	if maxAge >= 0 {
		p = append(p, fmt.Sprintf("heartbeat_age_max=%ss;;%d;0", strconv.FormatFloat(maxAge, 'f', 3, 64), int64(c.Options.HeartbeatMaxAge)))
	}
	return p
}

// WritePrometheus writes the result as node_exporter textfile collector
// metrics (the Prometheus text exposition format, version 0.0.4).
func (c *CheckResult) WritePrometheus(w io.Writer) error {
	var b strings.Builder
	family := func(name, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
	}
	sample := func(name string, v float64, labels ...string) {
		b.WriteString(name)
		if len(labels) > 0 {
			b.WriteByte('{')
			for i := 0; i+1 < len(labels); i += 2 {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "%s=\"%s\"", labels[i], promEscape(labels[i+1]))
			}
			b.WriteByte('}')
		}
		fmt.Fprintf(&b, " %s\n", strconv.FormatFloat(v, 'f', -1, 64))
	}
	b2f := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	family("cmtls_check_status", "Outcome of cmtls check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.")
	sample("cmtls_check_status", float64(c.State))
	family("cmtls_check_timestamp_seconds", "When cmtls check ran, in seconds since the Unix epoch.")
	sample("cmtls_check_timestamp_seconds", float64(c.now.Unix()))
	family("cmtls_certificate_expiry_timestamp_seconds", "NotAfter of a certificate, in seconds since the Unix epoch: the server's (role server) and the first one of each agent's PEM (role agent_pem).")
	if !c.Server.CertNotAfter.IsZero() {
		sample("cmtls_certificate_expiry_timestamp_seconds", float64(c.Server.CertNotAfter.Unix()), "host", c.Server.Host, "role", "server")
	}
	for _, a := range c.Agents {
		if !a.PEMNotAfter.IsZero() {
			sample("cmtls_certificate_expiry_timestamp_seconds", float64(a.PEMNotAfter.Unix()), "host", a.Host, "role", "agent_pem")
		}
	}
	family("cmtls_agent_verified", "1 when the agent's last heartbeat is fresh and came over TLS verified against its PEM.")
	for _, a := range c.Agents {
		sample("cmtls_agent_verified", b2f(a.Verified), "host", a.Host)
	}
	family("cmtls_agent_pem_matches_server", "1 when the first certificate of the agent's PEM (verify_cert_file) is the server's certificate.")
	for _, a := range c.Agents {
		sample("cmtls_agent_pem_matches_server", b2f(a.PEMMatches), "host", a.Host)
	}
	family("cmtls_agent_reachable", "1 when the agent host could be reached over SSH to read its files.")
	for _, a := range c.Agents {
		sample("cmtls_agent_reachable", b2f(a.Reachable), "host", a.Host)
	}
	family("cmtls_agent_heartbeat_age_seconds", "Age of the agent's last heartbeat as the CM hosts API gives it (absent: never, or the API did not answer).")
	for _, a := range c.Agents {
		if a.HeartbeatAge >= 0 {
			sample("cmtls_agent_heartbeat_age_seconds", a.HeartbeatAge, "host", a.Host)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// promEscape escapes a label value: backslash, double quote and line feed
// (the text exposition format's only escapes).
func promEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
