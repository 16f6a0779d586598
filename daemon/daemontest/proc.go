// Package daemontest runs an embedded daemon in-process for tests, stoppable
// and restartable the way `service X restart` does it to the real one.
package daemontest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// Proc is one restartable in-process daemon: Run is called on every start
// with a context that Stop cancels.
type Proc struct {
	Run      func(ctx context.Context) error
	Restarts atomic.Int32 // times Restart was called

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
}

// Start runs the daemon in a goroutine.
func (p *Proc) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan error, 1)
	done := p.done
	go func() { done <- p.Run(ctx) }()
}

// Stop cancels the daemon and waits for Run to return; its error, unless it
// is the cancellation itself. Stopping a stopped Proc is a no-op.
func (p *Proc) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	err := <-p.done
	p.cancel = nil
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// Alive reports whether the daemon is running (Run has not returned).
func (p *Proc) Alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel == nil {
		return false
	}
	select {
	case err := <-p.done:
		p.done <- err
		return false
	default:
		return true
	}
}

// Restart stops and starts the daemon and counts it.
func (p *Proc) Restart() {
	_ = p.Stop()
	p.Restarts.Add(1)
	p.Start()
}
