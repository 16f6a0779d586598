package wizard

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cmtls/cmtls/steps/answers"
)

// full is the contract's example answers file: it answers everything.
const full = `version: 1
server:
  host: cm1.example.com
  ssh: {address: cm1.example.com, port: 22, user: root}
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
  der_path: /opt/cloudera/security/x509/server.der
  pem_path: /opt/cloudera/security/x509/server.pem
  restart_command: service cloudera-scm-server restart
agents:
  hosts:
    - agent1.example.com
    - {name: agent2.example.com, address: 10.0.0.12, port: 2222, user: cmops}
  ssh: {user: root, port: 22, identity_file: ~/.ssh/id_ed25519, known_hosts: ~/.ssh/known_hosts,
        config: ~/.ssh/config, become: sudo, become_password: {env: SUDO_PASSWORD}}
  pem_dest: /etc/cmf/server.pem
  config_path: /etc/cloudera-scm-agent/config.ini
  restart_command: service cloudera-scm-agent restart
  check_command: service cloudera-scm-agent status
  parallelism: 50
  canary: 1
tls:
  agent_encryption: true
  admin_console: true
verify:
  heartbeat_timeout: 120s
`

func parse(t *testing.T, s string) *answers.File {
	t.Helper()
	f, err := answers.Parse("a.yaml", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// yamlHas reports whether the dotted path is present in the YAML document.
func yamlHas(t *testing.T, doc []byte, path string) bool {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = mm[k]; !ok {
			return false
		}
	}
	return true
}

// sample is a valid answer for each question, by path.
var sample = map[string]string{
	"server.host": "cm1.example.com", "server.ssh.address": "10.0.0.1", "server.ssh.user": "root", "server.ssh.port": "2222",
	"server.api.url": "http://cm1.example.com:7180", "server.api.user": "admin", "server.api.password": "secret1",
	"server.keystore.path": "/opt/ks.jks", "server.keystore.type": "pkcs12", "server.keystore.alias": "jetty",
	"server.keystore.password": "changeit", "server.keystore.generate": "generate",
	"server.keystore.generate.validity_days": "90", "server.keystore.generate.key_algorithm": "EC",
	"server.keystore.generate.key_size": "384", "server.keystore.generate.subject.ou": "IT",
	"server.keystore.generate.subject.o": "Ex", "server.keystore.generate.subject.l": "City",
	"server.keystore.generate.subject.st": "State", "server.keystore.generate.subject.c": "US",
	"server.keystore.generate.san": "cm1.example.com, cm", "server.keystore.import.cert": "/c.pem",
	"server.keystore.import.chain": "/chain.pem", "server.keystore.import.key": "/k.pem",
	"server.restart_command": "systemctl restart cloudera-scm-server",
	"agents.hosts":           "a1.example.com\na2.example.com", "agents.ssh.user": "ops", "agents.ssh.port": "2200",
	"agents.ssh.identity_file": "~/.ssh/id", "agents.ssh.known_hosts": "~/.ssh/kh", "agents.ssh.become": "sudo",
	"agents.ssh.become_password": "sudopw", "agents.pem_dest": "/etc/x.pem", "agents.config_path": "/etc/a.ini",
	"agents.restart_command": "restart", "agents.parallelism": "5", "agents.canary": "2",
	"tls.agent_encryption": "yes", "tls.admin_console": "yes", "verify.heartbeat_timeout": "90s",
	"saml.idp_metadata": "/idp.xml", "saml.keystore.path": "/saml.jks", "saml.keystore.type": "jks",
	"saml.keystore.password": "samlpw", "saml.keystore.alias": "saml", "saml.keystore.key_password": "keypw",
	"saml.entity_id": "cm", "saml.entity_base_url": "https://cm:7183", "saml.user_id.from": "attribute",
	"saml.user_id.attribute": "uid", "saml.role.from": "attribute", "saml.role.attribute": "ou",
	"saml.role.admin_values": "admins", "saml.role.user_values": "users", "saml.role.script": "/r.sh",
	"server.der_path": "/x/server.der", "server.pem_path": "/x/server.pem", "agents.from_api": "api",
	"agents.inventory": "hosts.ini", "agents.hosts.*": "a3.example.com port=2222 user=ops restart_command=\"systemctl restart a\"",
	"server.api.ca_file": "/x/ca.pem",
}

// TestEveryQuestionIsAnAnswersField: each question writes the field its path
// names, so the headless path (an answers file) can give every answer.
func TestEveryQuestionIsAnAnswersField(t *testing.T) {
	for _, set := range [][]*question{initQuestions(Discovered{}), samlQuestions(Discovered{})} {
		for _, q := range set {
			v, ok := sample[q.path]
			if !ok {
				t.Errorf("%s: no sample answer in the test", q.path)
				continue
			}
			if q.kind == kindSelect {
				opts := q.options
				if q.optionsFn != nil {
					opts = append(q.optionsFn(), "384")
				}
				if !contains(opts, v) {
					t.Errorf("%s: sample %q is not an option %v", q.path, v, opts)
				}
			}
			w := &answers.File{Version: 1}
			if err := q.set(w, v); err != nil {
				t.Errorf("%s: set(%q): %v", q.path, v, err)
				continue
			}
			if q.kind == kindPassword {
				// Secrets are written as references; check the section
				// got a secret at all.
				if len(SecretEnv(w)) != 1 {
					t.Errorf("%s: set wrote %d secrets", q.path, len(SecretEnv(w)))
				}
				if _, ok := SecretEnv(w)[q.path]; !ok {
					t.Errorf("%s: secret went to %v", q.path, SecretEnv(w))
				}
				continue
			}
			doc, err := yaml.Marshal(w)
			if err != nil {
				t.Fatal(err)
			}
			if !yamlHas(t, doc, strings.TrimSuffix(q.path, ".*")) {
				t.Errorf("%s: set wrote\n%s", q.path, doc)
			}
			// And the strict parser takes it back: the field exists in the
			// schema of the answers file.
			// (A section's required secret the question did not write is
			// given as a reference.)
			doc = bytes.ReplaceAll(doc, []byte("password: {}"), []byte("password: {env: X}"))
			if _, err := answers.Parse("q.yaml", doc); err != nil {
				t.Errorf("%s: %v", q.path, err)
			}
		}
	}
}

// TestSchemaCoversQuestions checks the paths against the struct tags of
// answers.File, independent of the set functions.
func TestSchemaCoversQuestions(t *testing.T) {
	for _, set := range [][]*question{initQuestions(Discovered{}), samlQuestions(Discovered{})} {
		for _, q := range set {
			typ := reflect.TypeOf(answers.File{})
			for _, k := range strings.Split(q.path, ".") {
				if k == "*" {
					break // any field of the element: per-host settings
				}
				for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
					typ = typ.Elem()
				}
				found := false
				for i := 0; i < typ.NumField(); i++ {
					if strings.Split(typ.Field(i).Tag.Get("yaml"), ",")[0] == k {
						typ, found = typ.Field(i).Type, true
						break
					}
				}
				if !found {
					t.Errorf("%s: no field %q in the answers schema", q.path, k)
					break
				}
			}
		}
	}
}

