package answers

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
	"time"
)

// Defaults of the contract and of a stock CM install.
const (
	DefaultAlias            = "jetty"
	DefaultPEMDest          = "/etc/cmf/server.pem"
	DefaultAgentConfig      = "/etc/cloudera-scm-agent/config.ini"
	DefaultAgentLog         = "/var/log/cloudera-scm-agent/cloudera-scm-agent.log"
	DefaultAgentRestart     = "service cloudera-scm-agent restart"
	DefaultAgentCheck       = "service cloudera-scm-agent status"
	DefaultServerRestart    = "service cloudera-scm-server restart"
	DefaultParallelism      = 50
	DefaultCanary           = 1
	DefaultValidityDays     = 180 // the seed's keytool -validity 180
	DefaultKeyAlgorithm     = "RSA"
	DefaultRSAKeySize       = 2048
	DefaultECKeySize        = 256
	DefaultHeartbeatTimeout = 5 * time.Minute // a real CM server takes 1-5 minutes to start
	DefaultAPITimeout       = 5 * time.Minute
	DefaultCommandTimeout   = 5 * time.Minute
	DefaultServerUser       = "cloudera-scm"
	DefaultTruststorePath   = "/opt/cloudera/security/x509/cms-truststore.jks"
	DefaultPollInterval     = 2 * time.Second
	DefaultSSHPort          = 22
	DefaultSAMLEntityID     = "clouderaManager"
	DefaultUserIDAttribute  = "urn:oid:0.9.2342.19200300.100.1.1"
	DefaultRoleAttribute    = "urn:oid:2.5.4.11"
	DefaultDERPath          = "/opt/cloudera/security/x509/server.der"
	DefaultPEMPath          = "/opt/cloudera/security/x509/server.pem"
)

// ApplyDefaults fills every field the user left out with the contract's
// default. It is idempotent.
func (f *File) ApplyDefaults() {
	if s := f.Server; s != nil {
		if k := s.Keystore; k != nil {
			if k.Alias == "" {
				k.Alias = DefaultAlias
			}
			if k.Type == "" {
				k.Type = "jks"
			}
			if g := k.Generate; g != nil {
				if g.ValidityDays == 0 {
					g.ValidityDays = DefaultValidityDays
				}
				if g.KeyAlgorithm == "" {
					g.KeyAlgorithm = DefaultKeyAlgorithm
				}
				g.KeyAlgorithm = strings.ToUpper(g.KeyAlgorithm)
				if g.KeySize == 0 {
					g.KeySize = DefaultRSAKeySize
					if g.KeyAlgorithm == "EC" {
						g.KeySize = DefaultECKeySize
					}
				}
			}
		}
		if s.DERPath == "" {
			s.DERPath = DefaultDERPath
		}
		if s.PEMPath == "" {
			s.PEMPath = DefaultPEMPath
		}
		if s.RestartCommand == "" {
			s.RestartCommand = DefaultServerRestart
		}
		if s.API != nil && s.API.User == "" {
			s.API.User = "admin"
		}
	}
	if a := f.Agents; a != nil {
		if a.PEMDest == "" {
			a.PEMDest = DefaultPEMDest
		}
		if a.ConfigPath == "" {
			a.ConfigPath = DefaultAgentConfig
		}
		if a.RestartCommand == "" {
			a.RestartCommand = DefaultAgentRestart
		}
		if a.CheckCommand == "" {
			a.CheckCommand = DefaultAgentCheck
		}
		if a.LogPath == "" {
			a.LogPath = DefaultAgentLog
		}
		if a.Parallelism == 0 {
			a.Parallelism = DefaultParallelism
		}
		if a.Canary == nil {
			c := DefaultCanary
			a.Canary = &c
		}
		if a.SSH == nil {
			a.SSH = &SSH{}
		}
		if a.SSH.Port == 0 {
			a.SSH.Port = DefaultSSHPort
		}
	}
	if f.TLS == nil {
		f.TLS = &TLS{}
	}
	if f.TLS.AgentEncryption == nil {
		t := true
		f.TLS.AgentEncryption = &t
	}
	if f.Verify == nil {
		f.Verify = &Verify{}
	}
	if f.Verify.HeartbeatTimeout == 0 {
		f.Verify.HeartbeatTimeout = Duration(DefaultHeartbeatTimeout)
	}
	if f.Verify.PollInterval == 0 {
		f.Verify.PollInterval = Duration(DefaultPollInterval)
	}
	if f.Verify.APITimeout == 0 {
		f.Verify.APITimeout = Duration(DefaultAPITimeout)
	}
	if f.Verify.CommandTimeout == 0 {
		f.Verify.CommandTimeout = Duration(DefaultCommandTimeout)
	}
	if s := f.SAML; s != nil {
		if s.EntityID == "" {
			s.EntityID = DefaultSAMLEntityID
		}
		if s.Keystore != nil && s.Keystore.Type == "" {
			s.Keystore.Type = "jks"
		}
		if s.UserID == nil {
			s.UserID = &UserID{From: "attribute"}
		}
		if s.UserID.From == "attribute" && s.UserID.Attribute == "" {
			s.UserID.Attribute = DefaultUserIDAttribute
		}
		if s.Role != nil && s.Role.From == "attribute" && s.Role.Attribute == "" {
			s.Role.Attribute = DefaultRoleAttribute
		}
		if s.ResponseBinding == "" {
			s.ResponseBinding = "HTTP-POST"
		}
	}
}

