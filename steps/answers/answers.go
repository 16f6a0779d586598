package answers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// File is the whole answers file. `cmtls init` uses server, agents, tls and
// verify; `cmtls agents push` needs only agents and tls; `cmtls saml
// configure` uses server and saml.
type File struct {
	Version int     `yaml:"version" json:"version"`
	Server  *Server `yaml:"server,omitempty" json:"server,omitempty"`
	Agents  *Agents `yaml:"agents,omitempty" json:"agents,omitempty"`
	TLS     *TLS    `yaml:"tls,omitempty" json:"tls,omitempty"`
	Verify  *Verify `yaml:"verify,omitempty" json:"verify,omitempty"`
	SAML    *SAML   `yaml:"saml,omitempty" json:"saml,omitempty"`

	// Path is the file it was read from; Dir is where relative paths in it
	// are taken from.
	Path string `yaml:"-" json:"-"`
	Dir  string `yaml:"-" json:"-"`
	// Warnings are non-fatal remarks (e.g. a secret in plain text).
	Warnings []string `yaml:"-" json:"-"`

	lines map[string]int // dotted path -> line, for messages
}

// Server is the CM server host.
type Server struct {
	Host           string    `yaml:"host" json:"host"`
	SSH            *SSH      `yaml:"ssh,omitempty" json:"ssh,omitempty"`
	API            *API      `yaml:"api,omitempty" json:"api,omitempty"`
	Keystore       *Keystore `yaml:"keystore,omitempty" json:"keystore,omitempty"`
	DERPath        string    `yaml:"der_path,omitempty" json:"der_path,omitempty"`
	PEMPath        string    `yaml:"pem_path,omitempty" json:"pem_path,omitempty"`
	RestartCommand string    `yaml:"restart_command,omitempty" json:"restart_command,omitempty"`
	// User is the account the CM server runs as (default: the owner of
	// the running server process, else cloudera-scm): the keystore must be
	// readable by it before AGENT_TLS or WEB_TLS go on.
	User string `yaml:"user,omitempty" json:"user,omitempty"`
	// Truststore is the file Step 7 gives the Cloudera Management Service
	// roles so that they trust the console's certificate.
	Truststore *Truststore `yaml:"truststore,omitempty" json:"truststore,omitempty"`
}

// Truststore is a JKS truststore written on the CM server holding the
// server's certificate (Step 7, for the Cloudera Management Service).
type Truststore struct {
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// Password protects the file's integrity; generated when not given.
	Password Secret `yaml:"password,omitempty" json:"-"`
}

