package steps

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/steps/agentcfg"
)

// Two cmtls runs that would change the same server or agent host must
// never interleave (two init runs would generate two keypairs and restart
// the server under each other; two pushes would interleave their backups).
// A run that changes hosts therefore holds, from before it reads the facts
// until it ends, a lock on the server host (ServerLockName beside the
// keystore), and on each agent host it changes a lock beside config.ini
// from its plan to the end of its apply (agentcfg.LockPath). A second run
// waits up to Options.LockWait, then stops naming the holder (host, pid,
// command, since when): *remote.LockedError, an ordinary failure.

// DefaultLockWait is how long a run waits for another run's lock.
const DefaultLockWait = 30 * time.Second

// ServerLockName is the server lock's file, in the keystore's directory.
const ServerLockName = "cmtls.lock"

// runLock is what the runner hands the steps about this run's locks.
type runLock struct {
	info  remote.LockInfo
	wait  time.Duration
	runID string // one id for every journal line this run writes
}

// ServerLockPath is the server lock for a keystore at keystorePath.
func ServerLockPath(keystorePath string) string {
	return path.Join(path.Dir(keystorePath), ServerLockName)
}

// commandWords is this program's name and its leading command words
// ("cmtls agents push"): flags and their values, which may name files,
// are left out of what a lock shows.
func commandWords() string {
	words := []string{"cmtls"}
	if len(os.Args) > 0 && !strings.HasSuffix(filepath.Base(os.Args[0]), ".test") {
		words[0] = filepath.Base(os.Args[0])
	}
	for _, a := range os.Args[min(1, len(os.Args)):] {
		if strings.HasPrefix(a, "-") {
			break
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

// runIDFor is a journal run id for command at t: one word naming the
// command ("init-20260101T120000.000Z"), so that a rollback can tell what
// kind of change it undoes.
func runIDFor(command string, t time.Time) string {
	f := strings.Fields(command)
	kind := "cmtls"
	if len(f) > 1 {
		kind = strings.Join(f[1:], "-")
	}
	kind = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return -1
	}, kind)
	if len(kind) > 30 {
		kind = kind[:30]
	}
	return kind + "-" + t.UTC().Format("20060102T150405.000Z")
}

// takeLocks fills the run's lock settings (used by the agent steps'
// plans) and takes the server lock when the run has a server to change.
// release lets it go, also after an error or an interrupt.
func (e *Env) takeLocks(ctx context.Context, opts Options) (release func(), err error) {
	cmd := opts.Command
	if cmd == "" {
		cmd = commandWords()
	}
	wait := opts.LockWait
	if wait <= 0 {
		wait = DefaultLockWait
	}
	l := &runLock{info: remote.LockInfo{Command: cmd, Since: e.Now()}, wait: wait, runID: runIDFor(cmd, e.Now())}
	l.info.Note = func(s string) {
		e.report(Event{Step: "lock", Phase: PhasePlan, Status: StatusWarn, Detail: s})
	}
	e.run.mu.Lock()
	e.run.lock = l
	e.run.mu.Unlock()
	if e.Server == nil || e.Answers == nil || e.Answers.Server == nil || e.Answers.Server.Keystore == nil || e.Answers.Server.Keystore.Path == "" {
		return func() {}, nil
	}
	p := ServerLockPath(e.Answers.Server.Keystore.Path)
	// the keystore's directory may not exist before the first init, which
	// makes it anyway (Step 2)
	if res, err := e.Server.Run(ctx, "[ -d "+remote.Quote(path.Dir(p))+" ] || { umask 022; mkdir -p -- "+remote.Quote(path.Dir(p))+"; }", nil); err != nil || res.Code != 0 {
		e.report(Event{Step: "lock", Host: e.serverName(), Phase: PhasePlan, Status: StatusWarn, Detail: "cannot create " + path.Dir(p) + " for the server lock"})
	}
	unlock, err := remote.Lock(ctx, e.Server, p, l.info, wait)
	if err != nil {
		return nil, err
	}
	return func() {
		// also after an interrupt: the lock must go, not wait to be stale
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		if err := unlock(ctx); err != nil {
			e.report(Event{Step: "lock", Host: e.serverName(), Phase: PhaseApply, Status: StatusWarn, Detail: err.Error()})
		}
	}, nil
}

// lockInfo is the lock an agent step's plan takes on its host (nil in a
// dry run), how long it waits, and the run's journal id.
func (e *Env) lockInfo() (*remote.LockInfo, time.Duration, string) {
	e.init()
	e.run.mu.Lock()
	defer e.run.mu.Unlock()
	if e.run.lock == nil {
		return nil, 0, ""
	}
	info := e.run.lock.info
	return &info, e.run.lock.wait, e.run.lock.runID
}

// planReleaser is a step whose plan may hold host locks (and waiting
// shells) that its Apply did not consume: a run that stops before the
// apply (declined, interrupted, an earlier step failed) or skips some
// host releases them, or the locks would be held until they go stale.
type planReleaser interface{ releasePlans() }

func releasePlans(all []Step) {
	for _, s := range all {
		if r, ok := s.(planReleaser); ok {
			r.releasePlans()
		}
	}
}

// planAgents plans each agent with spec(a), keeping every plan's lock for
// the apply. A run holds these locks together, so two runs taking them in
// parallel could each hold one the other waits for. They are therefore
// first taken all at once without waiting (the usual case: no other run);
// when some host is busy, every lock taken is let go and they are taken
// again one by one in host name order, each waiting up to the lock wait:
// runs that wait all take locks in the same order, so none waits for one
// that waits for it. Failed hosts are recorded; the plans are returned.
func (e *Env) planAgents(ctx context.Context, step string, agents []*Agent, spec func(*Agent) agentcfg.Spec) map[string]*agentcfg.Change {
	plans := map[string]*agentcfg.Change{}
	var mu sync.Mutex
	busy := 0
	e.each(ctx, step, agents, func(ctx context.Context, a *Agent) error {
		sp := spec(a)
		locking := sp.Lock != nil
		sp.LockWait = 0
		p, err := agentcfg.Plan(ctx, a.Host, sp)
		var le *remote.LockedError
		if locking && errors.As(err, &le) {
			mu.Lock()
			busy++
			mu.Unlock()
			return nil
		}
		if err != nil {
			return &HostError{Host: a.Name, Step: step, Err: err, Fix: hint(err)}
		}
		mu.Lock()
		plans[a.Name] = p
		mu.Unlock()
		return nil
	})
	if busy == 0 {
		return plans
	}
	for _, p := range plans {
		p.Release()
	}
	plans = map[string]*agentcfg.Change{}
	var todo []*Agent
	for _, a := range agents {
		if !e.isFailed(a.Name) && a.Host != nil {
			todo = append(todo, a)
		}
	}
	sort.Slice(todo, func(i, j int) bool { return todo[i].Name < todo[j].Name })
	e.report(Event{Step: step, Phase: PhasePlan, Status: StatusProgress,
		Detail: fmt.Sprintf("another cmtls run holds %d host(s): taking the hosts' locks one by one, waiting for it", busy)})
	for _, a := range todo {
		if ctx.Err() != nil {
			e.noteNotStarted(a.Name, "interrupted before its plan")
			continue
		}
		p, err := agentcfg.Plan(ctx, a.Host, spec(a))
		if err != nil {
			e.fail(&HostError{Host: a.Name, Step: step, Err: err, Fix: hint(err)})
			continue
		}
		plans[a.Name] = p
	}
	return plans
}
