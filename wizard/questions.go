package wizard

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/cmtls/cmtls/steps/answers"
)

// kind is how a question is asked.
type kind int

const (
	kindInput    kind = iota // one line of text
	kindPassword             // one line, not echoed; stored as answers.NewSecret
	kindSelect               // one of options
	kindConfirm              // yes / no
	kindHosts                // agent hosts: multi-select of discovered hosts, or text
)

// question is one thing the wizard may ask. Every question writes exactly one
// field of the answers file (its path), so whatever the wizard asks can be
// given headless too.
type question struct {
	path  string // dotted path in the answers file, e.g. "agents.ssh.port"
	title string
	desc  string
	kind  kind
	// options are the choices of a kindSelect; optionsFn, when set, computes
	// them from earlier answers (key sizes depend on the algorithm).
	options   []string
	optionsFn func() []string
	// match lists substrings of answers validation messages that are about
	// this field; those messages become the field's error.
	match []string
	// missing reports whether the original file lacks this answer; only
	// missing questions are asked.
	missing func(f *answers.File) bool
	// relevant reports, from the answers given so far, whether the question
	// applies (e.g. key size only when generating). nil: always.
	relevant func() bool
	// optional: an empty answer is fine (it means "leave it out").
	optional bool
	// placeholder, when set, is the default an empty answer stands for,
	// computed from earlier answers (e.g. the API URL from the host).
	placeholder func() string
	// dep is the earlier answer placeholder or optionsFn depend on.
	dep *string
	// load reads the answer from a file that gives it, for later questions
	// that depend on it (the SAN and API URL defaults use the host).
	load func(f *answers.File) string
	// check is a rule of the wizard's own on top of answers' validation.
	check func(v string) error
	// set writes the answer v into w, creating parent sections.
	set func(w *answers.File, v string) error

	// Bound values while the form runs.
	val   string   // input, password, select, text hosts
	bval  bool     // confirm
	list  []string // hosts multi-select
	input string   // the initial value (what an empty accessible answer means)
}

// value is the question's answer as a string, whatever its kind.
func (q *question) value() string {
	switch q.kind {
	case kindConfirm:
		if q.bval {
			return "yes"
		}
		return "no"
	case kindHosts:
		if q.list != nil {
			return strings.Join(q.list, "\n")
		}
	}
	v := strings.TrimSpace(q.val)
	if v == "" && q.placeholder != nil {
		v = q.placeholder()
	}
	return v
}

// ---- helpers that create parent sections ----

// ensure returns *p, allocating it first when it is nil.
func ensure[T any](p **T) *T {
	if *p == nil {
		*p = new(T)
	}
	return *p
}

func srv(w *answers.File) *answers.Server { return ensure(&w.Server) }

func srvSSH(w *answers.File) *answers.SSH { return ensure(&srv(w).SSH) }

func api(w *answers.File) *answers.API { return ensure(&srv(w).API) }

func ks(w *answers.File) *answers.Keystore { return ensure(&srv(w).Keystore) }

func gen(w *answers.File) *answers.Generate { return ensure(&ks(w).Generate) }

func subj(w *answers.File) *answers.Subject { return ensure(&gen(w).Subject) }

func imp(w *answers.File) *answers.Import { return ensure(&ks(w).Import) }

func ag(w *answers.File) *answers.Agents { return ensure(&w.Agents) }

func agSSH(w *answers.File) *answers.SSH { return ensure(&ag(w).SSH) }

func tlsSec(w *answers.File) *answers.TLS { return ensure(&w.TLS) }

func verifySec(w *answers.File) *answers.Verify { return ensure(&w.Verify) }

func samlSec(w *answers.File) *answers.SAML { return ensure(&w.SAML) }

func samlKS(w *answers.File) *answers.SAMLKeystore { return ensure(&samlSec(w).Keystore) }

func samlRole(w *answers.File) *answers.Role { return ensure(&samlSec(w).Role) }

