package steps

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/remote"
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
	// TLS is how the last heartbeat came: verified, encrypted (level 1),
	// plain, or unknown (a real CM does not say).
	TLS string `json:"tls"`
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
}

// ReadStatus reads, and changes nothing, the state of the server and of every
// agent.
func ReadStatus(ctx context.Context, env *Env) *StatusReport {
	env.init()
	env.connect(ctx)
	r := &StatusReport{Server: ServerStatus{Host: env.Answers.Server.Host}}
	var leaf *x509.Certificate
	if _, c, err := env.serverPEM(ctx); err == nil {
		leaf = c
		r.Server.CertSubject = c.Subject.String()
		r.Server.CertSANs = pki.SANString(c)
		r.Server.CertNotAfter = c.NotAfter.UTC()
		r.Server.CertSHA256 = pki.SHA256Fingerprint(c)
	} else {
		r.Server.CertError = err.Error()
	}
	var hosts []cmapi.Host
	if cfg, err := env.API.Config(ctx); err == nil {
		get := func(n string) string { it, _ := cmapi.FindByName(cfg, n); return it.Value }
		r.Server.AgentTLS = isTrue(get(settingAgentTLS))
		r.Server.ConsoleTLS = isTrue(get(settingWebTLS))
		r.Server.KeystorePath = get(settingKeystorePath)
		if it, ok := cmapi.FindByDisplayName(cfg, "External Authentication Type"); ok {
			r.Server.SAML = strings.EqualFold(it.Value, "SAML")
		}
		hosts, err = env.API.Hosts(ctx)
		if err != nil {
			r.Server.APIError = err.Error()
		}
	} else {
		r.Server.APIError = err.Error()
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
	idx := map[*Agent]int{}
	for i, a := range env.Agents {
		idx[a] = i
	}
	fanOut(ctx, env.Agents, env.parallelism(), func(ctx context.Context, a *Agent) {
		s := AgentStatus{Host: a.Name, TLS: "unknown"}
		defer func() { r.Agents[idx[a]] = s }()
		if h, ok := findHost(hosts, a.Name); ok {
			s.LastHeartbeat = h.LastHeartbeat.UTC()
			if t := h.AgentTLS; t != nil {
				switch {
				case t.Enabled && t.Verified:
					s.TLS = "verified"
				case t.Enabled:
					s.TLS = "encrypted"
				default:
					s.TLS = "plain"
				}
			}
		}
		if a.Host == nil {
			env.mu.Lock()
			e := env.failed[a.Name]
			env.mu.Unlock()
			if e != nil {
				s.Error = e.Err.Error()
			}
			return
		}
		s.Reachable = true
		files, err := remote.ReadFiles(ctx, a.Host, a.ConfigPath, a.PEMDest)
		if err != nil {
			s.Error = err.Error()
			return
		}
		if files[0].Info.Exists {
			if ini, err := parseAgentINI(files[0].Data); err == nil {
				s.ServerHost, s.UseTLS, s.VerifyCertFile = ini.ServerHost, ini.UseTLS, ini.VerifyCertFile
				if leaf != nil {
					s.NameMatches = pki.MatchHostname(leaf, ini.ServerHost) == nil
				}
			}
		} else {
			s.Error = a.ConfigPath + " not found"
		}
		if files[1].Info.Exists {
			if certs, err := pki.ParseCertificates(files[1].Data); err == nil && len(certs) > 0 {
				s.PEMFingerprint = pki.SHA256Fingerprint(certs[0])
				s.PEMMatches = leaf != nil && certs[0].Equal(leaf)
				s.PEMNotAfter = certs[0].NotAfter.UTC()
			}
		}
	})
	return r
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
	if s.RenewPhase != "" {
		fmt.Fprintf(&b, "  renewal under way: phase %s (cmtls renew continues it)\n", s.RenewPhase)
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
