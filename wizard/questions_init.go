package wizard

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cmtls/cmtls/steps/answers"
)

// qset collects questions in the order they are asked, by path for the
// later questions that depend on earlier answers.
type qset struct {
	qs []*question
	by map[string]*question
}

func (s *qset) add(q *question) *question {
	if q.match == nil {
		q.match = []string{q.path}
	}
	s.qs = append(s.qs, q)
	if s.by == nil {
		s.by = map[string]*question{}
	}
	s.by[q.path] = q
	return q
}

// ---- what a file lacks ----

func noServer(f *answers.File) bool   { return f.Server == nil }
func noAPI(f *answers.File) bool      { return f.Server == nil || f.Server.API == nil }
func noKS(f *answers.File) bool       { return f.Server == nil || f.Server.Keystore == nil }
func noAgents(f *answers.File) bool   { return f.Agents == nil }
func noAgentSSH(f *answers.File) bool { return f.Agents == nil || f.Agents.SSH == nil }
func noHosts(f *answers.File) bool {
	return f.Agents == nil || (len(f.Agents.Hosts) == 0 && f.Agents.Inventory == "" && !f.Agents.FromAPI)
}

// agentsWide: an agents-wide setting is missing when it is not set and
// some listed host does not override it (a host list from an inventory or
// the API counts as not overriding).
func agentsWide(get func(a *answers.Agents) string, override func(h answers.Host) string) func(f *answers.File) bool {
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

// initQuestions lists, in order, everything `cmtls init` may ask.
func initQuestions(d Discovered) []*question {
	s := &qset{}
	host := initServerQuestions(s, d)
	apiQuestions(s, d, host, false)
	initKeystoreQuestions(s, d, host)
	s.add(&question{path: "server.restart_command", title: "Command that restarts the CM server",
		missing: func(f *answers.File) bool { return f.Server == nil || f.Server.RestartCommand == "" },
		check:   checkNotEmpty,
		set:     func(w *answers.File, v string) error { srv(w).RestartCommand = v; return nil }, val: answers.DefaultServerRestart})
	initHostQuestions(s, d)
	initAgentQuestions(s)
	initTLSQuestions(s)
	return s.qs
}

// initServerQuestions: the server's name and how to reach it.
func initServerQuestions(s *qset, d Discovered) *question {
	host := s.add(&question{path: "server.host", title: "CM server host",
		desc:    "The FQDN (or static IP) agents use to reach the server; it becomes the certificate's CN.",
		missing: func(f *answers.File) bool { return f.Server == nil || f.Server.Host == "" },
		check:   checkNotEmpty,
		set:     func(w *answers.File, v string) error { srv(w).Host = v; return nil },
		load:    func(f *answers.File) string { return f.Server.Host },
		val:     d.FQDN})
	serverSSHQuestions(s, "Reach the server over SSH at")
	return host
}

// serverSSHQuestions ask how to reach the CM server; a file with a server:
// section and no ssh: says "this machine", and the form says so instead of
// asking (see skipNotes).
func serverSSHQuestions(s *qset, title string) {
	sshAddr := s.add(&question{path: "server.ssh.address", title: title,
		desc:     "Leave blank when cmtls runs on the CM server itself.",
		optional: true, missing: noServer,
		skipNote: func(f *answers.File) string {
			if f.Server != nil && f.Server.SSH == nil {
				return "server.ssh is not asked: the answers file has a server: section without ssh:, so the server's " +
					"files and restart are handled on this machine (add server.ssh to the file to reach it over SSH)."
			}
			return ""
		},
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
	s.add(&question{path: "server.ssh.user", title: "SSH user on the server", missing: noServer, relevant: viaSSH,
		check: checkNotEmpty,
		set:   func(w *answers.File, v string) error { srvSSH(w).User = v; return nil }, val: "root"})
	s.add(&question{path: "server.ssh.port", title: "SSH port on the server", missing: noServer, relevant: viaSSH,
		set: func(w *answers.File, v string) error {
			n, err := parsePort(v)
			srvSSH(w).Port = n
			return err
		}, val: "22"})
}

// apiQuestions: the CM API's URL and credentials. The password's answer is
// checked against the API (one call) when it is typed.
func apiQuestions(s *qset, d Discovered, host *question, withCA bool) {
	url := s.add(&question{path: "server.api.url", title: "CM API URL", desc: "The Admin Console's address, e.g. http://cm1.example.com:7180.",
		missing: func(f *answers.File) bool { return noAPI(f) || f.Server.API.URL == "" },
		placeholder: func() string {
			if d.APIURL != "" {
				return d.APIURL
			}
			if host != nil {
				if h := strings.TrimSpace(host.val); h != "" {
					return "http://" + h + ":7180"
				}
			}
			return ""
		},
		set: func(w *answers.File, v string) error { api(w).URL = v; return nil }})
	switch {
	case host != nil:
		url.dep = &host.val
	case d.APIURL == "" && d.FQDN != "" && d.ConsoleTLS:
		// after Step 7 the Admin Console answers on https at 7183
		url.val = "https://" + d.FQDN + ":7183"
	case d.APIURL == "" && d.FQDN != "":
		url.val = "http://" + d.FQDN + ":7180"
	}
	if withCA {
		// before the credentials: they are tried over this https
		caFileQuestion(s, d)
	}
	s.add(&question{path: "server.api.user", title: "CM API user",
		missing: func(f *answers.File) bool { return noAPI(f) || f.Server.API.User == "" },
		check:   checkNotEmpty,
		set:     func(w *answers.File, v string) error { api(w).User = v; return nil }, val: "admin"})
	s.add(&question{path: "server.api.password", title: "CM API password", kind: kindPassword,
		desc:    "Tried with the CM API when entered; you can go back to fix the URL or user.",
		missing: func(f *answers.File) bool { return noAPI(f) || f.Server.API.Password.IsZero() },
		check:   checkNotEmpty, checksAPI: true,
		set: func(w *answers.File, v string) error {
			api(w).Password = answers.NewSecret([]byte(v))
			return nil
		}})
}

// initKeystoreQuestions: the server keystore, how its certificate comes
// to be, and where the DER and PEM exports go.
func initKeystoreQuestions(s *qset, d Discovered, host *question) {
	ksPath := d.KeystorePath
	if ksPath == "" {
		ksPath = "/opt/cloudera/security/jks/cm.keystore"
	}
	s.add(&question{path: "server.keystore.path", title: "Keystore path on the server",
		desc:    "The Java keystore CM's server uses for TLS (created when generating a key pair).",
		missing: noKS, check: func(v string) error {
			if err := checkNotEmpty(v); err != nil {
				return err
			}
			return checkAbs(v)
		},
		set: func(w *answers.File, v string) error { ks(w).Path = v; return nil }, val: ksPath})
	s.add(&question{path: "server.keystore.type", title: "Keystore type", kind: kindSelect, options: []string{"jks", "pkcs12"},
		missing: noKS, set: func(w *answers.File, v string) error { ks(w).Type = v; return nil }, val: "jks"})
	s.add(&question{path: "server.keystore.alias", title: "Key alias in the keystore", missing: noKS, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { ks(w).Alias = v; return nil }, val: answers.DefaultAlias})
	s.add(&question{path: "server.keystore.password", title: "Keystore password", kind: kindPassword,
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
	src := s.add(&question{path: "server.keystore.generate", title: "Server certificate", kind: kindSelect,
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
	generateQuestions(s, generating, host)
	importQuestions(s, func() bool { return src.val == "import" })
	noPath := func(get func(*answers.Server) string) func(f *answers.File) bool {
		return func(f *answers.File) bool {
			return f.Server == nil || (f.Server.Keystore == nil && get(f.Server) == "")
		}
	}
	s.add(&question{path: "server.der_path", title: "Where the server's certificate is exported (DER)",
		desc:    "Step 2's keytool -exportcert writes it here on the server.",
		missing: noPath(func(v *answers.Server) string { return v.DERPath }), check: checkAbs,
		set: func(w *answers.File, v string) error { srv(w).DERPath = v; return nil }, val: answers.DefaultDERPath})
	s.add(&question{path: "server.pem_path", title: "Where the server's certificate is kept as PEM",
		desc:    "Converted from the DER; this is the file pushed to every agent.",
		missing: noPath(func(v *answers.Server) string { return v.PEMPath }), check: checkAbs,
		set: func(w *answers.File, v string) error { srv(w).PEMPath = v; return nil }, val: answers.DefaultPEMPath})
}

// generateQuestions: the key pair keytool generates (Step 2).
func generateQuestions(s *qset, generating func() bool, host *question) {
	s.add(&question{path: "server.keystore.generate.validity_days", title: "Certificate validity (days)", missing: noKS, relevant: generating,
		match: []string{"validity_days"},
		set: func(w *answers.File, v string) error {
			n, err := parseInt(v, 1, 3650, "validity_days")
			gen(w).ValidityDays = n
			return err
		}, val: strconv.Itoa(answers.DefaultValidityDays)})
	alg := s.add(&question{path: "server.keystore.generate.key_algorithm", title: "Key algorithm", kind: kindSelect,
		options: []string{"RSA", "EC"}, missing: noKS, relevant: generating, match: []string{"key_algorithm"},
		set: func(w *answers.File, v string) error { gen(w).KeyAlgorithm = v; return nil }, val: answers.DefaultKeyAlgorithm})
	s.add(&question{path: "server.keystore.generate.key_size", title: "Key size (bits)", kind: kindSelect,
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
	for _, sj := range []struct {
		key, title string
		set        func(*answers.Subject, string)
	}{
		{"ou", "Organizational unit (OU)", func(s *answers.Subject, v string) { s.OU = v }},
		{"o", "Organization (O)", func(s *answers.Subject, v string) { s.O = v }},
		{"l", "City or locality (L)", func(s *answers.Subject, v string) { s.L = v }},
		{"st", "State or province (ST)", func(s *answers.Subject, v string) { s.ST = v }},
		{"c", "Two-letter country code (C)", func(s *answers.Subject, v string) { s.C = v }},
	} {
		q := &question{path: "server.keystore.generate.subject." + sj.key, title: sj.title, optional: true,
			desc: "Part of the certificate's subject; the CN is always the server host. Blank leaves it out.", missing: noKS, relevant: generating,
			set: func(w *answers.File, v string) error {
				if v != "" {
					sj.set(subj(w), v)
				}
				return nil
			}}
		if sj.key == "c" {
			q.check = checkCountry
		}
		s.add(q)
	}
	s.add(&question{path: "server.keystore.generate.san", title: "Subject alternative names",
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
}

func checkCountry(v string) error {
	if v != "" && (len(v) != 2 || strings.ToUpper(v) != v || strings.ToLower(v) == v) {
		return fmt.Errorf("%q is not a two-letter country code like US", v)
	}
	return nil
}

// importQuestions: a CA-signed certificate to import instead.
func importQuestions(s *qset, importing func() bool) {
	s.add(&question{path: "server.keystore.import.cert", title: "CA-signed certificate (PEM file)", missing: noKS, relevant: importing,
		match: []string{"import.cert"}, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { imp(w).Cert = v; return nil }})
	s.add(&question{path: "server.keystore.import.chain", title: "CA chain (PEM file)", desc: "Blank when the certificate file holds the chain.",
		missing: noKS, relevant: importing, optional: true,
		set: func(w *answers.File, v string) error { imp(w).Chain = v; return nil }})
	s.add(&question{path: "server.keystore.import.key", title: "Private key (PEM file)", desc: "Blank when the keystore already holds the key.",
		missing: noKS, relevant: importing, optional: true,
		set: func(w *answers.File, v string) error { imp(w).Key = v; return nil }})
}

// Where the agent hosts come from.
const (
	sourceList      = "list"
	sourceInventory = "inventory"
	sourceAPI       = "api"
)

// initHostQuestions: which hosts, from where, with which per-host settings.
func initHostQuestions(s *qset, d Discovered) {
	src := s.add(&question{path: "agents.from_api", title: "Where do the agent hosts come from?", kind: kindSelect,
		desc: "list: typed here (or picked from the CM API's hosts), with per-host settings. inventory: an Ansible inventory " +
			"(its ansible_host, ansible_port, ansible_user are used). api: every host CM manages, looked up at each run.",
		options: []string{sourceList, sourceInventory, sourceAPI}, missing: noHosts,
		match: []string{}, // "no agent hosts" is the next question's
		set: func(w *answers.File, v string) error {
			if v == sourceAPI {
				ag(w).FromAPI = true
			}
			return nil
		}, val: sourceList})
	listed := func() bool { return src.val == sourceList }
	s.add(&question{path: "agents.inventory", title: "Ansible inventory file", missing: noHosts,
		relevant: func() bool { return src.val == sourceInventory },
		desc:     "INI or YAML; give its path (relative paths are from where you run cmtls).",
		check: func(v string) error {
			if err := checkNotEmpty(v); err != nil {
				return err
			}
			if d.CheckInventory != nil {
				return d.CheckInventory(v)
			}
			return nil
		},
		set: func(w *answers.File, v string) error { ag(w).Inventory = v; return nil }})
	hq := s.add(&question{path: "agents.hosts", title: "Agent hosts", kind: kindHosts, relevant: listed,
		desc: "One host per line. Settings that differ follow the name, e.g.\n" +
			"agent3.example.com port=2222 user=ops config_path=/opt/agent/config.ini",
		missing: noHosts,
		match:   []string{"agents.hosts", "listed twice", "no agent hosts"},
		set: func(w *answers.File, v string) error {
			a := ag(w)
			a.Hosts = nil
			hs, err := parseHostLines(v)
			if err != nil {
				return err
			}
			a.Hosts = hs
			if len(a.Hosts) == 0 {
				return errors.New("give at least one agent host")
			}
			return nil
		}})
	if len(d.Hosts) > 0 {
		offerHosts(hq, d.Hosts, false)
	}
	s.add(&question{path: "agents.hosts.*", title: "Per-host settings (optional)", kind: kindText, optional: true,
		desc: "Only for hosts that differ: one line each, the name then settings, e.g.\n" +
			"agent3.example.com port=2222 user=ops pem_dest=/opt/cmf/server.pem",
		missing:  noHosts,
		relevant: func() bool { return listed() && len(hq.options) > 0 },
		match:    []string{"agents.hosts"},
		check: func(v string) error {
			hs, err := parseHostLines(v)
			if err != nil {
				return err
			}
			for _, h := range hs {
				if len(hq.options) > 0 && !contains(hq.list, h.Name) {
					return fmt.Errorf("%s is not among the hosts chosen above", h.Name)
				}
			}
			return nil
		},
		set: func(w *answers.File, v string) error {
			hs, err := parseHostLines(v)
			if err != nil {
				return err
			}
			a := ag(w)
			for _, h := range hs {
				merged := false
				for i := range a.Hosts {
					if a.Hosts[i].Name == h.Name {
						h.Line = a.Hosts[i].Line
						a.Hosts[i] = h
						merged = true
					}
				}
				if !merged {
					a.Hosts = append(a.Hosts, h)
				}
			}
			return nil
		}})
}

// offerHosts makes the hosts question a multi-select of hosts found
// (through the CM API), all chosen.
func offerHosts(q *question, hosts []string, accessible bool) {
	q.options = append([]string(nil), hosts...)
	q.list = append([]string(nil), hosts...)
	q.val = strings.Join(hosts, ", ")
	q.input = q.val
	q.desc = "Found through the CM API; space toggles a host, enter accepts. Settings per host come next."
	if accessible {
		q.desc = "Found through the CM API; enter takes them all, or type the ones to use (comma-separated)."
	}
}

// initAgentQuestions: how to reach the agents and what to change on them.
func initAgentQuestions(s *qset) {
	s.add(&question{path: "agents.ssh.user", title: "SSH user on the agents", missing: noAgentSSH, check: checkNotEmpty,
		skipNote: func(f *answers.File) string {
			if !noAgentSSH(f) {
				return "agents.ssh is not asked: the answers file gives it."
			}
			return ""
		},
		set: func(w *answers.File, v string) error { agSSH(w).User = v; return nil }, val: "root"})
	s.add(&question{path: "agents.ssh.port", title: "SSH port on the agents", missing: noAgentSSH,
		set: func(w *answers.File, v string) error {
			n, err := parsePort(v)
			agSSH(w).Port = n
			return err
		}, val: strconv.Itoa(answers.DefaultSSHPort)})
	s.add(&question{path: "agents.ssh.identity_file", title: "SSH private key file", optional: true,
		desc: "Blank uses ssh-agent and the keys ~/.ssh/config names, as ssh does.", missing: noAgentSSH,
		set: func(w *answers.File, v string) error { agSSH(w).IdentityFile = v; return nil }})
	s.add(&question{path: "agents.ssh.known_hosts", title: "known_hosts file", optional: true,
		desc: "Blank uses ~/.ssh/known_hosts. Unknown host keys are refused unless accepted.", missing: noAgentSSH,
		set: func(w *answers.File, v string) error { agSSH(w).KnownHosts = v; return nil }})
	become := s.add(&question{path: "agents.ssh.become", title: "Become root with", kind: kindSelect, options: []string{"none", "sudo"},
		desc: "none: the SSH user can write the agent's files itself.", missing: noAgentSSH,
		set: func(w *answers.File, v string) error {
			if v == "sudo" {
				agSSH(w).Become = v
			}
			return nil
		}, val: "none"})
	s.add(&question{path: "agents.ssh.become_password", title: "sudo password", kind: kindPassword, optional: true,
		desc: "Blank when sudo needs no password.", missing: noAgentSSH,
		relevant: func() bool { return become.val == "sudo" },
		set: func(w *answers.File, v string) error {
			if v != "" {
				agSSH(w).BecomePassword = answers.NewSecret([]byte(v))
			}
			return nil
		}})
	s.add(&question{path: "agents.pem_dest", title: "Where agents keep the server's PEM",
		missing: agentsWide(func(a *answers.Agents) string { return a.PEMDest }, func(h answers.Host) string { return h.PEMDest }),
		check:   checkNotEmpty,
		set:     func(w *answers.File, v string) error { ag(w).PEMDest = v; return nil }, val: answers.DefaultPEMDest})
	s.add(&question{path: "agents.config_path", title: "Agent config.ini path",
		missing: agentsWide(func(a *answers.Agents) string { return a.ConfigPath }, func(h answers.Host) string { return h.ConfigPath }),
		check:   checkNotEmpty,
		set:     func(w *answers.File, v string) error { ag(w).ConfigPath = v; return nil }, val: answers.DefaultAgentConfig})
	s.add(&question{path: "agents.restart_command", title: "Command that restarts an agent",
		missing: agentsWide(func(a *answers.Agents) string { return a.RestartCommand }, func(h answers.Host) string { return h.RestartCommand }),
		check:   checkNotEmpty,
		set:     func(w *answers.File, v string) error { ag(w).RestartCommand = v; return nil }, val: answers.DefaultAgentRestart})
	s.add(&question{path: "agents.parallelism", title: "Agents worked on at once",
		missing: func(f *answers.File) bool { return noAgents(f) || f.Agents.Parallelism == 0 },
		set: func(w *answers.File, v string) error {
			n, err := parseInt(v, 1, 1000, "parallelism")
			ag(w).Parallelism = n
			return err
		}, val: strconv.Itoa(answers.DefaultParallelism)})
	s.add(&question{path: "agents.canary", title: "Canary hosts",
		desc:    "Hosts done and verified first, before the rest (0: none).",
		missing: func(f *answers.File) bool { return noAgents(f) || f.Agents.Canary == nil },
		set: func(w *answers.File, v string) error {
			n, err := parseInt(v, 0, 1000, "canary")
			ag(w).Canary = &n
			return err
		}, val: strconv.Itoa(answers.DefaultCanary)})
}

// initTLSQuestions: the TLS levels and how long to wait for proof.
func initTLSQuestions(s *qset) {
	s.add(&question{path: "tls.agent_encryption", title: "Turn on TLS between agents and server (Step 1, level 1)?", kind: kindConfirm,
		missing: func(f *answers.File) bool { return f.TLS == nil || f.TLS.AgentEncryption == nil },
		set: func(w *answers.File, v string) error {
			b := yesNo(v)
			tlsSec(w).AgentEncryption = &b
			return nil
		}, bval: true})
	s.add(&question{path: "tls.admin_console", title: "Also use TLS for the Admin Console (Step 7)?", kind: kindConfirm,
		desc:    lockoutWarning,
		missing: func(f *answers.File) bool { return f.TLS == nil },
		set:     func(w *answers.File, v string) error { tlsSec(w).AdminConsole = yesNo(v); return nil }})
	s.add(&question{path: "verify.heartbeat_timeout", title: "How long to wait for heartbeats",
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
}

// hostKeys are the per-host settings a host line may carry (the fields of
// an agents.hosts entry in the answers file).
var hostKeys = []string{"address", "port", "user", "pem_dest", "config_path", "restart_command", "check_command", "log_path"}

// parseHostLines reads hosts one per line (or several bare names separated
// by commas or spaces), each name optionally followed by key=value
// settings; a value with spaces is written in double quotes.
func parseHostLines(v string) ([]answers.Host, error) {
	var out []answers.Host
	for n, line := range strings.Split(v, "\n") {
		fields, err := splitQuoted(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		if len(fields) == 0 {
			continue
		}
		if len(fields) > 1 && !strings.Contains(line, ",") && isHostKey(fields[1]) {
			return nil, fmt.Errorf("line %d: %q: write a setting as key=value", n+1, fields[1])
		}
		if !strings.Contains(line, "=") {
			// bare names: "a1, a2 a3"
			for _, h := range splitList(line) {
				out = append(out, answers.Host{Name: h})
			}
			continue
		}
		h := answers.Host{Name: strings.TrimSuffix(fields[0], ",")}
		if strings.Contains(h.Name, "=") {
			return nil, fmt.Errorf("line %d: start with the host name, then settings like port=2222", n+1)
		}
		for _, kv := range fields[1:] {
			k, val, ok := strings.Cut(kv, "=")
			if !ok || val == "" {
				return nil, fmt.Errorf("line %d: %q: write a setting as key=value", n+1, kv)
			}
			if err := setHostKey(&h, k, val); err != nil {
				return nil, fmt.Errorf("line %d: %s: %w", n+1, h.Name, err)
			}
		}
		out = append(out, h)
	}
	return out, nil
}

func isHostKey(s string) bool { return contains(hostKeys, s) }

func setHostKey(h *answers.Host, k, v string) error {
	switch k {
	case "address":
		h.Address = v
	case "port":
		p, err := parsePort(v)
		if err != nil {
			return err
		}
		h.Port = p
	case "user":
		h.User = v
	case "pem_dest":
		h.PEMDest = v
	case "config_path":
		h.ConfigPath = v
	case "restart_command":
		h.RestartCommand = v
	case "check_command":
		h.CheckCommand = v
	case "log_path":
		h.LogPath = v
	default:
		return fmt.Errorf("unknown setting %q: use %s", k, strings.Join(hostKeys, ", "))
	}
	return nil
}

// splitQuoted splits a line at blanks, keeping "double quoted" values
// whole (key="a b").
func splitQuoted(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in, has := false, false
	for _, r := range s {
		switch {
		case r == '"':
			in, has = !in, true
		case !in && (r == ' ' || r == '\t' || r == '\r'):
			if has {
				out = append(out, cur.String())
				cur.Reset()
				has = false
			}
		default:
			cur.WriteRune(r)
			has = true
		}
	}
	if in {
		return nil, errors.New("a double quote is not closed")
	}
	if has {
		out = append(out, cur.String())
	}
	return out, nil
}