func samlUserID(w *answers.File) *answers.UserID { return ensure(&samlSec(w).UserID) }

// ---- value parsers and local checks ----

func parsePort(v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%q is not a port number: use 1-65535", v)
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %d is out of range: use 1-65535", n)
	}
	return n, nil
}

func parseInt(v string, lo, hi int, what string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%q is not a number: %s is %d-%d", v, what, lo, hi)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%s %d is out of range: use %d-%d", what, n, lo, hi)
	}
	return n, nil
}

// checkKeystorePassword is keytool's rule: at least 6 characters. ASCII only
// because the password crosses shells, keytool and CM's configuration.
func checkKeystorePassword(v string) error {
	if len(v) < 6 {
		return errors.New("keystore passwords need at least 6 characters (keytool refuses shorter ones)")
	}
	for _, c := range v {
		if c < 0x21 || c > 0x7e {
			return errors.New("use printable ASCII characters without spaces in the keystore password")
		}
	}
	return nil
}

func checkAbs(v string) error {
	if v != "" && !path.IsAbs(v) {
		return fmt.Errorf("%q is not an absolute path: start it with /", v)
	}
	return nil
}

func checkNotEmpty(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("an answer is required")
	}
	return nil
}

// splitList splits hosts or values given on lines, or separated by commas or
// spaces.
func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' })
}

// hostErr checks a host name with the answers file's own rule (it is the
// rule server.host is held to headless).
func hostErr(h string) error {
	p := &answers.File{Version: 1, Server: &answers.Server{Host: h}}
	return matchErr(p.ValidateInit(), []string{"server.host"})
}

// matchErr keeps the validation messages that are about one field (by the
// substrings in match) and returns them as one error, or nil.
func matchErr(err error, match []string) error {
	if err == nil {
		return nil
	}
	var all []*answers.Error
	var es answers.Errors
	var e *answers.Error
	switch {
	case errors.As(err, &es):
		all = es
	case errors.As(err, &e):
		all = []*answers.Error{e}
	default:
		return err
	}
	var msgs []string
	for _, e := range all {
		for _, m := range match {
			if strings.Contains(e.Msg, m) {
				s := e.Msg
				if e.Fix != "" {
					s += " (" + e.Fix + ")"
				}
				msgs = append(msgs, s)
				break
			}
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "; "))
}

func yesNo(v string) bool { return v == "yes" }

// lockoutWarning is the TLS seed's warning for Step 7, shown where the user
// decides about console TLS.
const lockoutWarning = "Turns on \"Use TLS Encryption for Admin Console\" (Step 7). Do not enable it before Steps 1-6 are done " +
	"and verified: enabled earlier, you lose the ability to connect to the Cloudera Manager Server from the Admin Console. " +
	"cmtls runs it only after agents heartbeat over verified TLS, and refuses it otherwise."