func TestFullFileAsksNothing(t *testing.T) {
	f := parse(t, full)
	w := NewInitForm(f, Discovered{FQDN: "x.example.com"}, Options{})
	if p := w.Paths(); len(p) != 0 {
		t.Fatalf("a complete answers file still asks %v", p)
	}
	// FillInit then only applies the defaults and validates.
	if err := FillInit(context.Background(), f, Discovered{}, Options{}); err != nil {
		t.Fatal(err)
	}
}

func TestPartialFileAsksOnlyWhatIsMissing(t *testing.T) {
	f := parse(t, `version: 1
server:
  host: cm1.example.com
  api: {url: http://cm1.example.com:7180, user: admin, password: {env: X}}
  keystore: {path: /ks.jks, password: {env: Y}}
tls: {agent_encryption: true}
verify: {heartbeat_timeout: 60s}
`)
	got := NewInitForm(f, Discovered{}, Options{}).Paths()
	for _, p := range got {
		if strings.HasPrefix(p, "server.") && p != "server.restart_command" {
			t.Errorf("asks %s, which the file gives", p)
		}
		if strings.HasPrefix(p, "tls.") || strings.HasPrefix(p, "verify.") {
			t.Errorf("asks %s, which the file gives", p)
		}
	}
	if !contains(got, "agents.hosts") || !contains(got, "agents.ssh.port") {
		t.Errorf("does not ask for the agents: %v", got)
	}
}