// SSH says how to reach a host over SSH. Address defaults to the host name.
type SSH struct {
	Address        string   `yaml:"address,omitempty" json:"address,omitempty"`
	Port           int      `yaml:"port,omitempty" json:"port,omitempty"`
	User           string   `yaml:"user,omitempty" json:"user,omitempty"`
	IdentityFile   string   `yaml:"identity_file,omitempty" json:"identity_file,omitempty"`
	Passphrase     Secret   `yaml:"passphrase,omitempty" json:"-"`
	KnownHosts     string   `yaml:"known_hosts,omitempty" json:"known_hosts,omitempty"`
	Config         string   `yaml:"config,omitempty" json:"config,omitempty"`
	Become         string   `yaml:"become,omitempty" json:"become,omitempty"` // "" | sudo
	BecomePassword Secret   `yaml:"become_password,omitempty" json:"-"`
	Timeout        Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// API is the CM REST API.
type API struct {
	URL      string `yaml:"url" json:"url"`
	User     string `yaml:"user,omitempty" json:"user,omitempty"`
	Password Secret `yaml:"password,omitempty" json:"-"`
	// CAFile verifies the API's HTTPS certificate (once console TLS is on).
	CAFile string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
	// Version pins the API version (e.g. v19); found from /api/version when empty.
	Version string `yaml:"version,omitempty" json:"version,omitempty"`
}

// Keystore is the server's keystore (Step 2).
type Keystore struct {
	Path     string    `yaml:"path" json:"path"`
	Type     string    `yaml:"type,omitempty" json:"type,omitempty"` // jks | pkcs12
	Alias    string    `yaml:"alias,omitempty" json:"alias,omitempty"`
	Password Secret    `yaml:"password" json:"-"`
	Generate *Generate `yaml:"generate,omitempty" json:"generate,omitempty"`
	Import   *Import   `yaml:"import,omitempty" json:"import,omitempty"`
}

// Generate is Step 2.1: keytool -genkeypair.
type Generate struct {
	ValidityDays int      `yaml:"validity_days,omitempty" json:"validity_days,omitempty"`
	KeyAlgorithm string   `yaml:"key_algorithm,omitempty" json:"key_algorithm,omitempty"` // RSA | EC
	KeySize      int      `yaml:"key_size,omitempty" json:"key_size,omitempty"`
	Subject      *Subject `yaml:"subject,omitempty" json:"subject,omitempty"`
	SAN          []string `yaml:"san,omitempty" json:"san,omitempty"`
}

// Subject holds the keytool questions other than the CN (always server.host).
type Subject struct {
	OU string `yaml:"ou,omitempty" json:"ou,omitempty"`
	O  string `yaml:"o,omitempty" json:"o,omitempty"`
	L  string `yaml:"l,omitempty" json:"l,omitempty"`
	ST string `yaml:"st,omitempty" json:"st,omitempty"`
	C  string `yaml:"c,omitempty" json:"c,omitempty"`
}

// Import is a CA-signed certificate to put into the keystore instead of
// generating one.
type Import struct {
	Cert  string `yaml:"cert" json:"cert"`
	Chain string `yaml:"chain,omitempty" json:"chain,omitempty"`
	Key   string `yaml:"key,omitempty" json:"key,omitempty"`
}

// Agents are the agent hosts (Steps 3 and 5).
type Agents struct {
	Hosts     []Host `yaml:"hosts,omitempty" json:"hosts,omitempty"`
	Inventory string `yaml:"inventory,omitempty" json:"inventory,omitempty"`
	// FromAPI takes the host list from the CM API's hosts endpoint.
	FromAPI        bool   `yaml:"from_api,omitempty" json:"from_api,omitempty"`
	SSH            *SSH   `yaml:"ssh,omitempty" json:"ssh,omitempty"`
	PEMDest        string `yaml:"pem_dest,omitempty" json:"pem_dest,omitempty"`
	ConfigPath     string `yaml:"config_path,omitempty" json:"config_path,omitempty"`
	RestartCommand string `yaml:"restart_command,omitempty" json:"restart_command,omitempty"`
	CheckCommand   string `yaml:"check_command,omitempty" json:"check_command,omitempty"`
	LogPath        string `yaml:"log_path,omitempty" json:"log_path,omitempty"`
	Parallelism    int    `yaml:"parallelism,omitempty" json:"parallelism,omitempty"`
	Canary         *int   `yaml:"canary,omitempty" json:"canary,omitempty"`
}

// Host is one agent host: a bare name in YAML, or an object with overrides.
type Host struct {
	Name           string `yaml:"name" json:"name"`
	Address        string `yaml:"address,omitempty" json:"address,omitempty"`
	Port           int    `yaml:"port,omitempty" json:"port,omitempty"`
	User           string `yaml:"user,omitempty" json:"user,omitempty"`
	PEMDest        string `yaml:"pem_dest,omitempty" json:"pem_dest,omitempty"`
	ConfigPath     string `yaml:"config_path,omitempty" json:"config_path,omitempty"`
	RestartCommand string `yaml:"restart_command,omitempty" json:"restart_command,omitempty"`
	CheckCommand   string `yaml:"check_command,omitempty" json:"check_command,omitempty"`
	LogPath        string `yaml:"log_path,omitempty" json:"log_path,omitempty"`
	Line           int    `yaml:"-" json:"-"`
}

var hostFields = map[string]bool{"name": true, "address": true, "port": true, "user": true,
	"pem_dest": true, "config_path": true, "restart_command": true, "check_command": true, "log_path": true}

// UnmarshalYAML takes a bare name or a strict object (yaml.v3 does not carry
// KnownFields into custom unmarshalers, so unknown keys are checked here).
func (h *Host) UnmarshalYAML(n *yaml.Node) error {
	h.Line = n.Line
	switch n.Kind {
	case yaml.ScalarNode:
		h.Name = n.Value
		return nil
	case yaml.MappingNode:
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if !hostFields[k.Value] {
				return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: unknown key %q in an agent host (keys: name, address, port, user, pem_dest, config_path, restart_command, check_command, log_path)", k.Line, k.Value)}}
			}
			if l, dup := seen[k.Value]; dup {
				return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: mapping key %q already defined at line %d", k.Line, k.Value, l)}}
			}
			seen[k.Value] = k.Line
		}
		type plain Host
		var p plain
		if err := n.Decode(&p); err != nil {
			return err
		}
		*h = Host(p)
		h.Line = n.Line
		return nil
	}
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: an agent host is a name or an object with name", n.Line)}}
}

