package steps

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cmtls/cmtls/pki/pkitest"
	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/remote/remotetest"
	"github.com/cmtls/cmtls/steps/agentcfg"
	"github.com/cmtls/cmtls/steps/answers"
)

// Locks and drift-aware rollback on the in-process cluster: real files,
// real restarts of the embedded agents, heartbeats over real TLS.

// fleetState is every agent's config.ini and PEM (nil: no PEM).
type fleetState map[string][2][]byte

func (c *cluster) state() fleetState {
	out := fleetState{}
	for n := range c.agents {
		cfg, err := os.ReadFile(filepath.Join(c.dir, n, "config.ini"))
		must(c.t, err)
		p, err := os.ReadFile(filepath.Join(c.dir, n, "cmf", "server.pem"))
		if err != nil && !os.IsNotExist(err) {
			c.t.Fatal(err)
		}
		out[n] = [2][]byte{cfg, p}
	}
	return out
}

// sameState fails t where a host's files are not byte for byte want's.
func (c *cluster) sameState(t *testing.T, what string, want fleetState) {
	t.Helper()
	for n, got := range c.state() {
		if !bytes.Equal(got[0], want[n][0]) {
			t.Errorf("%s: %s config.ini differs:\n%s\nwant:\n%s", what, n, got[0], want[n][0])
		}
		if !bytes.Equal(got[1], want[n][1]) {
			t.Errorf("%s: %s PEM differs (got %d bytes, want %d)", what, n, len(got[1]), len(want[n][1]))
		}
		if want[n][1] == nil {
			// the directory cmtls made for the PEM is gone with it
			if _, err := os.Stat(filepath.Join(c.dir, n, "cmf")); !os.IsNotExist(err) {
				t.Errorf("%s: %s: the directory cmtls made for the PEM is still there (%v)", what, n, err)
			}
		}
	}
}

// noLocksLeft fails t when a run left a lock file behind.
func (c *cluster) noLocksLeft(t *testing.T, f interface{ keystore() string }) {
	t.Helper()
	for n := range c.agents {
		if _, err := os.Stat(agentcfg.LockPath(filepath.Join(c.dir, n, "config.ini"))); !os.IsNotExist(err) {
			t.Errorf("%s: agent lock left behind (%v)", n, err)
		}
	}
	if _, err := os.Stat(ServerLockPath(f.keystore())); !os.IsNotExist(err) {
		t.Errorf("server lock left behind (%v)", err)
	}
}

type ksPath string

func (k ksPath) keystore() string { return string(k) }

// pushEnv is `cmtls agents push`'s Env on the cluster: no server, no API;
// the agents' restart through agentcfg's batch ("true": the in-process
// agent is restarted by the rollback that follows, through the runner).
func (c *cluster) pushEnv(col Reporter) *Env {
	f := c.answers(false)
	f.Agents.RestartCommand, f.Agents.CheckCommand = "true", "true"
	e := c.env(f, col)
	e.API, e.Server = nil, nil
	return e
}

func certPEM(t *testing.T, cn string) []byte {
	cert, _ := pkitest.SelfSigned(t, cn, []string{cn})
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

func agentTLSOn(t *testing.T, ctx context.Context, c *cluster) bool {
	t.Helper()
	f := c.answers(false)
	api, err := cmapi.New(f.Server.API.URL, "admin", []byte("admin"))
	must(t, err)
	cfg, err := api.Config(ctx)
	must(t, err)
	it, _ := cmapi.FindByName(cfg, settingAgentTLS)
	return isTrue(it.Value)
}

// Two init runs at once never interleave: the second waits for the first
// (the server lock), then reads the facts afresh and finds nothing to do.
// One server restart, one keypair, one restart per agent.
func TestE2ELockTwoConcurrentInits(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	res := make([]*Result, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = Run(ctx, c.env(c.answers(false), nil), TLSSteps(), Options{Command: "cmtls init", LockWait: 60 * time.Second})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("init %d: %v", i, err)
		}
	}
	if !res[0].Plan.Empty() && !res[1].Plan.Empty() {
		t.Error("both inits planned changes: they interleaved")
	}
	if got := c.restarts(); got["server"] != 1 || got["agent1"] != 1 || got["agent2"] != 1 {
		t.Errorf("restarts %v, want one each", got)
	}
	c.noLocksLeft(t, ksPath(c.answers(false).Server.Keystore.Path))
}