// initQuestions lists, in order, everything `cmtls init` may ask.
func initQuestions(d Discovered) []*question {
	var qs []*question
	by := map[string]*question{}
	add := func(q *question) *question {
		if q.match == nil {
			q.match = []string{q.path}
		}
		qs = append(qs, q)
		by[q.path] = q
		return q
	}
	noServer := func(f *answers.File) bool { return f.Server == nil }
	noAPI := func(f *answers.File) bool { return f.Server == nil || f.Server.API == nil }
	noKS := func(f *answers.File) bool { return f.Server == nil || f.Server.Keystore == nil }
	noAgents := func(f *answers.File) bool { return f.Agents == nil }
	noAgentSSH := func(f *answers.File) bool { return f.Agents == nil || f.Agents.SSH == nil }
	// agentsWide: an agents-wide setting is missing when it is not set and
	// some listed host does not override it (a host list from an inventory
	// or the API counts as not overriding).
	agentsWide := func(get func(a *answers.Agents) string, override func(h answers.Host) string) func(f *answers.File) bool {
		return func(f *answers.File) bool {
			if noAgents(f) {
				return true
			}
			if get(f.Agents) != "" {
				return false
			}
			if len(f.Agents.Hosts) == 0 || f.Agents.Inventory != "" || f.Agents.FromAPI {
				return true
			}
			for _, h := range f.Agents.Hosts {
				if override(h) == "" {
					return true
				}
			}
			return false
		}
	}

	host := add(&question{path: "server.host", title: "CM server host",
		desc:    "The FQDN (or static IP) agents use to reach the server; it becomes the certificate's CN.",
		missing: func(f *answers.File) bool { return f.Server == nil || f.Server.Host == "" },
		check:   checkNotEmpty,
		set:     func(w *answers.File, v string) error { srv(w).Host = v; return nil },
		load:    func(f *answers.File) string { return f.Server.Host },
		val:     d.FQDN})
	sshAddr := add(&question{path: "server.ssh.address", title: "Reach the server over SSH at",
		desc:     "Leave blank when cmtls runs on the CM server itself.",
		optional: true, missing: noServer,
		check: func(v string) error {
			if v == "" {
				return nil
			}
			return hostErr(v)
		},
		set: func(w *answers.File, v string) error {
			if v != "" {
				srvSSH(w).Address = v
			}
			return nil
		}})
	viaSSH := func() bool { return strings.TrimSpace(sshAddr.val) != "" }
	add(&question{path: "server.ssh.user", title: "SSH user on the server", missing: noServer, relevant: viaSSH,
		check: checkNotEmpty,
		set:   func(w *answers.File, v string) error { srvSSH(w).User = v; return nil }, val: "root"})
	add(&question{path: "server.ssh.port", title: "SSH port on the server", missing: noServer, relevant: viaSSH,
		set: func(w *answers.File, v string) error {
			n, err := parsePort(v)
			srvSSH(w).Port = n
			return err
		}, val: "22"})
	add(&question{path: "server.api.url", title: "CM API URL", desc: "The Admin Console's address, e.g. http://cm1.example.com:7180.",
		missing: func(f *answers.File) bool { return noAPI(f) || f.Server.API.URL == "" },
		placeholder: func() string {
			if d.APIURL != "" {
				return d.APIURL
			}
			if h := strings.TrimSpace(host.val); h != "" {
				return "http://" + h + ":7180"
			}
			return ""
		}, dep: &host.val,
		set: func(w *answers.File, v string) error { api(w).URL = v; return nil }})
	add(&question{path: "server.api.user", title: "CM API user",
		missing: func(f *answers.File) bool { return noAPI(f) || f.Server.API.User == "" },
		check:   checkNotEmpty,
		set:     func(w *answers.File, v string) error { api(w).User = v; return nil }, val: "admin"})
	add(&question{path: "server.api.password", title: "CM API password", kind: kindPassword,
		missing: func(f *answers.File) bool { return noAPI(f) || f.Server.API.Password.IsZero() },
		check:   checkNotEmpty,
		set: func(w *answers.File, v string) error {
			api(w).Password = answers.NewSecret([]byte(v))
			return nil
		}})
	ksPath := d.KeystorePath
	if ksPath == "" {
		ksPath = "/opt/cloudera/security/jks/cm.keystore"
	}
	add(&question{path: "server.keystore.path", title: "Keystore path on the server",
		desc:    "The Java keystore CM's server uses for TLS (created when generating a key pair).",
		missing: noKS, check: func(v string) error {
			if err := checkNotEmpty(v); err != nil {
				return err
			}
			return checkAbs(v)
		},
		set: func(w *answers.File, v string) error { ks(w).Path = v; return nil }, val: ksPath})
	add(&question{path: "server.keystore.type", title: "Keystore type", kind: kindSelect, options: []string{"jks", "pkcs12"},
		missing: noKS, set: func(w *answers.File, v string) error { ks(w).Type = v; return nil }, val: "jks"})
	add(&question{path: "server.keystore.alias", title: "Key alias in the keystore", missing: noKS, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { ks(w).Alias = v; return nil }, val: answers.DefaultAlias})
	add(&question{path: "server.keystore.password", title: "Keystore password", kind: kindPassword,
		desc:    "At least 6 characters; it is also the key's password (keytool -keypass), as CM requires.",
		missing: func(f *answers.File) bool { return noKS(f) || f.Server.Keystore.Password.IsZero() },
		check:   checkKeystorePassword,
		set: func(w *answers.File, v string) error {
			ks(w).Password = answers.NewSecret([]byte(v))
			return nil
		}})
	source := "generate"
	if d.KeystorePath != "" {
		source = "existing"
	}
	src := add(&question{path: "server.keystore.generate", title: "Server certificate", kind: kindSelect,
		desc:    "generate: a new key pair with keytool (Step 2). import: a CA-signed certificate (server.keystore.import). existing: use the keystore as it is.",
		options: []string{"generate", "import", "existing"}, missing: noKS,
		set: func(w *answers.File, v string) error {
			k := ks(w)
			switch v {
			case "generate":
				k.Import = nil
				gen(w)
			case "import":
				k.Generate = nil
				imp(w)
			default:
				k.Generate, k.Import = nil, nil
			}
			return nil
		}, val: source})
	generating := func() bool { return src.val == "generate" }
	importing := func() bool { return src.val == "import" }
	add(&question{path: "server.keystore.generate.validity_days", title: "Certificate validity (days)", missing: noKS, relevant: generating,
		match: []string{"validity_days"},
		set: func(w *answers.File, v string) error {
			n, err := parseInt(v, 1, 3650, "validity_days")
			gen(w).ValidityDays = n
			return err
		}, val: strconv.Itoa(answers.DefaultValidityDays)})
	alg := add(&question{path: "server.keystore.generate.key_algorithm", title: "Key algorithm", kind: kindSelect,
		options: []string{"RSA", "EC"}, missing: noKS, relevant: generating, match: []string{"key_algorithm"},
		set: func(w *answers.File, v string) error { gen(w).KeyAlgorithm = v; return nil }, val: answers.DefaultKeyAlgorithm})
	add(&question{path: "server.keystore.generate.key_size", title: "Key size (bits)", kind: kindSelect,
		optionsFn: func() []string {
			if alg.val == "EC" {
				return []string{"256", "384"}
			}
			return []string{"2048", "3072", "4096"}
		},
		missing: noKS, relevant: generating, match: []string{"key_size"}, dep: &alg.val,
		set: func(w *answers.File, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%q is not a key size", v)
			}
			gen(w).KeySize = n
			return nil
		}, val: strconv.Itoa(answers.DefaultRSAKeySize)})
	for _, s := range []struct {
		key, title string
		set        func(*answers.Subject, string)
	}{
		{"ou", "Organizational unit (OU)", func(s *answers.Subject, v string) { s.OU = v }},
		{"o", "Organization (O)", func(s *answers.Subject, v string) { s.O = v }},
		{"l", "City or locality (L)", func(s *answers.Subject, v string) { s.L = v }},
		{"st", "State or province (ST)", func(s *answers.Subject, v string) { s.ST = v }},
		{"c", "Two-letter country code (C)", func(s *answers.Subject, v string) { s.C = v }},
	} {
		q := &question{path: "server.keystore.generate.subject." + s.key, title: s.title, optional: true,
			desc: "Part of the certificate's subject; the CN is always the server host. Blank leaves it out.", missing: noKS, relevant: generating,
			set: func(w *answers.File, v string) error {
				if v != "" {
					s.set(subj(w), v)
				}
				return nil
			}}
		if s.key == "c" {
			q.check = func(v string) error {
				if v != "" && (len(v) != 2 || strings.ToUpper(v) != v || strings.ToLower(v) == v) {
					return fmt.Errorf("%q is not a two-letter country code like US", v)
				}
				return nil
			}
		}
		add(q)
	}
	add(&question{path: "server.keystore.generate.san", title: "Subject alternative names",
		desc:    "Names agents may use for the server, separated by commas; blank means the server host only.",
		missing: noKS, relevant: generating, optional: true,
		placeholder: func() string { return strings.TrimSpace(host.val) }, dep: &host.val,
		check: func(v string) error {
			for _, n := range splitList(v) {
				if err := hostErr(n); err != nil {
					return fmt.Errorf("SAN %s: %w", n, err)
				}
			}
			return nil
		},
		set: func(w *answers.File, v string) error {
			if l := splitList(v); len(l) > 0 {
				gen(w).SAN = l
			}
			return nil
		}})
	add(&question{path: "server.keystore.import.cert", title: "CA-signed certificate (PEM file)", missing: noKS, relevant: importing,
		match: []string{"import.cert"}, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { imp(w).Cert = v; return nil }})
	add(&question{path: "server.keystore.import.chain", title: "CA chain (PEM file)", desc: "Blank when the certificate file holds the chain.",
		missing: noKS, relevant: importing, optional: true,
		set: func(w *answers.File, v string) error { imp(w).Chain = v; return nil }})
	add(&question{path: "server.keystore.import.key", title: "Private key (PEM file)", desc: "Blank when the keystore already holds the key.",
		missing: noKS, relevant: importing, optional: true,
		set: func(w *answers.File, v string) error { imp(w).Key = v; return nil }})
	add(&question{path: "server.restart_command", title: "Command that restarts the CM server",
		missing: func(f *answers.File) bool { return f.Server == nil || f.Server.RestartCommand == "" },
		check:   checkNotEmpty,
		set:     func(w *answers.File, v string) error { srv(w).RestartCommand = v; return nil }, val: answers.DefaultServerRestart})

	// Agents.
	hq := add(&question{path: "agents.hosts", title: "Agent hosts", kind: kindHosts,
		desc: "The hosts running cloudera-scm-agent, one per line (or separated by commas).",
		missing: func(f *answers.File) bool {
			return f.Agents == nil || (len(f.Agents.Hosts) == 0 && f.Agents.Inventory == "" && !f.Agents.FromAPI)
		},
		match: []string{"agents.hosts", "listed twice", "no agent hosts"},
		set: func(w *answers.File, v string) error {
			a := ag(w)
			a.Hosts = nil
			for _, h := range splitList(v) {
				a.Hosts = append(a.Hosts, answers.Host{Name: h})
			}
			if len(a.Hosts) == 0 {
				return errors.New("give at least one agent host")
			}
			return nil
		}})
	if len(d.Hosts) > 0 {
		hq.options = append([]string(nil), d.Hosts...)
		hq.list = append([]string(nil), d.Hosts...)
		hq.desc = "Found through the CM API; space toggles a host, enter accepts."
		hq.val = strings.Join(d.Hosts, ", ")
	}
	add(&question{path: "agents.ssh.user", title: "SSH user on the agents", missing: noAgentSSH, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { agSSH(w).User = v; return nil }, val: "root"})
	add(&question{path: "agents.ssh.port", title: "SSH port on the agents", missing: noAgentSSH,
		set: func(w *answers.File, v string) error {
			n, err := parsePort(v)
			agSSH(w).Port = n
			return err
		}, val: strconv.Itoa(answers.DefaultSSHPort)})
	add(&question{path: "agents.ssh.identity_file", title: "SSH private key file", optional: true,
		desc: "Blank uses ssh-agent and the keys ~/.ssh/config names, as ssh does.", missing: noAgentSSH,
		set: func(w *answers.File, v string) error { agSSH(w).IdentityFile = v; return nil }})
	add(&question{path: "agents.ssh.known_hosts", title: "known_hosts file", optional: true,
		desc: "Blank uses ~/.ssh/known_hosts. Unknown host keys are refused unless accepted.", missing: noAgentSSH,
		set: func(w *answers.File, v string) error { agSSH(w).KnownHosts = v; return nil }})
	become := add(&question{path: "agents.ssh.become", title: "Become root with", kind: kindSelect, options: []string{"none", "sudo"},
		desc: "none: the SSH user can write the agent's files itself.", missing: noAgentSSH,
		set: func(w *answers.File, v string) error {
			if v == "sudo" {
				agSSH(w).Become = v
			}
			return nil
		}, val: "none"})
	add(&question{path: "agents.ssh.become_password", title: "sudo password", kind: kindPassword, optional: true,
		desc: "Blank when sudo needs no password.", missing: noAgentSSH,
		relevant: func() bool { return become.val == "sudo" },
		set: func(w *answers.File, v string) error {
			if v != "" {
				agSSH(w).BecomePassword = answers.NewSecret([]byte(v))
			}
			return nil
		}})
	add(&question{path: "agents.pem_dest", title: "Where agents keep the server's PEM",
		missing: agentsWide(func(a *answers.Agents) string { return a.PEMDest }, func(h answers.Host) string { return h.PEMDest }),
		check:   checkNotEmpty,
		set:     func(w *answers.File, v string) error { ag(w).PEMDest = v; return nil }, val: answers.DefaultPEMDest})
	add(&question{path: "agents.config_path", title: "Agent config.ini path",
		missing: agentsWide(func(a *answers.Agents) string { return a.ConfigPath }, func(h answers.Host) string { return h.ConfigPath }),
		check:   checkNotEmpty,
		set:     func(w *answers.File, v string) error { ag(w).ConfigPath = v; return nil }, val: answers.DefaultAgentConfig})
	add(&question{path: "agents.restart_command", title: "Command that restarts an agent",
		missing: agentsWide(func(a *answers.Agents) string { return a.RestartCommand }, func(h answers.Host) string { return h.RestartCommand }),
		check:   checkNotEmpty,
		set:     func(w *answers.File, v string) error { ag(w).RestartCommand = v; return nil }, val: answers.DefaultAgentRestart})
	add(&question{path: "agents.parallelism", title: "Agents worked on at once",
		missing: func(f *answers.File) bool { return noAgents(f) || f.Agents.Parallelism == 0 },
		set: func(w *answers.File, v string) error {
			n, err := parseInt(v, 1, 1000, "parallelism")
			ag(w).Parallelism = n
			return err
		}, val: strconv.Itoa(answers.DefaultParallelism)})
	add(&question{path: "agents.canary", title: "Canary hosts",
		desc:    "Hosts done and verified first, before the rest (0: none).",
		missing: func(f *answers.File) bool { return noAgents(f) || f.Agents.Canary == nil },
		set: func(w *answers.File, v string) error {
			n, err := parseInt(v, 0, 1000, "canary")
			ag(w).Canary = &n
			return err
		}, val: strconv.Itoa(answers.DefaultCanary)})

	// TLS levels and verification.
	add(&question{path: "tls.agent_encryption", title: "Turn on TLS between agents and server (Step 1, level 1)?", kind: kindConfirm,
		missing: func(f *answers.File) bool { return f.TLS == nil || f.TLS.AgentEncryption == nil },
		set: func(w *answers.File, v string) error {
			b := yesNo(v)
			tlsSec(w).AgentEncryption = &b
			return nil
		}, bval: true})
	add(&question{path: "tls.admin_console", title: "Also use TLS for the Admin Console (Step 7)?", kind: kindConfirm,
		desc:    lockoutWarning,
		missing: func(f *answers.File) bool { return f.TLS == nil },
		set:     func(w *answers.File, v string) error { tlsSec(w).AdminConsole = yesNo(v); return nil }})
	add(&question{path: "verify.heartbeat_timeout", title: "How long to wait for heartbeats",
		desc:    "After restarts, each agent must heartbeat over verified TLS within this time (e.g. 120s, 5m).",
		missing: func(f *answers.File) bool { return f.Verify == nil || f.Verify.HeartbeatTimeout == 0 },
		match:   []string{"heartbeat_timeout"},
		set: func(w *answers.File, v string) error {
			t, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%q is not a duration: write it like 120s or 5m", v)
			}
			verifySec(w).HeartbeatTimeout = answers.Duration(t)
			return nil
		}, val: answers.DefaultHeartbeatTimeout.String()})
	return qs
}