// Resolved agent host with every override applied.
type AgentHost struct {
	Name           string // the name CM knows the host by
	Address        string // where to dial SSH
	Port           int
	User           string
	PEMDest        string
	ConfigPath     string
	RestartCommand string
	CheckCommand   string
	LogPath        string
	// IdentityFile is the host's own SSH key (an inventory's
	// ansible_ssh_private_key_file), tried before agents.ssh.identity_file.
	IdentityFile string
	// Become, BecomeUser and BecomePassword are the host's own become
	// settings (an inventory's ansible_become*): Become is "" (as
	// agents.ssh.become), "sudo" or "none"; a zero BecomePassword means
	// agents.ssh.become_password. The password is a Secret: never printed.
	Become         string
	BecomeUser     string
	BecomePassword Secret
}

// AgentHosts returns the agents of agents.hosts with defaults and per-host
// overrides applied (inventory and API hosts are added by the caller).
func (f *File) AgentHosts() []AgentHost {
	a := f.Agents
	if a == nil {
		return nil
	}
	out := make([]AgentHost, 0, len(a.Hosts))
	for _, h := range a.Hosts {
		out = append(out, a.Resolve(h))
	}
	return out
}

// Resolve applies the agents-wide settings under a host's overrides.
func (a *Agents) Resolve(h Host) AgentHost {
	r := AgentHost{Name: h.Name, Address: h.Address, Port: h.Port, User: h.User,
		PEMDest: h.PEMDest, ConfigPath: h.ConfigPath, RestartCommand: h.RestartCommand,
		CheckCommand: h.CheckCommand, LogPath: h.LogPath}
	if r.Port == 0 && a.SSH != nil {
		r.Port = a.SSH.Port
	}
	if r.User == "" && a.SSH != nil {
		r.User = a.SSH.User
	}
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&r.PEMDest, a.PEMDest)
	def(&r.ConfigPath, a.ConfigPath)
	def(&r.RestartCommand, a.RestartCommand)
	def(&r.CheckCommand, a.CheckCommand)
	def(&r.LogPath, a.LogPath)
	return r
}

// ValidatePush checks what `cmtls agents push` needs: version, agents, tls.
func (f *File) ValidatePush() error {
	var errs Errors
	errs = append(errs, f.validateAgents()...)
	return errs.orNil()
}

// ValidateInit checks what `cmtls init` needs.
func (f *File) ValidateInit() error {
	var errs Errors
	errs = append(errs, f.validateServer()...)
	errs = append(errs, f.validateAgents()...)
	if f.Verify != nil && f.Verify.HeartbeatTimeout.D() < time.Second && f.Verify.HeartbeatTimeout != 0 {
		errs = append(errs, f.Errorf("verify.heartbeat_timeout", "use at least a few heartbeat intervals, e.g. 120s", "heartbeat_timeout %s is too short", f.Verify.HeartbeatTimeout.D()))
	}
	if f.Verify != nil {
		for _, w := range []struct {
			key string
			d   Duration
		}{{"verify.api_timeout", f.Verify.APITimeout}, {"verify.command_timeout", f.Verify.CommandTimeout}} {
			if w.d < 0 || w.d != 0 && w.d.D() < time.Second {
				errs = append(errs, f.Errorf(w.key, "a real CM takes minutes: use e.g. 5m", "%s %s is too short", w.key, w.d.D()))
			}
		}
	}
	return errs.orNil()
}