// A run that finds the server lock held past its wait stops with an
// ordinary failure (exit 1) naming the holder, having changed nothing.
func TestE2ELockHeldStopsNamingTheHolder(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1)
	f := c.answers(false)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	before := c.state()
	release, err := remote.Lock(ctx, remote.NewLocal("localhost"), ServerLockPath(f.Server.Keystore.Path), remote.LockInfo{Command: "cmtls init (the other run)"}, 0)
	must(t, err)
	_, err = Run(ctx, c.env(f, nil), TLSSteps(), Options{Command: "cmtls init", LockWait: 300 * time.Millisecond})
	var le *remote.LockedError
	if !errors.As(err, &le) || exitOf(err) != 1 {
		t.Fatalf("init under a held lock: %v (exit %d), want a LockedError, exit 1", err, exitOf(err))
	}
	for _, want := range []string{`"cmtls init (the other run)"`, "pid ", "since "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name the holder (%s): %v", want, err)
		}
	}
	c.sameState(t, "after the refused init", before)
	if _, err := os.Stat(f.Server.Keystore.Path); !os.IsNotExist(err) {
		t.Error("a keystore was made under another run's lock")
	}
	must(t, release(ctx))
	if _, err := Run(ctx, c.env(f, nil), TLSSteps(), Options{Command: "cmtls init"}); err != nil {
		t.Fatalf("init once the lock is free: %v", err)
	}
	c.noLocksLeft(t, ksPath(f.Server.Keystore.Path))
}

// Two rollbacks at once: the second waits, then finds init undone and
// nothing left to do. Every host is back byte for byte.
func TestE2ELockTwoConcurrentRollbacks(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	pristine := c.state()
	if _, err := Run(ctx, c.env(c.answers(false), nil), TLSSteps(), Options{Command: "cmtls init"}); err != nil {
		t.Fatal(err)
	}
	serverRestarts := c.restarts()["server"]
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = Run(ctx, c.env(c.answers(false), nil), RollbackSteps(), Options{Command: "cmtls rollback", LockWait: 60 * time.Second})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("rollback %d: %v", i, err)
		}
	}
	c.sameState(t, "after two rollbacks", pristine)
	if agentTLSOn(t, ctx, c) {
		t.Error("AGENT_TLS still on after rolling init back")
	}
	if got := c.restarts()["server"] - serverRestarts; got != 1 {
		t.Errorf("the server restarted %d times by two rollbacks, want 1", got)
	}
	c.noLocksLeft(t, ksPath(c.answers(false).Server.Keystore.Path))
}

// An agents push that finds an agent's lock held names the holder for that
// host and finishes the others (agent2: agent1 is the canary).
func TestE2EPushBlockedByAgentLockNamesTheHolder(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	before := c.state()
	cfg2 := filepath.Join(c.dir, "agent2", "config.ini")
	release, err := remote.Lock(ctx, remote.NewLocal("agent2"), agentcfg.LockPath(cfg2), remote.LockInfo{Command: "cmtls rollback (the other run)"}, 0)
	must(t, err)
	defer func() { _ = release(ctx) }()
	res, err := Run(ctx, c.pushEnv(nil), NewPushSteps(certPEM(t, "localhost")), Options{Command: "cmtls agents push", LockWait: 300 * time.Millisecond})
	if exitOf(err) != 3 {
		t.Fatalf("push: %v (exit %d), want 3", err, exitOf(err))
	}
	for _, h := range res.Hosts {
		switch h.Host {
		case "agent2":
			if h.Status != HostFailed || !strings.Contains(h.Error, `"cmtls rollback (the other run)"`) || !strings.Contains(h.Error, "pid ") {
				t.Errorf("agent2: %+v, want failed naming the holder", h)
			}
		case "agent1":
			if h.Status != HostVerified {
				t.Errorf("agent1: %+v", h)
			}
		}
	}
	if got := c.state()["agent2"]; !bytes.Equal(got[0], before["agent2"][0]) || got[1] != nil {
		t.Error("agent2 changed under another run's lock")
	}
	if _, err := os.Stat(agentcfg.LockPath(filepath.Join(c.dir, "agent1", "config.ini"))); !os.IsNotExist(err) {
		t.Errorf("agent1's lock left behind (%v)", err)
	}
}

