package saml

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cmtls/cmtls/steps"
)

// planRestart: CM reads the SAML settings at start (seed step 14), so the
// server restarts when a setting changes. External user mappings are read
// at each login and need none.
func (p *Procedure) planRestart(_ context.Context, env *steps.Env) (steps.Change, error) {
	var ch steps.Change
	p.mu.Lock()
	restart := p.restart
	p.mu.Unlock()
	if restart {
		ch.Add(steps.Item{Kind: steps.KindService, Target: cmp.Or(env.Answers.Server.RestartCommand, "(no server.restart_command)"), Note: "CM reads the SAML settings at start"})
	}
	return ch, nil
}

func (p *Procedure) applyRestart(ctx context.Context, env *steps.Env) error {
	u := consoleBase(env.Answers) + pathMetadata
	if err := p.restartServer(ctx, env, StepRestart, func(status int) bool { return status == http.StatusOK }, u); err != nil {
		return err
	}
	p.Result.Restarted = true
	return nil
}

// verifyRestart: the SP answers with its metadata (restarted or not).
func (p *Procedure) verifyRestart(ctx context.Context, env *steps.Env) error {
	u := consoleBase(env.Answers) + pathMetadata
	if _, err := get(ctx, p.httpClient(), u); err != nil {
		return &Error{Step: StepRestart, Err: fmt.Errorf("%s: %w", u, err),
			Fix: "CM does not serve SAML: check External Authentication Type and the CM server log; set saml.entity_base_url if browsers reach CM at another URL"}
	}
	progress(env, StepRestart, "CM serves its SAML metadata at "+u)
	return nil
}

// restartServer runs server.restart_command and waits, bounded by
// saml.server_timeout, until GET u answers with a status ready accepts.
func (p *Procedure) restartServer(ctx context.Context, env *steps.Env, step string, ready func(int) bool, u string) error {
	cmd := env.Answers.Server.RestartCommand
	if cmd == "" || env.Server == nil {
		return &Error{Step: step, Err: errors.New("no way to restart the CM server"), Fix: "set server.restart_command (e.g. systemctl restart cloudera-scm-server)"}
	}
	progress(env, step, "running "+cmd)
	r, err := env.Server.Run(ctx, cmd, nil)
	if err != nil {
		return &Error{Step: step, Err: err}
	}
	if r.Code != 0 {
		return &Error{Step: step, Err: fmt.Errorf("%s exited %d: %s", cmd, r.Code, strings.TrimSpace(string(r.Stderr))),
			Fix: "read the CM server log: a SAML setting it cannot use stops it from starting"}
	}
	timeout := p.serverTimeout(env.Answers)
	deadline := now(env).Add(timeout)
	c := p.httpClient()
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if ready(resp.StatusCode) {
				progress(env, step, "CM answers at "+u)
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if !now(env).Before(deadline) {
			return &Error{Step: step, Err: fmt.Errorf("%s did not answer within %s after the restart (last: %s)", u, timeout, last),
				Fix: "read the CM server log; raise saml.server_timeout if CM starts slowly; set saml.entity_base_url if browsers reach CM at another URL"}
		}
		t := time.NewTimer(p.pollInterval())
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