// samlQuestions lists, in order, everything `cmtls saml configure` may ask.
func samlQuestions(d Discovered) []*question {
	var qs []*question
	add := func(q *question) *question {
		if q.match == nil {
			q.match = []string{q.path}
		}
		qs = append(qs, q)
		return q
	}
	noAPI := func(f *answers.File) bool { return f.Server == nil || f.Server.API == nil }
	noSAML := func(f *answers.File) bool { return f.SAML == nil }
	noKS := func(f *answers.File) bool { return f.SAML == nil || f.SAML.Keystore == nil }
	noRole := func(f *answers.File) bool { return f.SAML == nil || f.SAML.Role == nil }

	apiURL := d.APIURL
	if apiURL == "" && d.FQDN != "" {
		apiURL = "http://" + d.FQDN + ":7180"
	}
	add(&question{path: "server.api.url", title: "CM API URL", missing: func(f *answers.File) bool { return noAPI(f) || f.Server.API.URL == "" },
		set: func(w *answers.File, v string) error { api(w).URL = v; return nil }, val: apiURL})
	add(&question{path: "server.api.user", title: "CM API user", missing: func(f *answers.File) bool { return noAPI(f) || f.Server.API.User == "" },
		check: checkNotEmpty, set: func(w *answers.File, v string) error { api(w).User = v; return nil }, val: "admin"})
	add(&question{path: "server.api.password", title: "CM API password", kind: kindPassword,
		missing: func(f *answers.File) bool { return noAPI(f) || f.Server.API.Password.IsZero() }, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { api(w).Password = answers.NewSecret([]byte(v)); return nil }})
	// CM reads SAML settings at start: the server is restarted, on this
	// machine or over SSH.
	noServer := func(f *answers.File) bool { return f.Server == nil }
	sshAddr := add(&question{path: "server.ssh.address", title: "Reach the CM server over SSH at",
		desc: "Leave blank when cmtls runs on the CM server itself.", optional: true, missing: noServer,
		check: func(v string) error {
			if v == "" {
				return nil
			}
			return hostErr(v)
		},
		set: func(w *answers.File, v string) error {
			if v != "" {
				srvSSH(w).Address = v
			}
			return nil
		}})
	viaSSH := func() bool { return strings.TrimSpace(sshAddr.val) != "" }
	add(&question{path: "server.ssh.user", title: "SSH user on the server", missing: noServer, relevant: viaSSH, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { srvSSH(w).User = v; return nil }, val: "root"})
	add(&question{path: "server.ssh.port", title: "SSH port on the server", missing: noServer, relevant: viaSSH,
		set: func(w *answers.File, v string) error {
			n, err := parsePort(v)
			srvSSH(w).Port = n
			return err
		}, val: "22"})
	add(&question{path: "server.restart_command", title: "Command that restarts the CM server",
		desc:    "CM reads the SAML settings when it starts.",
		missing: func(f *answers.File) bool { return f.Server == nil || f.Server.RestartCommand == "" }, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { srv(w).RestartCommand = v; return nil }, val: answers.DefaultServerRestart})
	add(&question{path: "saml.idp_metadata", title: "IdP metadata file (XML)", desc: "The identity provider's SAML metadata, as a file.",
		missing: func(f *answers.File) bool { return noSAML(f) || f.SAML.IdPMetadata == "" }, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { samlSec(w).IdPMetadata = v; return nil }})
	add(&question{path: "saml.keystore.path", title: "SAML keystore path", desc: "Holds CM's SAML signing and encryption key.",
		missing: noKS, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { samlKS(w).Path = v; return nil }})
	add(&question{path: "saml.keystore.type", title: "SAML keystore type", kind: kindSelect, options: []string{"jks", "pkcs12"}, missing: noKS,
		set: func(w *answers.File, v string) error { samlKS(w).Type = v; return nil }, val: "jks"})
	add(&question{path: "saml.keystore.password", title: "SAML keystore password", kind: kindPassword, missing: noKS, check: checkKeystorePassword,
		set: func(w *answers.File, v string) error { samlKS(w).Password = answers.NewSecret([]byte(v)); return nil }})
	add(&question{path: "saml.keystore.alias", title: "Alias of the SAML key", missing: noKS, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { samlKS(w).Alias = v; return nil }})
	add(&question{path: "saml.keystore.key_password", title: "Password of the SAML key", kind: kindPassword, optional: true,
		desc: "Blank when it is the keystore password.", missing: noKS,
		set: func(w *answers.File, v string) error {
			if v != "" {
				samlKS(w).KeyPassword = answers.NewSecret([]byte(v))
			}
			return nil
		}})
	add(&question{path: "saml.entity_id", title: "SAML entity ID of CM", missing: noSAML, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { samlSec(w).EntityID = v; return nil }, val: answers.DefaultSAMLEntityID})
	base := ""
	if d.FQDN != "" {
		base = "https://" + d.FQDN + ":7183"
	}
	add(&question{path: "saml.entity_base_url", title: "URL browsers reach CM at", optional: true, missing: noSAML,
		set: func(w *answers.File, v string) error { samlSec(w).EntityBaseURL = v; return nil }, val: base})
	uid := add(&question{path: "saml.user_id.from", title: "Read the user ID from", kind: kindSelect, options: []string{"attribute", "nameid"},
		missing: func(f *answers.File) bool { return noSAML(f) || f.SAML.UserID == nil },
		set:     func(w *answers.File, v string) error { samlUserID(w).From = v; return nil }, val: "attribute"})
	add(&question{path: "saml.user_id.attribute", title: "User ID attribute",
		missing:  func(f *answers.File) bool { return noSAML(f) || f.SAML.UserID == nil },
		relevant: func() bool { return uid.val == "attribute" }, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { samlUserID(w).Attribute = v; return nil }, val: answers.DefaultUserIDAttribute})
	role := add(&question{path: "saml.role.from", title: "Decide the CM role from", kind: kindSelect, options: []string{"attribute", "script"},
		missing: noRole, set: func(w *answers.File, v string) error { samlRole(w).From = v; return nil }, val: "attribute"})
	byAttr := func() bool { return role.val == "attribute" }
	add(&question{path: "saml.role.attribute", title: "Role attribute", missing: noRole, relevant: byAttr, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { samlRole(w).Attribute = v; return nil }, val: answers.DefaultRoleAttribute})
	add(&question{path: "saml.role.admin_values", title: "Attribute values meaning admin", desc: "Separated by commas.",
		missing: noRole, relevant: byAttr, optional: true, match: []string{},
		set: func(w *answers.File, v string) error { samlRole(w).AdminValues = splitList(v); return nil }})
	add(&question{path: "saml.role.user_values", title: "Attribute values meaning a regular user", desc: "Separated by commas.",
		missing: noRole, relevant: byAttr, optional: true, match: []string{"admin_values"},
		set: func(w *answers.File, v string) error { samlRole(w).UserValues = splitList(v); return nil }})
	add(&question{path: "saml.role.script", title: "Role script (executable)", missing: noRole,
		relevant: func() bool { return role.val == "script" }, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { samlRole(w).Script = v; return nil }})
	return qs
}
