package samlsp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
)

// Role is the CM role a login maps to.
type Role string

const (
	RoleNone  Role = ""      // not authorized
	RoleUser  Role = "user"  // regular user (script exit 1)
	RoleAdmin Role = "admin" // administrator (script exit 0)
)

// String is the label shown on the home page.
func (r Role) String() string {
	switch r {
	case RoleAdmin:
		return "Administrator"
	case RoleUser:
		return "Regular user"
	}
	return "Not authorized"
}

const maxUserIDBytes = 256

// userID takes the user ID from the NameID or from exactly one value of
// one attribute. Empty, multi-valued, over-long or control-character IDs
// are refused: they would be ambiguous in logs and to the role script.
func (sp *SP) userID(va *verifiedAssertion) (string, error) {
	var id string
	if sp.cfg.UserIDFrom == FromNameID {
		id = va.NameID.Value
		if id == "" {
			return "", errors.New("the assertion has no NameID")
		}
	} else {
		name := sp.cfg.UserIDAttribute
		vals := va.Attributes[name]
		switch {
		case va.Occurrences[name] == 0:
			return "", fmt.Errorf("the assertion has no attribute %q", name)
		case va.Occurrences[name] > 1 || len(vals) > 1:
			return "", fmt.Errorf("attribute %q has %d values; the user ID needs exactly one", name, len(vals))
		case len(vals) == 0 || vals[0] == "":
			return "", fmt.Errorf("attribute %q is empty", name)
		}
		id = vals[0]
	}
	if len(id) > maxUserIDBytes {
		return "", fmt.Errorf("user ID is longer than %d bytes", maxUserIDBytes)
	}
	if !utf8.ValidString(id) {
		return "", errors.New("user ID is not valid UTF-8")
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return "", fmt.Errorf("user ID %q contains a control character", id)
		}
	}
	return id, nil
}

// role maps a user to a CM role; RoleNone comes with the reason, which is
// logged (Cloudera Manager documentation: "The CM log will provide details on failures to establish a
// user's role").
func (sp *SP) role(ctx context.Context, userID string, va *verifiedAssertion) (Role, string) {
	if sp.cfg.RoleFrom == RoleFromScript {
		if sp.cfg.ScriptRoles == nil {
			return RunRoleScript(ctx, sp.cfg.RoleScript, userID, sp.cfg.RoleScriptTimeout, sp.cfg.RoleScriptEnv)
		}
		// CM 6/7: the exit code is the name of a SAML_SCRIPT external
		// user mapping, which gives the roles.
		code, out, reason := runRoleScript(ctx, sp.cfg.RoleScript, userID, sp.cfg.RoleScriptTimeout, sp.cfg.RoleScriptEnv)
		if reason != "" {
			return RoleNone, reason
		}
		if r, ok := sp.cfg.ScriptRoles[code]; ok && r != RoleNone {
			return r, ""
		}
		return RoleNone, fmt.Sprintf("role script %s exited %d for user %q and no SAML_SCRIPT external user mapping is named %q; output: %q", sp.cfg.RoleScript, code, userID, strconv.Itoa(code), out)
	}
	vals := va.Attributes[sp.cfg.RoleAttribute]
	if len(vals) == 0 {
		return RoleNone, fmt.Sprintf("the assertion has no role attribute %q", sp.cfg.RoleAttribute)
	}
	// Exact comparison: a value that differs by case or whitespace is a
	// different value.
	for _, v := range vals {
		for _, a := range sp.cfg.AdminValues {
			if v == a {
				return RoleAdmin, ""
			}
		}
	}
	for _, v := range vals {
		for _, u := range sp.cfg.UserValues {
			if v == u {
				return RoleUser, ""
			}
		}
	}
	return RoleNone, fmt.Sprintf("role attribute %q values %q match neither the admin values %q nor the user values %q",
		sp.cfg.RoleAttribute, vals, sp.cfg.AdminValues, sp.cfg.UserValues)
}

// RunRoleScript runs CM's external role script: the user ID is $1 (argv,
// never through a shell, so metacharacters and a leading "-" reach the
// script as they are), stdin is empty, and the whole process group is
// killed at the timeout. Exit 0 is admin, 1 a regular user; any other exit,
// a signal, a timeout or a failure to start means not authorized, with the
// reason returned for the log.
func RunRoleScript(ctx context.Context, script, userID string, timeout time.Duration, env []string) (Role, string) {
	code, out, reason := runRoleScript(ctx, script, userID, timeout, env)
	switch {
	case reason != "":
		return RoleNone, reason
	case code == 0:
		return RoleAdmin, ""
	case code == 1:
		return RoleUser, ""
	}
	return RoleNone, fmt.Sprintf("role script %s exited %d for user %q (0 = admin, 1 = regular user, anything else = not authorized); output: %q", script, code, userID, out)
}

// runRoleScript runs the script as RunRoleScript says and returns its exit
// code and the start of its output, or a reason it has no exit code (a
// signal, a timeout, a failure to start).
func runRoleScript(ctx context.Context, script, userID string, timeout time.Duration, env []string) (code int, output, reason string) {
	if script == "" {
		return -1, "", "no role script configured"
	}
	if timeout <= 0 {
		timeout = DefaultScriptTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, userID)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The script may have started children (sleep, curl...): kill the
		// group, not just the leader.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = time.Second
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	tail := out.String()
	if ctx.Err() == context.DeadlineExceeded {
		return -1, tail, fmt.Sprintf("role script %s timed out after %s for user %q; output: %q", script, timeout, userID, tail)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, tail, ""
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -1, tail, fmt.Sprintf("role script %s was killed by %s for user %q; output: %q", script, ws.Signal(), userID, tail)
		}
		return ee.ExitCode(), tail, ""
	default:
		return -1, tail, fmt.Sprintf("role script %s could not run for user %q: %v", script, userID, err)
	}
}

// limitedBuffer keeps the first 4 KiB of the script's output for the log.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - b.Len(); room > 0 {
		if len(p) > room {
			b.Buffer.Write(p[:room])
		} else {
			b.Buffer.Write(p)
		}
	}
	return len(p), nil
}
