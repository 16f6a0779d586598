package wizard

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cmtls/cmtls/remote/localfile"
	"github.com/cmtls/cmtls/steps/answers"
)

// clone deep-copies the sections of f that the wizard and ApplyDefaults
// write to, so that probing answers never touches the caller's file.
func clone(f *answers.File) *answers.File {
	c := *f
	c.Warnings = append([]string(nil), f.Warnings...)
	cpSSH := func(s *answers.SSH) *answers.SSH {
		if s == nil {
			return nil
		}
		x := *s
		return &x
	}
	if s := f.Server; s != nil {
		x := *s
		x.SSH = cpSSH(s.SSH)
		if s.API != nil {
			a := *s.API
			x.API = &a
		}
		if k := s.Keystore; k != nil {
			kk := *k
			if g := k.Generate; g != nil {
				gg := *g
				gg.SAN = append([]string(nil), g.SAN...)
				if g.Subject != nil {
					sj := *g.Subject
					gg.Subject = &sj
				}
				kk.Generate = &gg
			}
			if i := k.Import; i != nil {
				ii := *i
				kk.Import = &ii
			}
			x.Keystore = &kk
		}
		c.Server = &x
	}
	if a := f.Agents; a != nil {
		x := *a
		x.Hosts = append([]answers.Host(nil), a.Hosts...)
		x.SSH = cpSSH(a.SSH)
		if a.Canary != nil {
			n := *a.Canary
			x.Canary = &n
		}
		c.Agents = &x
	}
	if t := f.TLS; t != nil {
		x := *t
		if t.AgentEncryption != nil {
			b := *t.AgentEncryption
			x.AgentEncryption = &b
		}
		c.TLS = &x
	}
	if v := f.Verify; v != nil {
		x := *v
		c.Verify = &x
	}
	if s := f.SAML; s != nil {
		x := *s
		if s.Keystore != nil {
			k := *s.Keystore
			x.Keystore = &k
		}
		if s.UserID != nil {
			u := *s.UserID
			x.UserID = &u
		}
		if s.Role != nil {
			r := *s.Role
			r.AdminValues = append([]string(nil), s.Role.AdminValues...)
			r.UserValues = append([]string(nil), s.Role.UserValues...)
			x.Role = &r
		}
		if s.Verify != nil {
			v := *s.Verify
			v.Logins = append([]answers.SAMLLogin(nil), s.Verify.Logins...)
			x.Verify = &v
		}
		c.SAML = &x
	}
	return &c
}

// secretEnvNames are the environment variables SaveAnswers names for
// secrets the user typed (the contract's names where it has one).
var secretEnvNames = map[string]string{
	"server.api.password":        "CM_ADMIN_PASSWORD",
	"server.keystore.password":   "CMTLS_KEYSTORE_PASSWORD",
	"server.ssh.passphrase":      "CMTLS_SERVER_SSH_PASSPHRASE",
	"server.ssh.become_password": "CMTLS_SERVER_SUDO_PASSWORD",
	"agents.ssh.passphrase":      "CMTLS_SSH_PASSPHRASE",
	"agents.ssh.become_password": "SUDO_PASSWORD",
	"saml.keystore.password":     "CMTLS_SAML_KEYSTORE_PASSWORD",
	"saml.keystore.key_password": "CMTLS_SAML_KEY_PASSWORD",
}

// secretRefs lists f's secrets with their paths.
func secretRefs(f *answers.File) map[string]*answers.Secret { return f.Secrets() }

// SecretEnv lists the environment variables a file written by SaveAnswers
// reads its typed secrets from: path in the file -> variable name. The
// caller tells the user to export them before a headless run.
func SecretEnv(f *answers.File) map[string]string {
	out := map[string]string{}
	for p, s := range secretRefs(f) {
		if s.Env != "" {
			out[p] = s.Env
			continue
		}
		if s.File != "" {
			continue
		}
		name, ok := secretEnvNames[p]
		if !ok {
			name = "CMTLS_" + strings.ToUpper(strings.Map(func(r rune) rune {
				if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
					return r
				}
				return '_'
			}, strings.TrimPrefix(p, "saml.verify.")))
			name = strings.ReplaceAll(strings.TrimRight(name, "_"), "__", "_")
		}
		out[p] = name
	}
	return out
}