// TestAccessiblePiped answers with plain lines, one per question, including
// wrong answers the prompts must refuse and ask again.
func TestAccessiblePiped(t *testing.T) {
	f := parse(t, `version: 1
server:
  host: cm1.example.com
  api: {url: http://cm1.example.com:7180, user: admin, password: {env: X}}
  keystore: {path: /ks.jks, password: {env: Y}}
tls: {agent_encryption: true, admin_console: false}
verify: {heartbeat_timeout: 60s}
`)
	lines := []string{
		"",                          // server.restart_command: default
		"",                          // agents.from_api: 1 (a list)
		"bad host!, a2.example.com", // agents.hosts: refused
		"a1.example.com, a2.example.com",
		"ops",   // agents.ssh.user
		"70000", // agents.ssh.port: refused
		"2222",
		"",        // identity file
		"",        // known_hosts
		"2",       // become: sudo
		"sudopw",  // become password (no tty: read as typed)
		"etc/pem", // pem_dest: not absolute, refused
		"/etc/cmf/server.pem",
		"", "", // config_path, restart_command
		"7", // parallelism
		"0", // canary
	}
	var out bytes.Buffer
	err := FillInit(context.Background(), f, Discovered{}, Options{Accessible: true, In: strings.NewReader(strings.Join(lines, "\n") + "\n"), Out: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	a := f.Agents
	if len(a.Hosts) != 2 || a.Hosts[1].Name != "a2.example.com" || a.SSH.User != "ops" || a.SSH.Port != 2222 ||
		a.SSH.Become != "sudo" || string(a.SSH.BecomePassword.Value()) != "sudopw" || a.PEMDest != "/etc/cmf/server.pem" ||
		a.Parallelism != 7 || *a.Canary != 0 || a.ConfigPath != answers.DefaultAgentConfig || f.Server.RestartCommand != answers.DefaultServerRestart {
		t.Fatalf("answers: %+v ssh %+v\n%s", a, a.SSH, out.String())
	}
	for _, want := range []string{"not a valid host name", "out of range", "agents.pem_dest must be an absolute path",
		"Command that restarts the CM server [service cloudera-scm-server restart]", "SSH port on the agents [22]"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("prompts did not show %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "sudopw") {
		// The typed line is not echoed by the prompt itself.
		t.Errorf("password echoed:\n%s", out.String())
	}
}

func TestAccessibleEOFIsAnError(t *testing.T) {
	f := parse(t, "version: 1\n")
	err := FillInit(context.Background(), f, Discovered{FQDN: "cm1.example.com"}, Options{Accessible: true, In: strings.NewReader("\n\n"), Out: &bytes.Buffer{}})
	if err == nil || !strings.Contains(err.Error(), "input ended") {
		t.Fatalf("want an input-ended error, got %v", err)
	}
	if f.Server != nil {
		t.Fatal("the file was changed by an unfinished wizard")
	}
}

func TestSaveAnswersRoundTrip(t *testing.T) {
	f := parse(t, full)
	f.Server.Keystore.Password = answers.NewSecret([]byte("typed-in-secret"))
	f.Agents.SSH.BecomePassword = answers.NewSecret([]byte("sudo-secret"))
	f.ApplyDefaults()
	p := filepath.Join(t.TempDir(), "answers.yaml")
	if err := SaveAnswers(f, p); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	for _, s := range []string{"typed-in-secret", "sudo-secret"} {
		if bytes.Contains(b, []byte(s)) {
			t.Fatalf("secret value written:\n%s", b)
		}
	}
	g, err := answers.Load(p)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if err := g.ValidateInit(); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CM_ADMIN_PASSWORD": "a", "CMTLS_KEYSTORE_PASSWORD": "ks-pass", "SUDO_PASSWORD": "s"}
	if err := g.ResolveSecrets(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if string(g.Server.Keystore.Password.Value()) != "ks-pass" || g.Server.Keystore.Password.Env != "CMTLS_KEYSTORE_PASSWORD" {
		t.Fatal("keystore password not read from CMTLS_KEYSTORE_PASSWORD")
	}
	if !bytes.Contains(b, []byte("#   CMTLS_KEYSTORE_PASSWORD  (server.keystore.password)")) {
		t.Errorf("no export hint:\n%s", b)
	}
	if g.Agents.Hosts[1].Port != 2222 || g.Server.Keystore.Generate.Subject.C != "US" || !g.TLS.AdminConsole {
		t.Fatalf("lost answers:\n%s", b)
	}
}

func TestDiscoverLocal(t *testing.T) {
	h, err := os.Hostname()
	if err != nil {
		t.Skip(err)
	}
	d := DiscoverLocal(context.Background())
	if d.FQDN == "" || !strings.HasPrefix(d.FQDN, strings.Split(h, ".")[0]) {
		t.Fatalf("FQDN %q for host name %q", d.FQDN, h)
	}
	if err := hostErr(d.FQDN); err != nil {
		t.Fatalf("discovered FQDN is not a valid server.host: %v", err)
	}
}

// TestLookupHostsBetweenParts: the API answers come first, the lookup gets
// them, and the hosts it returns are the default answer.
func TestLookupHostsBetweenParts(t *testing.T) {
	for _, fail := range []bool{false, true} {
		f := parse(t, `version: 1
server:
  host: cm1.example.com
  keystore: {path: /ks.jks, password: {env: Y}}
  restart_command: r
agents:
  ssh: {user: root}
  pem_dest: /etc/cmf/server.pem
  config_path: /etc/a.ini
  restart_command: r
  parallelism: 5
  canary: 0
tls: {agent_encryption: true}
verify: {heartbeat_timeout: 60s}
`)
		var got answers.API
		d := Discovered{LookupHosts: func(ctx context.Context, api answers.API) ([]string, error) {
			got = api
			if fail {
				return nil, errors.New("401 unauthorized")
			}
			return []string{"h1.example.com", "h2.example.com"}, nil
		}}
		lines := "http://127.0.0.1:7180\n\napi-secret\n" // url, user (default), password
		if fail {
			// not checked: the same password again goes on; a list, typed
			lines += "api-secret\n\nt1.example.com\n"
		} else {
			lines += "\n\n\n" // a list; take the hosts found; no per-host settings
		}
		var out bytes.Buffer
		if err := FillInit(context.Background(), f, d, Options{Accessible: true, In: strings.NewReader(lines), Out: &out}); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		if got.URL != "http://127.0.0.1:7180" || got.User != "admin" || string(got.Password.Value()) != "api-secret" {
			t.Fatalf("lookup got %+v", got)
		}
		var hosts []string
		for _, h := range f.Agents.Hosts {
			hosts = append(hosts, h.Name)
		}
		want := []string{"h1.example.com", "h2.example.com"}
		if fail {
			want = []string{"t1.example.com"}
			if !strings.Contains(out.String(), "401 unauthorized") {
				t.Errorf("lookup failure not shown:\n%s", out.String())
			}
		}
		if !reflect.DeepEqual(hosts, want) {
			t.Fatalf("fail=%v: hosts %v\n%s", fail, hosts, out.String())
		}
	}
}

// TestFillSAMLAccessible answers the SAML questions with lines and checks
// the file passes the SAML validation of the headless path.
func TestFillSAMLAccessible(t *testing.T) {
	f := parse(t, "version: 1\n")
	lines := []string{
		"",        // api url: http://cm1.example.com:7180 from the FQDN
		"",        // api user admin
		"adminpw", // api password
		"",        // server over SSH: no, this machine
		"",        // restart command: default
		"",        // idp metadata: required, refused
		"/etc/idp.xml",
		"/opt/saml.jks", // keystore path
		"2",             // type pkcs12
		"short",         // keystore password: refused (< 6)
		"samlpass",
		"samlkey", // alias
		"",        // key password: same as the keystore's
		"",        // entity id
		"",        // entity base url
		"2",       // user id from nameid
		"1",       // role from attribute
		"",        // role attribute default
		"cm-admins, ops",
		"cm-users",
	}
	var out bytes.Buffer
	err := FillSAML(context.Background(), f, Discovered{FQDN: "cm1.example.com"}, Options{Accessible: true, In: strings.NewReader(strings.Join(lines, "\n") + "\n"), Out: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := f.SAML
	if f.Server.API.URL != "http://cm1.example.com:7180" || s.IdPMetadata != "/etc/idp.xml" || s.Keystore.Type != "pkcs12" ||
		string(s.Keystore.Password.Value()) != "samlpass" || !s.Keystore.KeyPassword.IsZero() || s.EntityID != answers.DefaultSAMLEntityID ||
		s.EntityBaseURL != "https://cm1.example.com:7183" || s.UserID.From != "nameid" || s.Role.Attribute != answers.DefaultRoleAttribute ||
		!reflect.DeepEqual(s.Role.AdminValues, []string{"cm-admins", "ops"}) || !reflect.DeepEqual(s.Role.UserValues, []string{"cm-users"}) {
		t.Fatalf("saml %+v ks %+v role %+v\n%s", s, s.Keystore, s.Role, out.String())
	}
	if !strings.Contains(out.String(), "an answer is required") || !strings.Contains(out.String(), "at least 6 characters") {
		t.Fatalf("refusals not shown:\n%s", out.String())
	}
	if f.Server.SSH != nil || f.Server.RestartCommand != answers.DefaultServerRestart {
		t.Fatalf("server %+v", f.Server)
	}
	if err := f.ValidateSAML(); err != nil {
		t.Fatal(err)
	}
}

// TestAccessibleCancelled: a cancelled context (Ctrl-C is a signal in line
// mode) ends a prompt that is waiting for input.
func TestAccessibleCancelled(t *testing.T) {
	in, inw := io.Pipe() // never written: the prompt blocks
	t.Cleanup(func() { inw.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	f := parse(t, "version: 1\n")
	go func() { res <- FillInit(ctx, f, Discovered{}, Options{Accessible: true, In: in, Out: io.Discard}) }()
	cancel()
	select {
	case err := <-res:
		if !errors.Is(err, ErrAborted) || !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the prompt did not end on cancel")
	}
	if f.Server != nil {
		t.Fatal("the file was changed")
	}
	ok, err := ConfirmPlan(ctx, "plan", "x", Options{Accessible: true, In: in, Out: io.Discard})
	if ok || !errors.Is(err, ErrAborted) {
		t.Fatalf("ConfirmPlan after cancel: %v %v", ok, err)
	}
}
