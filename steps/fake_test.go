package steps

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/steps/answers"
)

// fakeCM imitates what the steps see of a CM server and its agents, from
// files on a temp dir: settings take effect when the server restart command
// has run; an agent heartbeats with the config.ini it read at its last
// restart, and its TLS counts as verified only when the PEM it trusts holds
// the certificate the server's keystore serves and that certificate names
// the agent's server_host (the agent's own check).
type fakeCM struct {
	t         *testing.T
	dir       string
	mu        sync.Mutex
	settings  map[string]string
	running   map[string]string // settings in effect (snapshot at server restart)
	runningAt int
	agents    []string
	down      map[string]bool // agents whose heartbeats stop
	mgmt      int             // management service restarts
}

func (f *fakeCM) APIVersion(context.Context) (string, error) { return "v19", nil }

func (f *fakeCM) Config(context.Context) ([]cmapi.ConfigItem, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []cmapi.ConfigItem
	for _, k := range sortedKeys(f.settings) {
		v := f.settings[k]
		if k == settingKeystorePassword && v != "" {
			v = "REDACTED"
		}
		out = append(out, cmapi.ConfigItem{Name: k, Value: v})
	}
	return out, nil
}

func (f *fakeCM) SetConfig(_ context.Context, m map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, v := range m {
		f.settings[k] = v
	}
	return nil
}

func (f *fakeCM) RestartManagementService(context.Context) error {
	f.mu.Lock()
	f.mgmt++
	f.mu.Unlock()
	return nil
}

