package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"time"
)

// NewLocal returns the Host for this machine (a server that is the machine
// cmtls runs on). Commands run with /bin/sh as the current user.
func NewLocal(name string) Host {
	return &shellHost{name: name, run: runLocal, now: time.Now}
}

func runLocal(ctx context.Context, cmd string, stdin io.Reader) (*Result, error) {
	c := exec.Command("/bin/sh", "-c", cmd)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if stdin != nil {
		c.Stdin = stdin
	}
	// own process group, so that cancelling stops the whole command
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("run sh: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		// asked to stop first (SIGTERM to the group), killed after the grace
		if grace := killGrace(ctx); grace > 0 {
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
			t := time.NewTimer(grace)
			select {
			case <-done:
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		<-done
		return nil, ctx.Err()
	}
	res := &Result{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Code = ee.ExitCode() // -1 when killed by a signal
	default:
		return nil, fmt.Errorf("run sh: %w", err)
	}
	return res, nil
}
