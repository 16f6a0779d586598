package wizard

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/huh"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/answers"
)

const waitFor = 20 * time.Second

func key(k tea.KeyType) tea.KeyMsg { return tea.KeyMsg{Type: k} }

// waitOut waits until the program's output shows all the strings (bounded).
// Output is consumed: a later wait sees only what was drawn after.
func waitOut(t *testing.T, tm *teatest.TestModel, all ...string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		for _, s := range all {
			if !bytes.Contains(b, []byte(s)) {
				return false
			}
		}
		return true
	},
		teatest.WithDuration(waitFor), teatest.WithCheckInterval(10*time.Millisecond))
}

// partialInit lacks server.host and agents.ssh: the form asks those.
const partialInit = `version: 1
server:
  api: {url: http://cm1.example.com:7180, user: admin, password: {env: CM_ADMIN_PASSWORD}}
  keystore: {path: /opt/ks.jks, password: {env: KS}}
  restart_command: service cloudera-scm-server restart
agents:
  hosts: [agent1.example.com]
  pem_dest: /etc/cmf/server.pem
  config_path: /etc/cloudera-scm-agent/config.ini
  restart_command: service cloudera-scm-agent restart
  parallelism: 5
  canary: 1
tls: {agent_encryption: true}
verify: {heartbeat_timeout: 60s}
`