// Three concurrent `agents push` on a fresh fleet, then one rollback: every
// host is byte for byte what it was (config.ini, no PEM, no directory made
// for it), in each of a bounded number of rounds.
func TestE2EThreeConcurrentPushesThenRollback(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	threePushesThenRollback(t, c, nil, 2)
}

// The same through a real OpenSSH sshd on 127.0.0.1: each run's pushes,
// locks and restores travel over SSH.
func TestE2EThreeConcurrentPushesThenRollbackOverSSHD(t *testing.T) {
	t.Parallel()
	remotetest.RequireSSHD(t)
	c := newCluster(t, 3)
	keyDir := t.TempDir()
	key := remotetest.NewKey(t, keyDir, "id_ed25519", nil)
	sshd := remotetest.StartSSHD(t, remotetest.SSHDOptions{AuthorizedKeys: []ssh.PublicKey{key.Public()}})
	kh := filepath.Join(keyDir, "known_hosts")
	must(t, os.WriteFile(kh, []byte(fmt.Sprintf("[127.0.0.1]:%d %s", sshd.Port, ssh.MarshalAuthorizedKey(sshd.HostKey))), 0o600))
	u, err := user.Current()
	must(t, err)
	dial := func(e *Env) {
		d, err := remote.NewDialer(remote.Options{IdentityFiles: []string{key.Path}, KnownHostsFiles: []string{kh},
			SSHConfigPath: "none", HomeDir: keyDir, User: u.Username})
		must(t, err)
		e.Closers = append(e.Closers, d)
		e.Dial = func(ctx context.Context, a answers.AgentHost) (remote.Host, error) {
			h, err := d.Dial(ctx, remote.Target{Name: a.Name, Address: "127.0.0.1", Port: sshd.Port})
			if err != nil {
				return nil, err
			}
			return &ctlHost{Host: h, proc: c.agents[a.Name]}, nil
		}
	}
	threePushesThenRollback(t, c, dial, 1)
}

// threePushesThenRollback runs rounds of three concurrent pushes of one
// PEM and a rollback, each leaving the fleet as it was; over(env), when
// set, changes how the hosts are reached.
func threePushesThenRollback(t *testing.T, c *cluster, over func(*Env), rounds int) {
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	pristine := c.state()
	pemBytes := certPEM(t, "localhost")
	env := func(e *Env) *Env {
		if over != nil {
			over(e)
		}
		t.Cleanup(func() { _ = e.Close() })
		return e
	}
	for round := range rounds {
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = Run(ctx, env(c.pushEnv(nil)), NewPushSteps(pemBytes), Options{Command: "cmtls agents push", LockWait: 30 * time.Second})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: push %d: %v", round, i, err)
			}
		}
		col := &Collector{}
		if _, err := Run(ctx, env(c.env(c.answers(false), col)), RollbackSteps(), Options{Command: "cmtls rollback"}); err != nil {
			t.Fatalf("round %d: rollback: %v\n%s", round, err, eventsText(col))
		}
		c.sameState(t, "after pushes and a rollback", pristine)
		c.noLocksLeft(t, ksPath(c.answers(false).Server.Keystore.Path))
		if t.Failed() {
			return
		}
	}
}

