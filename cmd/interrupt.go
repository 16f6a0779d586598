package cmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/cmtls/cmtls/steps"
)

// interruptible returns the context a command runs under and its stop
// function. The first SIGINT or SIGTERM cancels it: the run starts no new
// host work and lets the work in flight (a restart, a file write) finish
// or time out. The second cancels steps.WithAbort's context too: the work
// in flight is stopped (remote commands are signalled).
func interruptible(errOut io.Writer) (context.Context, func()) {
	abort, stopAbort := context.WithCancel(context.Background())
	ctx, cancel := context.WithCancel(abort)
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sig:
		case <-done:
			return
		}
		cancel()
		fmt.Fprintln(errOut, "interrupted: starting nothing new, letting what runs finish; interrupt again to stop it now")
		select {
		case <-sig:
		case <-done:
			return
		}
		stopAbort()
	}()
	return steps.WithAbort(ctx, abort), func() {
		signal.Stop(sig)
		close(done)
		cancel()
		stopAbort()
	}
}