// ValidateSAML checks what `cmtls saml configure` needs.
func (f *File) ValidateSAML() error {
	var errs Errors
	if f.Server == nil || f.Server.API == nil {
		errs = append(errs, f.Errorf("server", "add server.api: {url: http://CM:7180, user: admin, password: {env: CM_ADMIN_PASSWORD}}", "server.api is required: settings are written through the CM API"))
	} else {
		errs = append(errs, f.validateAPI()...)
	}
	s := f.SAML
	if s == nil {
		errs = append(errs, f.Errorf("", "add a saml: section; see the SAML answers file in README.md", "saml is required"))
		return errs.orNil()
	}
	if s.IdPMetadata == "" {
		errs = append(errs, f.Errorf("saml", "set saml.idp_metadata to the IdP's metadata XML file", "saml.idp_metadata is required"))
	}
	if s.Keystore == nil {
		errs = append(errs, f.Errorf("saml", "set saml.keystore {path, password, alias, key_password}", "saml.keystore is required"))
	} else {
		k := s.Keystore
		if k.Path == "" {
			errs = append(errs, f.Errorf("saml.keystore", "set saml.keystore.path", "saml.keystore.path is required"))
		}
		if k.Alias == "" {
			errs = append(errs, f.Errorf("saml.keystore", "set saml.keystore.alias to the private key's alias", "saml.keystore.alias is required"))
		}
		if k.Password.IsZero() {
			errs = append(errs, f.Errorf("saml.keystore", "set saml.keystore.password: {env: NAME}", "saml.keystore.password is required"))
		}
		if k.Type != "jks" && k.Type != "pkcs12" {
			errs = append(errs, f.Errorf("saml.keystore.type", "use jks or pkcs12", "invalid value %q for saml.keystore.type; options are jks, pkcs12", k.Type))
		}
	}
	if s.EntityBaseURL != "" {
		if u, err := url.Parse(s.EntityBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, f.Errorf("saml.entity_base_url", "use the URL browsers reach CM at, e.g. https://cm1.example.com:7183", "saml.entity_base_url %q is not an http(s) URL", s.EntityBaseURL))
		}
	}
	if u := s.UserID; u != nil {
		switch u.From {
		case "nameid", "attribute":
		default:
			errs = append(errs, f.Errorf("saml.user_id.from", "use nameid or attribute", "invalid value %q for saml.user_id.from; options are nameid, attribute", u.From))
		}
	}
	if r := s.Role; r == nil {
		errs = append(errs, f.Errorf("saml", "add saml.role {from: attribute, admin_values: [...], user_values: [...]} or {from: script, script: PATH}", "saml.role is required"))
	} else {
		switch r.From {
		case "attribute":
			if len(r.AdminValues) == 0 && len(r.UserValues) == 0 {
				errs = append(errs, f.Errorf("saml.role", "list the attribute values that mean admin and regular user", "saml.role.admin_values or user_values is required with from: attribute"))
			}
			if r.Script != "" {
				errs = append(errs, f.Errorf("saml.role.script", "remove script, or set from: script", "saml.role.script conflicts with from: attribute"))
			}
		case "script":
			if r.Script == "" {
				errs = append(errs, f.Errorf("saml.role", "set saml.role.script to an executable", "saml.role.script is required with from: script"))
			}
		default:
			errs = append(errs, f.Errorf("saml.role.from", "use attribute or script", "invalid value %q for saml.role.from; options are attribute, script", r.From))
		}
	}
	if b := s.ResponseBinding; b != "" && b != "HTTP-POST" && b != "HTTP-Artifact" {
		errs = append(errs, f.Errorf("saml.response_binding", "use HTTP-POST", "invalid value %q for saml.response_binding; options are HTTP-POST, HTTP-Artifact", b))
	}
	if v := s.Verify; v != nil {
		for i, l := range v.Logins {
			p := fmt.Sprintf("saml.verify.logins[%d]", i)
			if l.User == "" || l.Password.IsZero() {
				errs = append(errs, f.Errorf(p, "give user and password", "%s needs user and password", p))
			}
			switch l.Expect {
			case "admin", "user", "unauthorized":
			default:
				errs = append(errs, f.Errorf(p+".expect", "use admin, user or unauthorized", "invalid value %q for %s.expect; options are admin, user, unauthorized", l.Expect, p))
			}
		}
	}
	return errs.orNil()
}