// An admin edits config.ini after init: rollback refuses that host (exit
// 3, the file untouched, the diff shown) and restores the others; --force
// restores it and keeps the edited copy beside the backups.
func TestE2ERollbackRefusesAnEditUnlessForced(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	pristine := c.state()
	f := c.answers(false)
	if _, err := Run(ctx, c.env(f, nil), TLSSteps(), Options{Command: "cmtls init"}); err != nil {
		t.Fatal(err)
	}
	cfg1 := filepath.Join(c.dir, "agent1", "config.ini")
	b, err := os.ReadFile(cfg1)
	must(t, err)
	edited := append(b, []byte("# the admin's own line\n")...)
	must(t, os.WriteFile(cfg1, edited, 0o644))

	res, err := Run(ctx, c.env(f, nil), RollbackSteps(), Options{Command: "cmtls rollback"})
	if exitOf(err) != 3 {
		t.Fatalf("rollback over an edit: %v (exit %d), want 3", err, exitOf(err))
	}
	if got, _ := os.ReadFile(cfg1); !bytes.Equal(got, edited) {
		t.Error("the edited config.ini was touched")
	}
	var h1 HostResult
	for _, h := range res.Hosts {
		if h.Host == "agent1" {
			h1 = h
		}
	}
	if h1.Status != HostFailed || !strings.Contains(h1.Error, "+# the admin's own line") && !strings.Contains(h1.Error, "-# the admin's own line") || !strings.Contains(h1.Hint, "--force") {
		t.Errorf("agent1: %+v, want failed with the diff and the --force hint", h1)
	}
	if got := c.state()["agent2"]; !bytes.Equal(got[0], pristine["agent2"][0]) || got[1] != nil {
		t.Error("agent2 was not restored next to the refused host")
	}

	col := &Collector{}
	if _, err := Run(ctx, c.env(f, col), RollbackStepsWith(RollbackOptions{Force: true}), Options{Command: "cmtls rollback"}); err != nil {
		t.Fatalf("rollback --force: %v\n%s", err, eventsText(col))
	}
	c.sameState(t, "after rollback --force", pristine)
	copies, _ := filepath.Glob(cfg1 + ".cmtls-*.edited")
	if len(copies) != 1 {
		t.Fatalf("edited copies %v, want one", copies)
	}
	if got, _ := os.ReadFile(copies[0]); !bytes.Equal(got, edited) {
		t.Error("the edited copy does not hold the admin's file")
	}
}

// init, then agents push with another PEM (a bundle), then rollback: the
// push is undone (init's files back, the server's TLS on, heartbeats over
// verified TLS); a second rollback undoes init.
func TestE2ERollbackUndoesThePushThenInit(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	pristine := c.state()
	f := c.answers(false)
	if _, err := Run(ctx, c.env(f, nil), TLSSteps(), Options{Command: "cmtls init"}); err != nil {
		t.Fatal(err)
	}
	afterInit := c.state()
	serverPEM, err := os.ReadFile(f.Server.PEMPath)
	must(t, err)
	bundle := append(append([]byte{}, serverPEM...), certPEM(t, "another-ca")...)
	if _, err := Run(ctx, c.pushEnv(nil), NewPushSteps(bundle), Options{Command: "cmtls agents push"}); err != nil {
		t.Fatalf("push: %v", err)
	}
	if got := c.state()["agent1"][1]; !bytes.Equal(got, bundle) {
		t.Fatal("the push did not write the bundle")
	}

	col := &Collector{}
	res, err := Run(ctx, c.env(f, col), RollbackSteps(), Options{Command: "cmtls rollback"})
	if err != nil {
		t.Fatalf("rollback of the push: %v\n%s", err, eventsText(col))
	}
	c.sameState(t, "after rolling the push back", afterInit)
	if !agentTLSOn(t, ctx, c) {
		t.Error("rolling a push back turned AGENT_TLS off")
	}
	for _, ch := range res.Plan {
		if ch.Step == "disable-tls" && (!ch.Empty() || len(ch.Notes) == 0) {
			t.Errorf("disable-tls planned %+v, want nothing and a note why", ch)
		}
	}
	hosts, err := c.hostsSeen(ctx)
	must(t, err)
	for _, h := range hosts {
		if h.AgentTLS == nil || !h.AgentTLS.Verified {
			t.Errorf("%s after rolling the push back: TLS %+v", h.Hostname, h.AgentTLS)
		}
	}

	if _, err := Run(ctx, c.env(f, nil), RollbackSteps(), Options{Command: "cmtls rollback"}); err != nil {
		t.Fatalf("second rollback: %v", err)
	}
	c.sameState(t, "after rolling init back", pristine)
	if agentTLSOn(t, ctx, c) {
		t.Error("AGENT_TLS still on after rolling init back")
	}
}

