package answers

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const good = `version: 1
server:
  host: cm1.example.com
  api: {url: http://cm1.example.com:7180, user: admin, password: {env: CM_ADMIN_PASSWORD}}
  keystore:
    path: /opt/cloudera/security/jks/cm.keystore
    type: jks
    alias: jetty
    password: {env: CMTLS_KEYSTORE_PASSWORD}
    generate:
      validity_days: 180
      key_algorithm: RSA
      key_size: 2048
      subject: {ou: IT, o: Example, l: City, st: State, c: US}
      san: [cm1.example.com]
agents:
  hosts:
    - agent1.example.com
    - {name: agent2.example.com, address: 10.0.0.12, port: 2222, user: cmops}
  ssh: {user: root, port: 22, become: sudo, become_password: {env: SUDO_PASSWORD}}
  pem_dest: /etc/cmf/server.pem
  parallelism: 50
  canary: 1
tls:
  agent_encryption: true
  admin_console: true
verify:
  heartbeat_timeout: 120s
`

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseGood(t *testing.T) {
	f, err := Parse("a.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	f.ApplyDefaults()
	if err := f.ValidateInit(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	hs := f.AgentHosts()
	if len(hs) != 2 || hs[0].Port != 22 || hs[0].User != "root" || hs[1].Port != 2222 || hs[1].User != "cmops" || hs[1].Address != "10.0.0.12" {
		t.Fatalf("hosts: %+v", hs)
	}
	if hs[0].ConfigPath != DefaultAgentConfig || hs[1].PEMDest != "/etc/cmf/server.pem" {
		t.Fatalf("defaults: %+v", hs)
	}
	if f.Verify.HeartbeatTimeout.D().Seconds() != 120 {
		t.Fatal(f.Verify.HeartbeatTimeout)
	}
	err = f.ResolveSecrets(env(map[string]string{"CM_ADMIN_PASSWORD": "admin", "CMTLS_KEYSTORE_PASSWORD": "changeit"}))
	var es Errors
	var e *Error
	if !errors.As(err, &e) && !errors.As(err, &es) {
		t.Fatalf("missing SUDO_PASSWORD: got %v", err)
	}
	if !strings.Contains(err.Error(), "a.yaml:20:") || !strings.Contains(err.Error(), "SUDO_PASSWORD") {
		t.Fatalf("want file:line naming the variable, got %v", err)
	}
	if err := f.ResolveSecrets(env(map[string]string{"CM_ADMIN_PASSWORD": "admin", "CMTLS_KEYSTORE_PASSWORD": "changeit", "SUDO_PASSWORD": "x"})); err != nil {
		t.Fatal(err)
	}
	if string(f.Server.Keystore.Password.Value()) != "changeit" {
		t.Fatal("secret not resolved")
	}
}

func TestParseBad(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"unknown top key", "version: 1\nservr: {}\n", `a.yaml:2: unknown key "servr"`},
		{"nested unknown", "version: 1\nserver:\n  host: x\n  keystore:\n    generate: {validty_days: 3}\n", `a.yaml:5: unknown key "validty_days"`},
		{"duplicate key", "version: 1\nversion: 1\n", "a.yaml:2:"},
		{"wrong type", "version: 1\nagents:\n  parallelism: lots\n", `a.yaml:3: "lots" is not a whole number`},
		{"wrong bool", "version: 1\ntls: {admin_console: maybe}\n", `a.yaml:2: "maybe" is not true or false`},
		{"list for a map", "version: 1\nserver: [a, b]\n", "a.yaml:2: expected a mapping (key: value), got a list"},
		{"map for a list", "version: 1\nagents: {hosts: {a: b}}\n", "a.yaml:2: expected a list, got a mapping"},
		{"host unknown field", "version: 1\nagents:\n  hosts:\n    - {name: a, adress: b}\n", `a.yaml:4: unknown key "adress" in an agent host`},
		{"bad duration", "version: 1\nverify: {heartbeat_timeout: soon}\n", "a.yaml:2: invalid duration"},
		{"secret both", "version: 1\nserver: {api: {url: http://x, password: {env: A, file: B}}}\n", "a.yaml:2: a secret needs exactly one"},
		{"secret unknown", "version: 1\nserver: {api: {url: http://x, password: {vault: A}}}\n", `unknown key "vault" in a secret`},
		{"version 2", "version: 2\n", "a.yaml:1: version must be 1"},
		{"no version", "agents: {}\n", "version must be 1"},
		{"empty", "", "empty"},
		{"two docs", "version: 1\n---\nversion: 1\n", "more than one YAML document"},
		{"not yaml", "version: [1\n", "a.yaml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("a.yaml", []byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
			var ec interface{ BadInput() bool }
			if !errors.As(err, &ec) || !ec.BadInput() {
				t.Fatalf("exit code: %v", err)
			}
		})
	}
}