func (es Errors) orNil() error {
	if len(es) == 0 {
		return nil
	}
	if len(es) == 1 {
		return es[0]
	}
	return es
}

func (f *File) validateAPI() Errors {
	var errs Errors
	a := f.Server.API
	u, err := url.Parse(a.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, f.Errorf("server.api.url", "use e.g. http://cm1.example.com:7180", "server.api.url %q is not an http(s) URL", a.URL))
	}
	if a.Password.IsZero() {
		errs = append(errs, f.Errorf("server.api", "set server.api.password: {env: CM_ADMIN_PASSWORD}", "server.api.password is required"))
	}
	return errs
}

func (f *File) validateServer() Errors {
	var errs Errors
	s := f.Server
	if s == nil {
		return Errors{f.Errorf("", "add a server: section with host, api and keystore", "server is required")}
	}
	if s.Host == "" {
		errs = append(errs, f.Errorf("server", "set server.host to the FQDN agents use to reach CM", "server.host is required"))
	} else if err := checkHostName(s.Host); err != nil {
		errs = append(errs, f.Errorf("server.host", "use the server's FQDN or static IP", "server.host: %v", err))
	}
	if s.API == nil {
		errs = append(errs, f.Errorf("server", "add server.api: {url: http://CM:7180, user: admin, password: {env: CM_ADMIN_PASSWORD}}", "server.api is required"))
	} else {
		errs = append(errs, f.validateAPI()...)
	}
	k := s.Keystore
	if k == nil {
		errs = append(errs, f.Errorf("server", "add server.keystore {path, password, generate: {...}}", "server.keystore is required"))
		return errs
	}
	if k.Path == "" {
		errs = append(errs, f.Errorf("server.keystore", "set server.keystore.path", "server.keystore.path is required"))
	}
	if k.Password.IsZero() {
		errs = append(errs, f.Errorf("server.keystore", "set server.keystore.password: {env: CMTLS_KEYSTORE_PASSWORD}", "server.keystore.password is required"))
	}
	if k.Type != "jks" && k.Type != "pkcs12" {
		errs = append(errs, f.Errorf("server.keystore.type", "use jks or pkcs12", "invalid value %q for server.keystore.type; options are jks, pkcs12", k.Type))
	}
	if k.Generate != nil && k.Import != nil {
		errs = append(errs, f.Errorf("server.keystore.import", "keep one of them", "server.keystore.generate conflicts with server.keystore.import"))
	}
	if g := k.Generate; g != nil {
		switch g.KeyAlgorithm {
		case "RSA":
			if g.KeySize != 2048 && g.KeySize != 3072 && g.KeySize != 4096 {
				errs = append(errs, f.Errorf("server.keystore.generate.key_size", "use 2048, 3072 or 4096", "invalid value %d for key_size with RSA; options are 2048, 3072, 4096", g.KeySize))
			}
		case "EC":
			if g.KeySize != 256 && g.KeySize != 384 {
				errs = append(errs, f.Errorf("server.keystore.generate.key_size", "use 256 or 384", "invalid value %d for key_size with EC; options are 256, 384", g.KeySize))
			}
		default:
			errs = append(errs, f.Errorf("server.keystore.generate.key_algorithm", "use RSA or EC", "invalid value %q for key_algorithm; options are RSA, EC", g.KeyAlgorithm))
		}
		if g.ValidityDays < 1 || g.ValidityDays > 3650 {
			errs = append(errs, f.Errorf("server.keystore.generate.validity_days", "use a number of days between 1 and 3650", "validity_days %d is out of range", g.ValidityDays))
		}
	}
	if i := k.Import; i != nil && i.Cert == "" {
		errs = append(errs, f.Errorf("server.keystore.import", "set import.cert to the CA-signed certificate (PEM)", "server.keystore.import.cert is required"))
	}
	for _, p := range []struct{ name, v string }{{"server.der_path", s.DERPath}, {"server.pem_path", s.PEMPath}, {"server.keystore.path", k.Path}} {
		if p.v != "" && !path.IsAbs(p.v) && s.SSH != nil {
			errs = append(errs, f.Errorf(p.name, "use an absolute path on the server host", "%s must be absolute when the server is reached over SSH", p.name))
		}
	}
	return errs
}