// TestFormTeatest types into the init form at 80x24: a bad host name and a
// bad port are refused on screen, then good ones are taken; the select and
// the password field follow; the answers land in the file.
func TestFormTeatest(t *testing.T) {
	f := parse(t, partialInit)
	w := NewInitForm(f, Discovered{}, Options{})
	want := []string{"server.host", "agents.ssh.user", "agents.ssh.port", "agents.ssh.identity_file",
		"agents.ssh.known_hosts", "agents.ssh.become", "agents.ssh.become_password"}
	if got := w.Paths(); !reflect.DeepEqual(got, want) {
		t.Fatalf("asks %v, want %v", got, want)
	}
	w.Form.SubmitCmd = tea.Quit
	w.Form.CancelCmd = tea.Quit
	tm := teatest.NewTestModel(t, w.Form, teatest.WithInitialTermSize(80, 24))
	t.Cleanup(func() { _ = tm.Quit() })

	waitOut(t, tm, "CM server host")
	tm.Type("bad host")
	tm.Send(key(tea.KeyEnter))
	waitOut(t, tm, "not a valid host name")
	tm.Send(key(tea.KeyCtrlU))
	tm.Type("cm1.example.com")
	tm.Send(key(tea.KeyEnter))

	waitOut(t, tm, "SSH user on the agents")
	tm.Send(key(tea.KeyCtrlU))
	tm.Type("cmops")
	tm.Send(key(tea.KeyEnter))

	waitOut(t, tm, "SSH port on the agents")
	tm.Send(key(tea.KeyCtrlU))
	tm.Type("70000")
	tm.Send(key(tea.KeyEnter))
	waitOut(t, tm, "out of range")
	tm.Send(key(tea.KeyCtrlU))
	tm.Type("2222")
	tm.Send(key(tea.KeyEnter))

	waitOut(t, tm, "SSH private key file")
	tm.Send(key(tea.KeyEnter))
	waitOut(t, tm, "known_hosts file")
	tm.Send(key(tea.KeyEnter))
	waitOut(t, tm, "Become root with")
	tm.Send(key(tea.KeyDown))
	tm.Send(key(tea.KeyEnter))
	waitOut(t, tm, "sudo password")
	tm.Type("s3cret")
	waitOut(t, tm, "******")
	tm.Send(key(tea.KeyEnter))

	fm := tm.FinalModel(t, teatest.WithFinalTimeout(waitFor)).(*huh.Form)
	if fm.State != huh.StateCompleted {
		t.Fatalf("form state %v", fm.State)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	s := f.Agents.SSH
	if f.Server.Host != "cm1.example.com" || s.User != "cmops" || s.Port != 2222 || s.Become != "sudo" ||
		string(s.BecomePassword.Value()) != "s3cret" || s.IdentityFile != "" {
		t.Fatalf("answers: host %q ssh %+v", f.Server.Host, s)
	}
	out, _ := io.ReadAll(tm.FinalOutput(t))
	if bytes.Contains(out, []byte("s3cret")) {
		t.Fatal("the password was echoed")
	}
}

// runCmds runs the commands a model returned, feeding their messages back
// (huh's own tests do this); commands that wait (cursor blink, ticks) are
// dropped after a short deadline.
// cmdWait is how long runCmds waits for a command's message. Commands that
// take longer are timers (the cursor blink ticks every 530 ms) and are
// dropped; 20 ms was too short on a loaded 2-core machine, where a form's
// next-group command then got dropped too and the test saw an empty view.
const cmdWait = 100 * time.Millisecond

func runCmds(m tea.Model, cmd tea.Cmd, depth int) tea.Model {
	if cmd == nil || depth > 100 {
		return m
	}
	ch := make(chan tea.Msg, 1)
	go func() { ch <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-ch:
	case <-time.After(cmdWait):
		return m
	}
	if msg == nil {
		return m
	}
	if b, ok := msg.(tea.BatchMsg); ok {
		for _, c := range b {
			m = runCmds(m, c, depth+1)
		}
		return m
	}
	if v := reflect.ValueOf(msg); v.Kind() == reflect.Slice {
		// tea.Sequence's message: a list of commands, run in order.
		for i := 0; i < v.Len(); i++ {
			if c, ok := v.Index(i).Interface().(tea.Cmd); ok {
				m = runCmds(m, c, depth+1)
			}
		}
		return m
	}
	switch msg.(type) {
	case tea.QuitMsg, tea.WindowSizeMsg:
		return m
	}
	m, cmd = m.Update(msg)
	return runCmds(m, cmd, depth+1)
}

func send(m tea.Model, msgs ...tea.Msg) tea.Model {
	for _, msg := range msgs {
		var cmd tea.Cmd
		m, cmd = m.Update(msg)
		m = runCmds(m, cmd, 0)
	}
	return m
}

func typed(s string) tea.Msg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

// TestFormUpdateGenerateEC drives the keystore questions with Update: EC
// changes the key sizes offered, import paths stay hidden, the discovered
// hosts are preselected and one is toggled off.
func TestFormUpdateGenerateEC(t *testing.T) {
	f := parse(t, `version: 1
server:
  host: cm1.example.com
  api: {url: http://cm1.example.com:7180, user: admin, password: {env: A}}
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
	// Server present without keystore: the keystore questions and the
	// agent hosts are asked.
	w := NewInitForm(f, Discovered{Hosts: []string{"a1.example.com", "a2.example.com", "a3.example.com"}}, Options{Width: 80})
	var m tea.Model = w.Form
	m = runCmds(m, w.Form.Init(), 0)
	m = send(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	view := func() string { return m.View() }
	steps := []struct {
		expect string
		msgs   []tea.Msg
	}{
		{"Keystore path on the server", []tea.Msg{key(tea.KeyEnter)}},
		{"Keystore type", []tea.Msg{key(tea.KeyDown), key(tea.KeyEnter)}}, // pkcs12
		{"Key alias in the keystore", []tea.Msg{key(tea.KeyEnter)}},
		{"Keystore password", []tea.Msg{typed("abc"), key(tea.KeyEnter)}},
	}
	for _, s := range steps {
		if !strings.Contains(view(), s.expect) {
			t.Fatalf("want %q on screen:\n%s", s.expect, view())
		}
		m = send(m, s.msgs...)
	}
	if !strings.Contains(view(), "at least 6 characters") {
		t.Fatalf("short keystore password accepted:\n%s", view())
	}
	m = send(m, typed("def"), key(tea.KeyEnter))
	more := []struct {
		expect string
		msgs   []tea.Msg
	}{
		{"Server certificate", []tea.Msg{key(tea.KeyEnter)}}, // generate
		{"Certificate validity (days)", []tea.Msg{key(tea.KeyCtrlU), typed("90"), key(tea.KeyEnter)}},
		{"Key algorithm", []tea.Msg{key(tea.KeyDown), key(tea.KeyEnter)}}, // EC
		{"Key size (bits)", nil},
	}
	for _, s := range more {
		if !strings.Contains(view(), s.expect) {
			t.Fatalf("want %q on screen:\n%s", s.expect, view())
		}
		m = send(m, s.msgs...)
	}
	if !strings.Contains(view(), "384") || strings.Contains(view(), "2048") {
		t.Fatalf("EC key sizes not offered:\n%s", view())
	}
	m = send(m, key(tea.KeyDown), key(tea.KeyEnter)) // 384
	for _, title := range []string{"Organizational unit", "Organization (O)", "City or locality", "State or province"} {
		if !strings.Contains(view(), title) {
			t.Fatalf("want %q:\n%s", title, view())
		}
		m = send(m, key(tea.KeyEnter))
	}
	if !strings.Contains(view(), "Two-letter country code") {
		t.Fatalf("want country:\n%s", view())
	}
	m = send(m, typed("usa"), key(tea.KeyEnter))
	if !strings.Contains(view(), "not a two-letter country code") {
		t.Fatalf("bad country accepted:\n%s", view())
	}
	m = send(m, key(tea.KeyCtrlU), typed("DE"), key(tea.KeyEnter))
	if !strings.Contains(view(), "Subject alternative names") || !strings.Contains(view(), "cm1.example.com") {
		t.Fatalf("want SAN with the host as placeholder:\n%s", view())
	}
	m = send(m, key(tea.KeyEnter))
	// Import questions are hidden when generating; the DER and PEM paths
	// are asked with their defaults shown.
	if strings.Contains(view(), "CA-signed certificate") {
		t.Fatalf("import asked while generating:\n%s", view())
	}
	for _, want := range []string{answers.DefaultDERPath, answers.DefaultPEMPath} {
		if !strings.Contains(view(), want) {
			t.Fatalf("want %s offered:\n%s", want, view())
		}
		m = send(m, key(tea.KeyEnter))
	}
	if !strings.Contains(view(), "Where do the agent hosts come from?") {
		t.Fatalf("want the hosts' source:\n%s", view())
	}
	m = send(m, key(tea.KeyEnter)) // a list
	if !strings.Contains(view(), "Agent hosts") || !strings.Contains(view(), "a3.example.com") {
		t.Fatalf("want the discovered hosts:\n%s", view())
	}
	m = send(m, key(tea.KeyDown), typed("x"), key(tea.KeyEnter)) // drop a2
	// A host that differs says so on its own line.
	if !strings.Contains(view(), "Per-host settings") {
		t.Fatalf("want per-host settings:\n%s", view())
	}
	m = send(m, typed("a2.example.com port=2222"), key(tea.KeyEnter))
	if !strings.Contains(view(), "not among the hosts chosen") {
		t.Fatalf("settings for a host left out accepted:\n%s", view())
	}
	m = send(m, key(tea.KeyCtrlU))
	for range "a2.example.com port=2222" {
		m = send(m, key(tea.KeyBackspace))
	}
	m = send(m, typed(`a3.example.com port=2222 user=ops config_path=/opt/a.ini pem_dest=/opt/s.pem restart_command="systemctl restart agent"`), key(tea.KeyEnter))
	// agents.ssh is in the file: nothing about SSH; tls/verify given too.
	if w.Form.State != huh.StateCompleted {
		t.Fatalf("form not completed (%v):\n%s", w.Form.State, view())
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	k := f.Server.Keystore
	if k.Type != "pkcs12" || string(k.Password.Value()) != "abcdef" || k.Generate == nil || k.Import != nil ||
		k.Generate.KeyAlgorithm != "EC" || k.Generate.KeySize != 384 || k.Generate.ValidityDays != 90 ||
		k.Generate.Subject == nil || k.Generate.Subject.C != "DE" || k.Generate.Subject.OU != "" ||
		!reflect.DeepEqual(k.Generate.SAN, []string{"cm1.example.com"}) {
		t.Fatalf("keystore: %+v gen %+v", k, k.Generate)
	}
	var hosts []string
	for _, h := range f.Agents.Hosts {
		hosts = append(hosts, h.Name)
	}
	if !reflect.DeepEqual(hosts, []string{"a1.example.com", "a3.example.com"}) {
		t.Fatalf("hosts %v", hosts)
	}
	want := answers.Host{Name: "a3.example.com", Port: 2222, User: "ops", ConfigPath: "/opt/a.ini", PEMDest: "/opt/s.pem", RestartCommand: "systemctl restart agent"}
	if got := f.Agents.Hosts[1]; got != want {
		t.Fatalf("per-host settings: %+v", got)
	}
}

func TestFormAbort(t *testing.T) {
	f := parse(t, "version: 1\n")
	w := NewInitForm(f, Discovered{FQDN: "cm1.example.com"}, Options{})
	var m tea.Model = w.Form
	w.Form.CancelCmd = tea.Quit
	m = runCmds(m, w.Form.Init(), 0)
	send(m, key(tea.KeyCtrlC))
	if w.Form.State != huh.StateAborted {
		t.Fatalf("state %v", w.Form.State)
	}
	if f.Server != nil {
		t.Fatal("file changed by an aborted form")
	}
	if !errors.Is(ErrAborted, context.Canceled) {
		t.Fatal("ErrAborted must exit 130 (wrap context.Canceled)")
	}
}

func ev(step, host string, st steps.Status, done, total int) EventMsg {
	return EventMsg{Step: step, Title: "Step 3: copy the server PEM to the agents", Host: host, Phase: steps.PhaseApply, Status: st, Done: done, Total: total}
}

// TestProgressModelUpdate feeds events straight into Update and checks the
// state and the view.
func TestProgressModelUpdate(t *testing.T) {
	m := NewProgressModel("cmtls init", nil)
	m.SetWidth(80)
	var tm tea.Model = m
	tm, _ = tm.Update(EventMsg{Step: "agent-tls", Title: "Step 1: agent TLS", Phase: steps.PhaseApply, Status: steps.StatusStart})
	tm, _ = tm.Update(EventMsg{Step: "agent-tls", Phase: steps.PhaseApply, Status: steps.StatusChanged, Detail: "AGENT_TLS on"})
	tm, _ = tm.Update(ev("push-cert", "", steps.StatusStart, 0, 3))
	tm, _ = tm.Update(ev("push-cert", "a1", steps.StatusChanged, 1, 3))
	tm, _ = tm.Update(ev("push-cert", "a2", steps.StatusStart, 1, 3))
	v := tm.View()
	// Applied is not verified: no tick yet.
	if strings.Contains(v, "✓ Step 1") {
		t.Errorf("ticked before its Verify:\n%s", v)
	}
	tm, _ = tm.Update(EventMsg{Step: "agent-tls", Phase: steps.PhaseVerify, Status: steps.StatusStart})
	if v := tm.View(); !strings.Contains(v, "Step 1: agent TLS  working (verify)") {
		t.Errorf("verify not shown:\n%s", v)
	}
	tm, _ = tm.Update(EventMsg{Step: "agent-tls", Phase: steps.PhaseVerify, Status: steps.StatusOK, Detail: "verified"})
	v = tm.View()
	for _, want := range []string{"✓ Step 1: agent TLS  verified", "Step 3: copy the server PEM", "1/3 hosts", "a1  changed", "a2  working", "33%"} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	fail := ev("push-cert", "a3", steps.StatusFailed, 2, 3)
	fail.Err, fail.Hint = "dial tcp 127.0.0.1:22: connection refused", "start sshd on a3 or check agents.ssh.port"
	tm, _ = tm.Update(fail)
	tm, cmd := tm.Update(DoneMsg{Err: errors.New("1 host failed")})
	if cmd == nil {
		t.Fatal("DoneMsg must quit")
	}
	pm := tm.(*ProgressModel)
	if !pm.Finished || len(pm.Failures) != 1 || len(pm.Steps) != 2 || pm.Steps[1].Done != 2 || pm.Steps[1].byHost["a3"].Status != steps.StatusFailed {
		t.Fatalf("state %+v", pm)
	}
	v = tm.View()
	for _, want := range []string{"Summary: 2 steps", "fix: start sshd on a3", "✗ a3  failed", "Failed: 1 host failed"} {
		if !strings.Contains(v, want) {
			t.Errorf("summary lacks %q:\n%s", want, v)
		}
	}
	// An error once.
	if n := strings.Count(v, "connection refused"); n != 1 {
		t.Errorf("the error is shown %d times:\n%s", n, v)
	}
}

// A plan ticks nothing (steps planned, then run one by one), and the
// bar counts the canaries: 3/3 for 3 agents restarted as 1 then 2.
func TestProgressTicksOnlyVerified(t *testing.T) {
	m := NewProgressModel("cmtls init", nil)
	m.SetWidth(80)
	for _, id := range []string{"restart-server", "restart-agents", "verify-heartbeats"} {
		m.Apply(steps.Event{Step: id, Title: id, Phase: steps.PhasePlan, Status: steps.StatusStart})
		m.Apply(steps.Event{Step: id, Phase: steps.PhasePlan, Status: steps.StatusChanged, Detail: "1 change(s)"})
	}
	if v := m.View(); strings.Contains(v, "✓") || strings.Count(v, "planned") != 3 {
		t.Fatalf("planning ticked steps:\n%s", v)
	}
	m.Apply(steps.Event{Step: "restart-server", Phase: steps.PhaseApply, Status: steps.StatusStart})
	if v := m.View(); strings.Contains(v, "✓") {
		t.Fatalf("ticked while restart-server runs:\n%s", v)
	}
	m.Apply(steps.Event{Step: "restart-server", Phase: steps.PhaseApply, Status: steps.StatusChanged})
	m.Apply(steps.Event{Step: "restart-server", Phase: steps.PhaseVerify, Status: steps.StatusOK})
	for i, h := range []string{"a1", "a2", "a3"} {
		done, total := 1, 1 // the canary
		if i > 0 {
			done, total = i, 2
		}
		m.Apply(steps.Event{Step: "restart-agents", Host: h, Phase: steps.PhaseApply, Status: steps.StatusChanged, Done: done, Total: total})
	}
	v := m.View()
	if strings.Count(v, "\n✓ ") != 1 || !strings.Contains(v, "3/3 hosts") {
		t.Fatalf("after the restarts:\n%s", v)
	}
	m.Apply(steps.Event{Step: "restart-agents", Phase: steps.PhaseVerify, Status: steps.StatusOK})
	if v := m.View(); !strings.Contains(v, "✓ restart-agents  verified") || !strings.Contains(v, "· verify-heartbeats  planned") {
		t.Fatalf("view:\n%s", v)
	}
}

func TestProgressManyHostsBounded(t *testing.T) {
	m := NewProgressModel("t", nil)
	for i := 0; i < 60; i++ {
		st := steps.StatusOK
		if i == 42 {
			st = steps.StatusFailed
		}
		m.Apply(steps.Event{Step: "restart-agents", Host: "agent" + string(rune('A'+i%26)) + strings.Repeat("x", i/26), Status: st, Done: i + 1, Total: 60})
	}
	v := m.View()
	if n := strings.Count(v, "\n"); n > 20 {
		t.Fatalf("%d lines for 60 hosts:\n%s", n, v)
	}
	if !strings.Contains(v, "59 more hosts done") || !strings.Contains(v, "60/60 hosts") {
		t.Fatalf("view:\n%s", v)
	}
	// Once the step is done its host lines fold away, but for the failure.
	m.Apply(steps.Event{Step: "restart-agents", Status: steps.StatusChanged})
	for i := 0; i < 9; i++ {
		m.Apply(steps.Event{Step: "restart-agents", Host: "agentA", Status: steps.StatusWarn, Detail: "slow " + strings.Repeat("!", i)})
	}
	v = m.View()
	if strings.Count(v, "\n") > 16 || strings.Contains(v, "agentB") || !strings.Contains(v, "agentQx") || !strings.Contains(v, "(4 earlier warnings)") {
		t.Fatalf("folded view:\n%s", v)
	}
}

// TestProgressTeatest renders the view at 80x24 through a real program fed
// with synthetic events.
func TestProgressTeatest(t *testing.T) {
	cancelled := make(chan struct{})
	var once sync.Once
	m := NewProgressModel("cmtls init: TLS level 2", func() { once.Do(func() { close(cancelled) }) })
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24))
	t.Cleanup(func() { _ = tm.Quit() })
	tm.Send(ev("push-cert", "", steps.StatusStart, 0, 2))
	tm.Send(ev("push-cert", "agent1.example.com", steps.StatusStart, 0, 2))
	waitOut(t, tm, "agent1.example.com")
	tm.Send(ev("push-cert", "agent1.example.com", steps.StatusChanged, 1, 2))
	fail := ev("push-cert", "agent2.example.com", steps.StatusFailed, 2, 2)
	fail.Err, fail.Hint = "permission denied", "give agents.ssh.become: sudo"
	tm.Send(fail)
	waitOut(t, tm, "fix: give agents.ssh.become: sudo", "2/2 hosts", "100%", "permission denied")
	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlC})
	select {
	case <-cancelled:
	case <-time.After(waitFor):
		t.Fatal("ctrl+c did not cancel")
	}
	waitOut(t, tm, "Cancelling")
	tm.Send(DoneMsg{Err: context.Canceled})
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(waitFor)).(*ProgressModel)
	if !fm.Finished || !fm.Cancelled || fm.Steps[0].Done != 2 {
		t.Fatalf("final %+v", fm)
	}
	out, _ := io.ReadAll(tm.FinalOutput(t))
	if !bytes.Contains(out, []byte("Cancelled.")) {
		t.Fatalf("final output:\n%s", out)
	}
}

// syncBuf is a bytes.Buffer safe for the program's writer goroutine.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestRunWithProgressResult(t *testing.T) {
	in, inw := io.Pipe()
	t.Cleanup(func() { inw.Close() })
	var out syncBuf
	want := errors.New("boom")
	err := RunWithProgress(context.Background(), Options{In: in, Out: &out, Width: 80}, "cmtls init", func(ctx context.Context, r steps.Reporter) error {
		var wg sync.WaitGroup
		for i, h := range []string{"h1", "h2", "h3"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.Report(steps.Event{Step: "push-cert", Host: h, Status: steps.StatusChanged, Done: i + 1, Total: 3})
			}()
		}
		wg.Wait()
		r.Report(steps.Event{Step: "verify", Status: steps.StatusFailed, Err: "h2 did not heartbeat", Hint: "read h2's agent log"})
		return want
	})
	if !errors.Is(err, want) {
		t.Fatalf("got %v", err)
	}
	s := out.String()
	for _, w := range []string{"h1", "h2", "h3", "Summary: 2 steps", "fix: read h2's agent log"} {
		if !strings.Contains(s, w) {
			t.Errorf("output lacks %q:\n%s", w, s)
		}
	}
}

// TestRunWithProgressCtrlC: ctrl+c (byte 3 on the input) cancels run's
// context, run ends, and the result is context.Canceled.
func TestRunWithProgressCtrlC(t *testing.T) {
	in, inw := io.Pipe()
	t.Cleanup(func() { inw.Close() })
	var out syncBuf
	started := make(chan struct{})
	go func() {
		select {
		case <-started:
			_, _ = inw.Write([]byte{3})
		case <-time.After(waitFor):
		}
	}()
	err := RunWithProgress(context.Background(), Options{In: in, Out: &out}, "t", func(ctx context.Context, r steps.Reporter) error {
		r.Report(steps.Event{Step: "restart", Status: steps.StatusStart})
		close(started)
		select {
		case <-ctx.Done():
			r.Report(steps.Event{Step: "restart", Status: steps.StatusFailed, Err: "interrupted"})
			return ctx.Err()
		case <-time.After(waitFor):
			return errors.New("not cancelled")
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "Cancelled.") {
		t.Fatalf("output:\n%s", out.String())
	}
}

// waitBuf waits (bounded) until the buffer holds s.
func waitBuf(t *testing.T, b *syncBuf, s string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !strings.Contains(b.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("output never showed %q:\n%s", s, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConfirmPlanInsideProgress: the runner asks for confirmation while the
// progress view owns the terminal; the plan shows in the same program, the
// answer comes back, and the run goes on.
func TestConfirmPlanInsideProgress(t *testing.T) {
	for _, answer := range []string{"y", "n"} {
		in, inw := io.Pipe()
		var out syncBuf
		go func() {
			waitBuf(t, &out, "Apply these changes?")
			_, _ = inw.Write([]byte(answer))
		}()
		var got bool
		err := RunWithProgress(context.Background(), Options{In: in, Out: &out}, "cmtls init", func(ctx context.Context, r steps.Reporter) error {
			r.Report(steps.Event{Step: "server-cert", Phase: steps.PhasePlan, Status: steps.StatusChanged, Detail: "will generate"})
			ok, err := ConfirmPlan(ctx, "cmtls init: plan", "+ /opt/ks.jks: new keystore\n~ AGENT_TLS: false -> true\n", Options{})
			if err != nil {
				return err
			}
			got = ok
			if ok {
				r.Report(steps.Event{Step: "server-cert", Phase: steps.PhaseApply, Status: steps.StatusChanged, Detail: "keystore written"})
			}
			return nil
		})
		inw.Close()
		if err != nil {
			t.Fatalf("%s: %v\n%s", answer, err, out.String())
		}
		if got != (answer == "y") {
			t.Fatalf("%s: confirm returned %v", answer, got)
		}
		if !strings.Contains(out.String(), "~ AGENT_TLS: false -> true") || !strings.Contains(out.String(), "Done.") {
			t.Fatalf("%s: output:\n%s", answer, out.String())
		}
		if answer == "y" && !strings.Contains(out.String(), "keystore written") {
			t.Fatalf("apply not shown:\n%s", out.String())
		}
	}
}

func TestRunWithProgressAccessible(t *testing.T) {
	var out bytes.Buffer
	err := RunWithProgress(context.Background(), Options{Accessible: true, Out: &out}, "cmtls init", func(ctx context.Context, r steps.Reporter) error {
		r.Report(steps.Event{Step: "push-cert", Title: "Step 3", Status: steps.StatusStart})
		r.Report(steps.Event{Step: "push-cert", Host: "a1", Status: steps.StatusWarn, Detail: "slow", Done: 1, Total: 1})
		r.Report(steps.Event{Step: "push-cert", Status: steps.StatusOK})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"start     push-cert (Step 3)", "warn      push-cert a1 [1/1]: slow", "ok        push-cert", "Done."} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("lacks %q:\n%s", w, out.String())
		}
	}
}

func TestPlanModel(t *testing.T) {
	plan := strings.Repeat("~ agent config.ini: use_tls 0 -> 1\n", 40)
	m := NewPlanModel("Plan", plan, 80, 24)
	v := m.View()
	if !strings.Contains(v, "Apply these changes? [y/N]") || !strings.Contains(v, "scroll") {
		t.Fatalf("view:\n%s", v)
	}
	if got := strings.Count(v, "\n"); got > 24 {
		t.Fatalf("plan screen is %d lines at height 24", got)
	}
	var tm tea.Model = m
	tm, _ = tm.Update(key(tea.KeyPgDown))
	if m.vp.YOffset == 0 {
		t.Fatal("page down did not scroll")
	}
	tm, cmd := tm.Update(typed("n"))
	if cmd == nil || !m.Decided || m.Apply {
		t.Fatalf("n: %+v", m)
	}
	m2 := NewPlanModel("Plan", "x", 80, 24)
	m2.Update(typed("y"))
	if !m2.Apply {
		t.Fatal("y did not apply")
	}
	_ = tm
}

func TestConfirmPlanTeatestAndProgram(t *testing.T) {
	tm := teatest.NewTestModel(t, NewPlanModel("Plan for cm1", "+ keystore /opt/ks.jks\n~ AGENT_TLS false -> true\n", 80, 24), teatest.WithInitialTermSize(80, 24))
	waitOut(t, tm, "AGENT_TLS false -> true")
	tm.Type("y")
	if fm := tm.FinalModel(t, teatest.WithFinalTimeout(waitFor)).(*PlanModel); !fm.Apply {
		t.Fatal("not applied")
	}

	var out syncBuf
	ok, err := ConfirmPlan(context.Background(), "Plan", "~ x\n", Options{In: strings.NewReader("n"), Out: &out})
	if err != nil || ok {
		t.Fatalf("n: %v %v", ok, err)
	}
	ok, err = ConfirmPlan(context.Background(), "Plan", "~ x\n", Options{In: strings.NewReader("y"), Out: &out})
	if err != nil || !ok {
		t.Fatalf("y: %v %v", ok, err)
	}
	_, err = ConfirmPlan(context.Background(), "Plan", "~ x\n", Options{In: strings.NewReader("\x03"), Out: &out})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ctrl+c: %v", err)
	}
	var acc bytes.Buffer
	ok, err = ConfirmPlan(context.Background(), "Plan", "~ x\n", Options{Accessible: true, In: strings.NewReader("yes\n"), Out: &acc})
	if err != nil || !ok || !strings.Contains(acc.String(), "~ x\nApply these changes? [y/N]") {
		t.Fatalf("accessible: %v %v %q", ok, err, acc.String())
	}
}

// TestHostsTextTeatest: without discovered hosts the agent hosts are typed,
// one per line (ctrl+j starts a new line); a bad name is refused.
func TestHostsTextTeatest(t *testing.T) {
	f := parse(t, partialInit)
	f.Server.Host = "cm1.example.com"
	f.Agents.Hosts = nil
	f.Agents.SSH = &answers.SSH{User: "root"}
	w := NewInitForm(f, Discovered{}, Options{})
	if got := w.Paths(); !reflect.DeepEqual(got, []string{"agents.from_api", "agents.inventory", "agents.hosts", "agents.hosts.*"}) {
		t.Fatalf("asks %v", got)
	}
	w.Form.SubmitCmd = tea.Quit
	tm := teatest.NewTestModel(t, w.Form, teatest.WithInitialTermSize(80, 24))
	t.Cleanup(func() { _ = tm.Quit() })
	waitOut(t, tm, "Where do the agent hosts come from?")
	tm.Send(key(tea.KeyEnter))
	waitOut(t, tm, "Agent hosts")
	tm.Type("a1.example.com")
	tm.Send(key(tea.KeyCtrlJ))
	tm.Type("bad_host!")
	tm.Send(key(tea.KeyEnter))
	waitOut(t, tm, "not a valid host name")
	for range "bad_host!" {
		tm.Send(key(tea.KeyBackspace))
	}
	tm.Type("a2.example.com")
	tm.Send(key(tea.KeyEnter))
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(waitFor)).(*huh.Form)
	if fm.State != huh.StateCompleted {
		t.Fatalf("state %v", fm.State)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if len(f.Agents.Hosts) != 2 || f.Agents.Hosts[0].Name != "a1.example.com" || f.Agents.Hosts[1].Name != "a2.example.com" {
		t.Fatalf("hosts %+v", f.Agents.Hosts)
	}
}