// TLS says which levels to turn on.
type TLS struct {
	AgentEncryption *bool `yaml:"agent_encryption,omitempty" json:"agent_encryption,omitempty"`
	AdminConsole    bool  `yaml:"admin_console,omitempty" json:"admin_console,omitempty"`
}

// Verify holds the deadlines of the verification polls.
type Verify struct {
	// HeartbeatTimeout bounds the wait for the agents' heartbeats (default 5m).
	HeartbeatTimeout Duration `yaml:"heartbeat_timeout,omitempty" json:"heartbeat_timeout,omitempty"`
	// APITimeout bounds the wait for the CM API (and the console's
	// redirect) after a server restart (default 5m): a real CM server
	// takes minutes to start.
	APITimeout Duration `yaml:"api_timeout,omitempty" json:"api_timeout,omitempty"`
	// CommandTimeout bounds the wait for a CM command (a Cloudera
	// Management Service restart) to end (default 5m).
	CommandTimeout Duration `yaml:"command_timeout,omitempty" json:"command_timeout,omitempty"`
	// PollInterval is how often the hosts API is polled.
	PollInterval Duration `yaml:"poll_interval,omitempty" json:"poll_interval,omitempty"`
}

// SAML is the second seed's input.
type SAML struct {
	IdPMetadata   string        `yaml:"idp_metadata" json:"idp_metadata"`
	Keystore      *SAMLKeystore `yaml:"keystore" json:"keystore"`
	EntityID      string        `yaml:"entity_id,omitempty" json:"entity_id,omitempty"`
	EntityBaseURL string        `yaml:"entity_base_url,omitempty" json:"entity_base_url,omitempty"`
	UserID        *UserID       `yaml:"user_id,omitempty" json:"user_id,omitempty"`
	Role          *Role         `yaml:"role,omitempty" json:"role,omitempty"`
	// ResponseBinding is "HTTP-POST" (default) or "HTTP-Artifact".
	ResponseBinding string `yaml:"response_binding,omitempty" json:"response_binding,omitempty"`
	// ServerTimeout bounds the wait for CM to answer after its restart
	// (default 5m).
	ServerTimeout Duration `yaml:"server_timeout,omitempty" json:"server_timeout,omitempty"`
	// Verify users log in through the sandbox IdP during "Verifying".
	Verify *SAMLVerify `yaml:"verify,omitempty" json:"verify,omitempty"`
}

// SAMLKeystore holds CM's SAML signing/encryption key.
type SAMLKeystore struct {
	Path        string `yaml:"path" json:"path"`
	Type        string `yaml:"type,omitempty" json:"type,omitempty"`
	Password    Secret `yaml:"password" json:"-"`
	Alias       string `yaml:"alias" json:"alias"`
	KeyPassword Secret `yaml:"key_password,omitempty" json:"-"`
}

// UserID says where the user ID is read from.
type UserID struct {
	From      string `yaml:"from" json:"from"` // nameid | attribute
	Attribute string `yaml:"attribute,omitempty" json:"attribute,omitempty"`
}

// Role says how the CM role is decided.
type Role struct {
	From        string   `yaml:"from" json:"from"` // attribute | script
	Attribute   string   `yaml:"attribute,omitempty" json:"attribute,omitempty"`
	AdminValues []string `yaml:"admin_values,omitempty" json:"admin_values,omitempty"`
	UserValues  []string `yaml:"user_values,omitempty" json:"user_values,omitempty"`
	Script      string   `yaml:"script,omitempty" json:"script,omitempty"`
}

// SAMLVerify lists test logins for the "Verifying" stage: each is tried
// against the IdP's login form and must end as Expect (admin, user or
// unauthorized).
type SAMLVerify struct {
	Logins []SAMLLogin `yaml:"logins,omitempty" json:"logins,omitempty"`
}

// SAMLLogin is one test login.
type SAMLLogin struct {
	User     string `yaml:"user" json:"user"`
	Password Secret `yaml:"password" json:"-"`
	Expect   string `yaml:"expect" json:"expect"`
}

// Duration is a time.Duration written as "120s" or "2m" in YAML.
type Duration time.Duration