// Locks are held from the plan to the apply: while the operator looks at
// the plan they are on every host the plan changes; a plan declined (not
// applied) lets every one of them go.
func TestE2EDeclinedPlanReleasesItsLocks(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	f := c.answers(false)
	held := func() (n int) {
		for name := range c.agents {
			if _, err := os.Stat(agentcfg.LockPath(filepath.Join(c.dir, name, "config.ini"))); err == nil {
				n++
			}
		}
		if _, err := os.Stat(ServerLockPath(f.Server.Keystore.Path)); err == nil {
			n++
		}
		return n
	}
	for _, tc := range []struct {
		name  string
		env   *Env
		steps []Step
		locks int
	}{
		{"init", c.env(f, nil), TLSSteps(), 3},
		{"agents push", c.pushEnv(nil), NewPushSteps(certPEM(t, "localhost")), 2},
	} {
		seen := -1
		_, err := Run(ctx, tc.env, tc.steps, Options{Command: "cmtls " + tc.name, Confirm: func(context.Context, Plan) (bool, error) {
			seen = held()
			return false, nil
		}})
		if !errors.Is(err, ErrDeclined) {
			t.Fatalf("%s: %v, want declined", tc.name, err)
		}
		if seen != tc.locks {
			t.Errorf("%s: %d lock(s) held while the plan was shown, want %d", tc.name, seen, tc.locks)
		}
		if n := held(); n != 0 {
			t.Errorf("%s: %d lock(s) left after the plan was declined", tc.name, n)
		}
	}
	// a dry run takes none
	seen := -1
	col := ReporterFunc(func(e Event) {
		if e.Phase == PhasePlan && e.Step == "push-agents" && e.Status != StatusStart {
			seen = max(seen, held())
		}
	})
	if _, err := Run(ctx, c.pushEnv(col), NewPushSteps(certPEM(t, "localhost")), Options{DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if seen > 0 {
		t.Errorf("a dry run held %d lock(s)", seen)
	}
}

// One rollback undoes one run everywhere: a push that reached only agent1
// is undone there, agent2 (init's change its newest) is left for the next
// rollback, which undoes init on both.
func TestE2ERollbackOneRunAtATime(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	pristine := c.state()
	f := c.answers(false)
	if _, err := Run(ctx, c.env(f, nil), TLSSteps(), Options{Command: "cmtls init"}); err != nil {
		t.Fatal(err)
	}
	afterInit := c.state()
	serverPEM, err := os.ReadFile(f.Server.PEMPath)
	must(t, err)
	push := c.pushEnv(nil)
	push.Agents = push.Agents[:1] // agent1 only
	if _, err := Run(ctx, push, NewPushSteps(append(append([]byte{}, serverPEM...), certPEM(t, "another-ca")...)), Options{Command: "cmtls agents push"}); err != nil {
		t.Fatal(err)
	}
	col := &Collector{}
	if _, err := Run(ctx, c.env(f, col), RollbackSteps(), Options{Command: "cmtls rollback"}); err != nil {
		t.Fatalf("rollback: %v\n%s", err, eventsText(col))
	}
	c.sameState(t, "after rolling the push back", afterInit)
	left := false
	for _, e := range col.Events() {
		if e.Host == "agent2" && e.Status == StatusSkipped && strings.Contains(e.Detail, "run rollback again") {
			left = true
		}
	}
	if !left {
		t.Errorf("agent2 not reported as left for the next rollback:\n%s", eventsText(col))
	}
	if _, err := Run(ctx, c.env(f, nil), RollbackSteps(), Options{Command: "cmtls rollback"}); err != nil {
		t.Fatal(err)
	}
	c.sameState(t, "after rolling init back", pristine)
}