// restartCount reads how often a restart command ran.
func restartCount(t *testing.T, p string) int {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

func (f *fakeCM) Hosts(ctx context.Context) ([]cmapi.Host, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if restartCount(f.t, filepath.Join(f.dir, "server", "restarts")) > f.runningAt {
		f.running = map[string]string{}
		for k, v := range f.settings {
			f.running[k] = v
		}
		f.runningAt = restartCount(f.t, filepath.Join(f.dir, "server", "restarts"))
	}
	var out []cmapi.Host
	for _, name := range f.agents {
		if f.down[name] {
			out = append(out, cmapi.Host{HostID: name, Hostname: name, LastHeartbeat: time.Now().Add(-time.Hour)})
			continue
		}
		// Like a real CM, the hosts API does not say how a heartbeat came;
		// an agent that verifies and refuses the certificate stops
		// heartbeating.
		h := cmapi.Host{HostID: name, Hostname: name, LastHeartbeat: time.Now()}
		snap, err := os.ReadFile(filepath.Join(f.dir, name, "config.at-restart"))
		if err == nil {
			ini, err := parseAgentINI(snap)
			if err != nil {
				return nil, err
			}
			if ini.UseTLS == "1" && isTrue(f.running[settingAgentTLS]) && ini.tlsVerified() && !f.verifies(ini) {
				h.LastHeartbeat = time.Now().Add(-time.Hour)
			}
		}
		out = append(out, h)
	}
	return out, nil
}

// probe is ProbeTLS for the fake cluster: what a TLS check from the agent
// host would find, with the PEM and server_host config.ini names.
func (f *fakeCM) probe(_ context.Context, _ *Agent, ini *AgentINI) (TLSProbe, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !isTrue(f.running[settingAgentTLS]) {
		return TLSProbe{Tool: "fake", Reason: "unknown protocol (the heartbeat port is plain)"}, nil
	}
	if !f.verifies(ini) {
		return TLSProbe{Tool: "fake", Reason: "certificate verify failed"}, nil
	}
	return TLSProbe{Verified: true, Tool: "fake", Reason: "verified"}, nil
}

func (f *fakeCM) verifies(ini *AgentINI) bool {
	if !ini.tlsVerified() {
		return false
	}
	pemBytes, err := os.ReadFile(ini.VerifyCertFile)
	if err != nil {
		return false
	}
	trusted, err := pki.ParseCertificates(pemBytes)
	if err != nil || len(trusted) == 0 {
		return false
	}
	ksBytes, err := os.ReadFile(f.running[settingKeystorePath])
	if err != nil {
		return false
	}
	ks, err := pki.ReadKeystore(ksBytes, []byte(f.running[settingKeystorePassword]))
	if err != nil {
		return false
	}
	served, err := ks.Certificate("jetty")
	if err != nil || !served.Equal(trusted[0]) {
		return false
	}
	return pki.MatchHostname(served, ini.ServerHost) == nil
}

const sampleINI = `[General]
# Hostname of the CM server.
server_host=%s

# Port that the CM server is listening on.
server_port=7182

[Security]
# Use Transport Layer Security (TLS) to encrypt connections.
use_tls=0

# Minimum acceptable TLS cipher
max_cert_depth=9

# PEM file with the CA certificates to trust
# verify_cert_file=

# Directory of trusted CA certificates
# verify_cert_dir=
`

type fixture struct {
	t       *testing.T
	dir     string
	cm      *fakeCM
	answers *answers.File
	down    map[string]bool // agents that cannot be reached over "SSH"
}

func newFixture(t *testing.T, agents int, serverHostOf func(i int) string) *fixture {
	t.Helper()
	dir := t.TempDir()
	fx := &fixture{t: t, dir: dir, down: map[string]bool{}}
	fx.cm = &fakeCM{t: t, dir: dir, settings: map[string]string{settingAgentTLS: "false", settingWebTLS: "false"}, down: map[string]bool{}}
	var hosts []answers.Host
	for i := range agents {
		name := fmt.Sprintf("agent%d", i+1)
		hd := filepath.Join(dir, name)
		if err := os.MkdirAll(hd, 0o755); err != nil {
			t.Fatal(err)
		}
		sh := "cm.example.com"
		if serverHostOf != nil {
			sh = serverHostOf(i)
		}
		if err := os.WriteFile(filepath.Join(hd, "config.ini"), fmt.Appendf(nil, sampleINI, sh), 0o640); err != nil {
			t.Fatal(err)
		}
		fx.cm.agents = append(fx.cm.agents, name)
		// the "agent" reads config.ini at restart
		restart := fmt.Sprintf("cp %[1]s/config.ini %[1]s/config.at-restart && echo restarted >> %[1]s/restarts", hd)
		hosts = append(hosts, answers.Host{Name: name, PEMDest: filepath.Join(hd, "server.pem"),
			ConfigPath: filepath.Join(hd, "config.ini"), RestartCommand: restart, CheckCommand: "true", LogPath: filepath.Join(hd, "agent.log")})
	}
	sd := filepath.Join(dir, "server")
	if err := os.MkdirAll(sd, 0o755); err != nil {
		t.Fatal(err)
	}
	yes := true
	canary := 1
	fx.answers = &answers.File{Version: 1,
		Server: &answers.Server{Host: "cm.example.com",
			API: &answers.API{URL: "http://127.0.0.1:1", User: "admin", Password: answers.NewSecret([]byte("admin"))},
			Keystore: &answers.Keystore{Path: filepath.Join(sd, "cm.keystore"), Password: answers.NewSecret([]byte("changeit")),
				Generate: &answers.Generate{ValidityDays: 180, KeyAlgorithm: "EC", KeySize: 256}},
			DERPath: filepath.Join(sd, "x509", "server.der"), PEMPath: filepath.Join(sd, "x509", "server.pem"),
			RestartCommand: "echo restarted >> " + filepath.Join(sd, "restarts")},
		Agents: &answers.Agents{Hosts: hosts, Parallelism: 4, Canary: &canary},
		TLS:    &answers.TLS{AgentEncryption: &yes},
		Verify: &answers.Verify{HeartbeatTimeout: answers.Duration(2 * time.Second), PollInterval: answers.Duration(50 * time.Millisecond)},
	}
	fx.answers.ApplyDefaults()
	return fx
}

func (fx *fixture) env(rep Reporter) *Env {
	env := &Env{Answers: fx.answers, API: fx.cm, Server: remote.NewLocal("cm.example.com"), Now: time.Now, Rand: rand.Reader, Reporter: rep,
		Resolver: pki.MapResolver{"cm.example.com": {"127.0.0.1"}}, ProbeTLS: fx.cm.probe}
	env.Dial = func(ctx context.Context, a answers.AgentHost) (remote.Host, error) {
		if fx.down[a.Name] {
			return nil, fmt.Errorf("dial %s: connection refused", a.Name)
		}
		return remote.NewLocal(a.Name), nil
	}
	for _, a := range fx.answers.AgentHosts() {
		env.Agents = append(env.Agents, &Agent{AgentHost: a})
	}
	return env
}

func (fx *fixture) run(opts Options) (*Result, *Collector, error) {
	fx.t.Helper()
	col := &Collector{}
	env := fx.env(col)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, env, TLSSteps(), opts)
	return res, col, err
}

// snapshot returns every file under the fixture's dir with its bytes.
func (fx *fixture) snapshot() map[string]string {
	fx.t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(fx.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		fx.t.Fatal(err)
	}
	return out
}

func answersSecret(v string) answers.Secret { return answers.NewSecret([]byte(v)) }