func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(time.Duration(d).String())), nil
}

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a duration is a string like 120s or 2m", n.Line)}}
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		if secs, err2 := strconv.Atoi(n.Value); err2 == nil {
			v = time.Duration(secs) * time.Second
		} else {
			return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: invalid duration %q (use a value like 120s or 2m)", n.Line, n.Value)}}
		}
	}
	if v < 0 {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a duration cannot be negative", n.Line)}}
	}
	*d = Duration(v)
	return nil
}

// Error is an answers-file problem: file:line: message. Exit code 2.
type Error struct {
	File string
	Line int
	Msg  string
	Fix  string
}

func (e *Error) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	case e.File != "":
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return e.Msg
}
func (e *Error) BadInput() bool { return true }
func (e *Error) Hint() string   { return e.Fix }

// Errors is several answers-file problems at once (all are shown).
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteString("\n  ")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}
func (es Errors) BadInput() bool { return true }
func (es Errors) Hint() string {
	for _, e := range es {
		if e.Fix != "" {
			return e.Fix
		}
	}
	return ""
}

// MaxFileSize bounds what Load reads: an answers file is a page of YAML.
const MaxFileSize = 1 << 20

// Load reads and strictly decodes an answers file.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("cannot read the answers file: %v", errors.Unwrap(err)), Fix: "check the path given to --answers"}
	}
	f, err := Parse(path, b)
	if err != nil {
		return nil, err
	}
	if abs, err := filepath.Abs(path); err == nil {
		f.Dir = filepath.Dir(abs)
	}
	return f, nil
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// Parse strictly decodes an answers file's bytes; name is used in messages.
func Parse(name string, b []byte) (*File, error) {
	if len(b) > MaxFileSize {
		return nil, &Error{File: name, Msg: "the answers file is larger than 1 MiB", Fix: "an answers file is a page of YAML; check that --answers names the right file"}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	f := &File{Path: name, Dir: "."}
	if err := dec.Decode(f); err != nil {
		if err == io.EOF {
			return nil, &Error{File: name, Msg: "the answers file is empty", Fix: "start it with 'version: 1'; see the answers file in README.md"}
		}
		return nil, yamlError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		return nil, &Error{File: name, Line: extra.Line, Msg: "more than one YAML document", Fix: "keep one document (remove the second '---')"}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err == nil {
		f.lines = map[string]int{}
		indexLines(&root, "", f.lines)
	}
	if f.Version != 1 {
		return nil, &Error{File: name, Line: f.Line("version"), Msg: fmt.Sprintf("version must be 1, got %d", f.Version), Fix: "put 'version: 1' at the top of the answers file"}
	}
	f.collectWarnings()
	return f, nil
}

func yamlError(name string, err error) error {
	var te *yaml.TypeError
	var msgs []string
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var out Errors
	for _, m := range msgs {
		e := &Error{File: name, Msg: m, Fix: "fix the answers file at that line; unknown keys, duplicate keys and wrong types are refused"}
		if sm := lineRE.FindStringSubmatch(m); sm != nil {
			e.Line, _ = strconv.Atoi(sm[1])
			e.Msg = sm[2]
		}
		e.Msg = friendlyYAML(e.Msg)
		out = append(out, e)
	}
	if len(out) == 1 {
		return out[0]
	}
	return out
}

var (
	unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	unmarshalRE    = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")
)

// friendlyYAML rewords yaml.v3's messages, which name Go types, in the
// answers file's own terms.
func friendlyYAML(msg string) string {
	if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("unknown key %q (a typo? the keys are listed in README.md)", m[1])
	}
	if m := unmarshalRE.FindStringSubmatch(msg); m != nil {
		val, into := m[2], m[3]
		if val == "" {
			val = yamlKind(m[1])
		}
		switch {
		case strings.HasPrefix(into, "int") || strings.HasPrefix(into, "uint"):
			return fmt.Sprintf("%q is not a whole number", val)
		case into == "bool" || into == "*bool":
			return fmt.Sprintf("%q is not true or false", val)
		case into == "string":
			return fmt.Sprintf("expected a single value, got %s", yamlKind(m[1]))
		case strings.HasPrefix(into, "[]"):
			return fmt.Sprintf("expected a list, got %s", yamlKind(m[1]))
		default:
			return fmt.Sprintf("expected a mapping (key: value), got %s", yamlKind(m[1]))
		}
	}
	return strings.ReplaceAll(msg, "answers.", "")
}

func yamlKind(tag string) string {
	switch tag {
	case "seq":
		return "a list"
	case "map":
		return "a mapping"
	case "str":
		return "a string"
	case "int", "float":
		return "a number"
	case "bool":
		return "true/false"
	}
	return tag
}

func indexLines(n *yaml.Node, path string, lines map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			indexLines(c, path, lines)
		}
	case yaml.MappingNode:
		if path != "" {
			lines[path] = n.Line
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			lines[p] = k.Line
			indexLines(n.Content[i+1], p, lines)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			lines[p] = c.Line
			indexLines(c, p, lines)
		}
	}
}