func (f *File) validateAgents() Errors {
	var errs Errors
	a := f.Agents
	if a == nil {
		return Errors{f.Errorf("", "add an agents: section with hosts (or inventory)", "agents is required")}
	}
	if len(a.Hosts) == 0 && a.Inventory == "" && !a.FromAPI {
		errs = append(errs, f.Errorf("agents", "list agents.hosts, or set agents.inventory to an Ansible inventory, or agents.from_api: true", "no agent hosts: agents.hosts, agents.inventory or agents.from_api is required"))
	}
	seen := map[string]int{}
	for i, h := range a.Hosts {
		p := fmt.Sprintf("agents.hosts[%d]", i)
		if h.Name == "" {
			errs = append(errs, f.Errorf(p, "give every host a name", "%s has no name", p))
			continue
		}
		if err := checkHostName(h.Name); err != nil {
			errs = append(errs, f.Errorf(p, "use the host's name as CM knows it", "%s: %v", p, err))
		}
		if j, dup := seen[h.Name]; dup {
			errs = append(errs, f.Errorf(p, "list each host once", "host %s is listed twice (also agents.hosts[%d])", h.Name, j))
		}
		seen[h.Name] = i
		if h.Port < 0 || h.Port > 65535 {
			errs = append(errs, f.Errorf(p+".port", "use a TCP port 1-65535", "%s.port %d is out of range", p, h.Port))
		}
		for _, pp := range []struct{ n, v string }{{"pem_dest", h.PEMDest}, {"config_path", h.ConfigPath}} {
			if pp.v != "" && !path.IsAbs(pp.v) {
				errs = append(errs, f.Errorf(p+"."+pp.n, "use an absolute path on the agent host", "%s.%s must be an absolute path", p, pp.n))
			}
		}
	}
	for _, pp := range []struct{ n, v string }{{"pem_dest", a.PEMDest}, {"config_path", a.ConfigPath}, {"log_path", a.LogPath}} {
		if pp.v != "" && !path.IsAbs(pp.v) {
			errs = append(errs, f.Errorf("agents."+pp.n, "use an absolute path on the agent host", "agents.%s must be an absolute path", pp.n))
		}
	}
	if a.Parallelism < 0 || a.Parallelism > 1000 {
		errs = append(errs, f.Errorf("agents.parallelism", "use 1-1000", "agents.parallelism %d is out of range", a.Parallelism))
	}
	if a.Canary != nil && *a.Canary < 0 {
		errs = append(errs, f.Errorf("agents.canary", "use 0 (no canary) or more", "agents.canary cannot be negative"))
	}
	if s := a.SSH; s != nil {
		if s.Become != "" && s.Become != "sudo" {
			errs = append(errs, f.Errorf("agents.ssh.become", "use sudo, or leave it out", "invalid value %q for agents.ssh.become; options are sudo", s.Become))
		}
		if s.Port < 0 || s.Port > 65535 {
			errs = append(errs, f.Errorf("agents.ssh.port", "use a TCP port 1-65535", "agents.ssh.port %d is out of range", s.Port))
		}
	}
	return errs
}

// checkHostName refuses what can never be a host name or address.
func checkHostName(h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	if len(h) > 253 {
		return fmt.Errorf("%q is longer than 253 characters", h)
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%q is not a valid host name", h)
		}
		for _, c := range label {
			if !(c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return fmt.Errorf("%q is not a valid host name (character %q)", h, c)
			}
		}
		if label[0] == '-' {
			return fmt.Errorf("%q is not a valid host name (a label starts with '-')", h)
		}
	}
	return nil
}
