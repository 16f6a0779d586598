package steps

import (
	"errors"
	"io"
	"testing"
)

type closeCounter struct {
	n   *int
	err error
}

func (c closeCounter) Close() error { *c.n++; return c.err }

// TestEnvCloseClosesClosers: the agents' dialer (and whatever else the
// caller hands over) is closed with the Env, and the first error is kept.
func TestEnvCloseClosesClosers(t *testing.T) {
	t.Parallel()
	n := 0
	boom := errors.New("boom")
	env := &Env{Closers: []io.Closer{closeCounter{&n, nil}, closeCounter{&n, boom}, closeCounter{&n, nil}}}
	if err := env.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close() = %v, want boom", err)
	}
	if n != 3 {
		t.Fatalf("%d closers closed, want 3", n)
	}
}