// Has reports whether the dotted path itself (not just a parent) is written
// in the file, e.g. Has("agents.ssh.port").
func (f *File) Has(path string) bool {
	_, ok := f.lines[path]
	return ok
}

// Line returns the line of a dotted path (e.g. "agents.hosts[1].port"), or
// of its nearest parent that is in the file, or 0.
func (f *File) Line(path string) int {
	for path != "" {
		if l, ok := f.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// Errorf builds an Error at the line of path.
func (f *File) Errorf(path, fix, format string, args ...any) *Error {
	return &Error{File: f.Path, Line: f.Line(path), Msg: fmt.Sprintf(format, args...), Fix: fix}
}

func (f *File) collectWarnings() {
	f.Warnings = nil
	for _, s := range f.secrets() {
		if s.s.Plain {
			f.Warnings = append(f.Warnings, fmt.Sprintf("%s:%d: %s is written in plain text; use {env: NAME} or {file: PATH}", f.Path, s.s.Line, s.path))
		}
	}
}

type namedSecret struct {
	path string
	s    *Secret
}

// Secrets returns every secret given in the file, keyed by its dotted path
// (e.g. "server.keystore.password"); the values point into f.
func (f *File) Secrets() map[string]*Secret {
	m := map[string]*Secret{}
	for _, ns := range f.secrets() {
		m[ns.path] = ns.s
	}
	return m
}

// secrets lists every secret in the file with its dotted path.
func (f *File) secrets() []namedSecret {
	var out []namedSecret
	add := func(p string, s *Secret) {
		if !s.IsZero() {
			out = append(out, namedSecret{p, s})
		}
	}
	addSSH := func(p string, s *SSH) {
		if s != nil {
			add(p+".passphrase", &s.Passphrase)
			add(p+".become_password", &s.BecomePassword)
		}
	}
	if s := f.Server; s != nil {
		addSSH("server.ssh", s.SSH)
		if s.API != nil {
			add("server.api.password", &s.API.Password)
		}
		if s.Keystore != nil {
			add("server.keystore.password", &s.Keystore.Password)
		}
		if s.Truststore != nil {
			add("server.truststore.password", &s.Truststore.Password)
		}
	}
	if a := f.Agents; a != nil {
		addSSH("agents.ssh", a.SSH)
	}
	if s := f.SAML; s != nil {
		if s.Keystore != nil {
			add("saml.keystore.password", &s.Keystore.Password)
			add("saml.keystore.key_password", &s.Keystore.KeyPassword)
		}
		if s.Verify != nil {
			for i := range s.Verify.Logins {
				add(fmt.Sprintf("saml.verify.logins[%d].password", i), &s.Verify.Logins[i].Password)
			}
		}
	}
	return out
}

// ResolveSecrets reads every secret given in the file from the environment
// (through lookup) or its file. All problems are reported at once, each at
// its line.
func (f *File) ResolveSecrets(lookup func(string) (string, bool)) error {
	var errs Errors
	for _, ns := range f.secrets() {
		if err := ns.s.Resolve(lookup, f.Dir); err != nil {
			line := ns.s.Line
			if line == 0 {
				line = f.Line(ns.path)
			}
			fix := "set the variable or file the answers file names for this secret"
			var se *SecretFileError
			if errors.As(err, &se) {
				fix = se.Hint()
			}
			errs = append(errs, &Error{File: f.Path, Line: line, Msg: fmt.Sprintf("%s: %v", ns.path, err), Fix: fix})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// ExpandPath expands a leading ~ and makes a relative path relative to the
// answers file's directory.
func (f *File) ExpandPath(p string) string { return expandPath(p, f.Dir) }

func expandPath(p, base string) string {
	if p == "" {
		return p
	}
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[1:])
		}
	}
	if !filepath.IsAbs(p) && base != "" {
		p = filepath.Join(base, p)
	}
	return p
}