// rebase makes c's relative local paths absolute when the file is saved
// in another directory than the one they are relative to (from: the
// answers file's directory, or the working directory for typed answers),
// so that the saved file names the same files. ~ paths are kept.
func rebase(c *answers.File, from, path string) error {
	if from == "" {
		wd, err := os.Getwd()
		if err != nil {
			return fmt.Errorf("save the answers: %w", err)
		}
		from = wd
	}
	to, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("save the answers: %w", err)
	}
	if filepath.Clean(from) == to {
		return nil
	}
	fix := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) && *p != "~" && !strings.HasPrefix(*p, "~/") {
			*p = filepath.Join(from, *p)
		}
	}
	fixSSH := func(s *answers.SSH) {
		if s != nil {
			fix(&s.IdentityFile)
			fix(&s.KnownHosts)
			fix(&s.Config)
		}
	}
	if s := c.Server; s != nil {
		fixSSH(s.SSH)
		if s.API != nil {
			fix(&s.API.CAFile)
		}
		if s.Keystore != nil && s.Keystore.Import != nil {
			fix(&s.Keystore.Import.Cert)
			fix(&s.Keystore.Import.Chain)
			fix(&s.Keystore.Import.Key)
		}
	}
	if a := c.Agents; a != nil {
		fixSSH(a.SSH)
		fix(&a.Inventory)
	}
	if s := c.SAML; s != nil {
		fix(&s.IdPMetadata)
		if s.Keystore != nil {
			fix(&s.Keystore.Path)
		}
		if s.Role != nil {
			fix(&s.Role.Script)
		}
	}
	for _, sec := range secretRefs(c) {
		fix(&sec.File)
	}
	return nil
}

// SaveAnswers writes f as an answers file that repeats the same run
// headless (`--answers path`). Secrets are written as references, never
// values: {env: NAME} or {file: PATH} as they were given, and {env: NAME}
// for secrets typed into the wizard, with the names listed in a comment at
// the top. Relative paths stay relative only when saved next to what they
// are relative to (else they are made absolute). The file is written
// atomically with mode 0600.
func SaveAnswers(f *answers.File, path string) error {
	c := clone(f)
	c.Version = 1
	if err := rebase(c, f.Dir, path); err != nil {
		return err
	}
	envs := SecretEnv(c)
	for p, s := range secretRefs(c) {
		if s.Env == "" && s.File == "" {
			s.Env = envs[p]
		}
	}
	body, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode the answers: %w", err)
	}
	var b bytes.Buffer
	b.WriteString("# cmtls answers file (written by the wizard). Repeat the run headless with:\n")
	command := "cmtls init --answers "
	if c.SAML != nil && c.Agents == nil {
		command = "cmtls saml configure --answers "
	}
	b.WriteString("#   " + command + filepath.Base(path) + "\n")
	if len(envs) > 0 {
		b.WriteString("# Secrets are not stored here; export these first:\n")
		var ps []string
		for p := range envs {
			ps = append(ps, p)
		}
		sort.Strings(ps)
		for _, p := range ps {
			fmt.Fprintf(&b, "#   %s  (%s)\n", envs[p], p)
		}
	}
	b.Write(body)
	// The file must load back strictly: refuse to write one that does not.
	if _, err := answers.Parse(path, b.Bytes()); err != nil {
		return fmt.Errorf("the answers to save do not read back: %w", err)
	}
	return localfile.Write(path, b.Bytes(), 0o600)
}

// ForCommand is f with only the sections command reads, for saving: the
// SAML answers (server.api, server.ssh, server.restart_command, saml) for
// `cmtls saml configure`, everything but saml for the TLS commands. An
// answers file saved by one wizard then holds nothing the other command
// would use or refuse.
func ForCommand(f *answers.File, command string) *answers.File {
	c := clone(f)
	if strings.HasPrefix(command, "cmtls saml") {
		c.Agents, c.TLS, c.Verify = nil, nil, nil
		if s := c.Server; s != nil {
			s.Keystore, s.DERPath, s.PEMPath = nil, "", ""
		}
		return c
	}
	c.SAML = nil
	return c
}
