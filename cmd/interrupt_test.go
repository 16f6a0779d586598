package cmd

import (
	"bytes"
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/cmtls/cmtls/steps"
)

// The first SIGINT cancels the run's context but not the work in flight;
// the second reaches the work in flight too.
func TestInterruptTwiceAborts(t *testing.T) {
	var errOut bytes.Buffer
	ctx, stop := interruptible(&errOut)
	defer stop()
	inFlight, done := steps.InFlight(ctx)
	defer done()
	wait := func(c context.Context, what string) {
		t.Helper()
		select {
		case <-c.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("%s not cancelled", what)
		}
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	wait(ctx, "the run's context after the first SIGINT")
	if inFlight.Err() != nil {
		t.Fatal("the first SIGINT stopped the work in flight")
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	wait(inFlight, "the work in flight after the second SIGINT")
	if !bytes.Contains(errOut.Bytes(), []byte("interrupt again to stop it now")) {
		t.Errorf("stderr %q", errOut.String())
	}
}