func TestValidateBad(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"no hosts", "version: 1\nagents: {pem_dest: /etc/cmf/server.pem}\n", "a.yaml:2: no agent hosts"},
		{"relative pem_dest", "version: 1\nagents: {hosts: [a], pem_dest: etc/server.pem}\n", "a.yaml:2: agents.pem_dest must be an absolute path"},
		{"dup host", "version: 1\nagents:\n  hosts: [a, b, a]\n", "host a is listed twice"},
		{"bad host", "version: 1\nagents:\n  hosts: [\"a b\"]\n", "a.yaml:3:"},
		{"bad become", "version: 1\nagents: {hosts: [a], ssh: {become: su}}\n", "options are sudo"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Parse("a.yaml", []byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			f.ApplyDefaults()
			err = f.ValidatePush()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	s := NewSecret([]byte("hunter22"))
	for _, out := range []string{s.String(), s.GoString(), fmtSprintf("%v %+v %#v %s %q", s, s, s, s, s)} {
		if strings.Contains(out, "hunter22") {
			t.Fatalf("secret leaked: %s", out)
		}
	}
	b, _ := s.MarshalJSON()
	if strings.Contains(string(b), "hunter22") {
		t.Fatal("secret in JSON")
	}
}

func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("s3cret-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := Secret{File: "pw"}
	if err := s.Resolve(env(nil), dir); err != nil || string(s.Value()) != "s3cret-pw" {
		t.Fatalf("%v %q", err, s.Value())
	}
	s = Secret{File: "missing"}
	if err := s.Resolve(env(nil), dir); err == nil {
		t.Fatal("missing file accepted")
	}
}

// TestSecretFileReadableByOthersRefused: as OpenSSH refuses a private key
// others can read, a secret file with group or other bits is bad input
// naming the chmod, and its value is never read.
func TestSecretFileReadableByOthersRefused(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pw")
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.WriteFile(p, []byte("s3cret-pw\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		s := Secret{File: "pw"}
		err := s.Resolve(env(nil), dir)
		var se *SecretFileError
		if !errors.As(err, &se) || !se.BadInput() || se.Hint() != "chmod 600 "+p || s.Resolved() {
			t.Fatalf("mode %04o: %v (resolved %v)", mode, err, s.Resolved())
		}
	}
	// through the answers file: exit 2 at the secret's line, the chmod named
	a := filepath.Join(dir, "a.yaml")
	if err := os.WriteFile(a, []byte("version: 1\nserver: {api: {url: http://x, password: {file: pw}}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(a)
	if err != nil {
		t.Fatal(err)
	}
	err = f.ResolveSecrets(env(nil))
	var h interface {
		Hint() string
		BadInput() bool
	}
	if !errors.As(err, &h) || !h.BadInput() || !strings.Contains(h.Hint(), "chmod 600 "+p) || !strings.Contains(err.Error(), "a.yaml:2") {
		t.Fatalf("answers: %v", err)
	}
}

func TestValidateSAML(t *testing.T) {
	ok := `version: 1
server:
  api: {url: http://localhost:7180, user: admin, password: {env: P}}
saml:
  idp_metadata: idp.xml
  keystore: {path: saml.jks, password: {env: K}, alias: saml}
  user_id: {from: attribute}
  role: {from: attribute, admin_values: [cm-admins], user_values: [cm-users]}
`
	f, err := Parse("s.yaml", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	f.ApplyDefaults()
	if err := f.ValidateSAML(); err != nil {
		t.Fatal(err)
	}
	if f.SAML.UserID.Attribute != DefaultUserIDAttribute || f.SAML.Role.Attribute != DefaultRoleAttribute || f.SAML.EntityID != DefaultSAMLEntityID {
		t.Fatalf("defaults: %+v %+v", f.SAML.UserID, f.SAML.Role)
	}
	bad := []struct{ in, want string }{
		{"version: 1\nsaml: {}\n", "server.api is required"},
		{"version: 1\nserver: {api: {url: ftp://x, password: {env: P}}}\nsaml: {idp_metadata: m, keystore: {path: k, password: {env: K}, alias: a}, role: {from: attribute, admin_values: [a]}}\n", "not an http(s) URL"},
		{"version: 1\nserver: {api: {url: http://x, password: {env: P}}}\nsaml: {idp_metadata: m, keystore: {path: k, password: {env: K}, alias: a}, role: {from: script}}\n", "saml.role.script is required"},
		{"version: 1\nserver: {api: {url: http://x, password: {env: P}}}\nsaml: {idp_metadata: m, keystore: {path: k, password: {env: K}, alias: a}, role: {from: ldap}}\n", "options are attribute, script"},
		{"version: 1\nserver: {api: {url: http://x, password: {env: P}}}\nsaml: {idp_metadata: m, keystore: {path: k, password: {env: K}}, role: {from: attribute, admin_values: [a]}}\n", "saml.keystore.alias is required"},
		{"version: 1\nserver: {api: {url: http://x, password: {env: P}}}\nsaml: {idp_metadata: m, keystore: {path: k, password: {env: K}, alias: a}, user_id: {from: email}, role: {from: attribute, admin_values: [a]}}\n", "options are nameid, attribute"},
	}
	for _, c := range bad {
		f, err := Parse("s.yaml", []byte(c.in))
		if err != nil {
			t.Fatal(err)
		}
		f.ApplyDefaults()
		if err := f.ValidateSAML(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.in, err, c.want)
		}
	}
}

func TestPlainSecretWarns(t *testing.T) {
	f, err := Parse("w.yaml", []byte("version: 1\nserver: {api: {url: http://x, password: admin}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], "w.yaml:2: server.api.password is written in plain text") {
		t.Fatalf("warnings: %q", f.Warnings)
	}
	if strings.Contains(strings.Join(f.Warnings, ""), "admin\"") {
		t.Fatal("warning shows the secret")
	}
}

func TestHas(t *testing.T) {
	f, err := Parse("h.yaml", []byte("version: 1\nagents:\n  ssh: {user: root}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !f.Has("agents.ssh.user") || f.Has("agents.ssh.port") {
		t.Fatal("Has confuses a key with its parent")
	}
	if f.Line("agents.ssh.port") != 3 {
		t.Fatalf("Line falls back to the parent: got %d", f.Line("agents.ssh.port"))
	}
}

func TestSecretsLists(t *testing.T) {
	f, err := Parse("a.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	got := f.Secrets()
	for _, p := range []string{"server.api.password", "server.keystore.password", "agents.ssh.become_password"} {
		if got[p] == nil {
			t.Errorf("missing %s in %v", p, got)
		}
	}
	if len(got) != 3 || got["server.api.password"] != &f.Server.API.Password {
		t.Fatalf("Secrets() = %v", got)
	}
}
