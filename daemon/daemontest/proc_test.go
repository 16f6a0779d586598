package daemontest

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestProc(t *testing.T) {
	starts := make(chan struct{}, 10)
	p := &Proc{Run: func(ctx context.Context) error {
		starts <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}}
	if p.Alive() || p.Stop() != nil {
		t.Fatal("a Proc never started is neither alive nor failing to stop")
	}
	p.Start()
	<-starts
	if !p.Alive() {
		t.Fatal("not alive after Start")
	}
	p.Restart()
	<-starts
	if p.Restarts.Load() != 1 || !p.Alive() {
		t.Fatalf("restarts %d alive %v", p.Restarts.Load(), p.Alive())
	}
	if err := p.Stop(); err != nil || p.Alive() {
		t.Fatalf("stop: %v alive %v", err, p.Alive())
	}

	boom := errors.New("keystore missing")
	q := &Proc{Run: func(context.Context) error { return boom }}
	q.Start()
	deadline := time.Now().Add(5 * time.Second)
	for q.Alive() {
		if time.Now().After(deadline) {
			t.Fatal("a daemon that returned still reads alive")
		}
		time.Sleep(time.Millisecond)
	}
	if err := q.Stop(); !errors.Is(err, boom) {
		t.Fatalf("Stop = %v, want the daemon's error", err)
	}
}
