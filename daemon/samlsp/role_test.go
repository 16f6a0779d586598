package samlsp

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeScript(t *testing.T, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "role.sh")
	if !strings.HasPrefix(body, "#!") {
		body = "#!/bin/sh\n" + body
	}
	if err := os.WriteFile(p, []byte(body+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoleScriptExitCodes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		body   string
		mode   os.FileMode
		want   Role
		reason string
	}{
		{"exit 0 admin", "exit 0", 0o755, RoleAdmin, ""},
		{"exit 1 user", "exit 1", 0o755, RoleUser, ""},
		{"exit 2", "echo nope >&2; exit 2", 0o755, RoleNone, "exited 2"},
		{"exit -1", "#!/bin/bash\nexit -1", 0o755, RoleNone, "exited 255"},
		{"killed by signal", "kill -TERM $$", 0o755, RoleNone, "killed by terminated"},
		{"not executable", "exit 0", 0o644, RoleNone, "permission denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			role, reason := RunRoleScript(context.Background(), writeScript(t, tc.body, tc.mode), "alice", 5*time.Second, nil)
			if role != tc.want || !strings.Contains(reason, tc.reason) {
				t.Fatalf("role %q reason %q; want %q with %q", role, reason, tc.want, tc.reason)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		role, reason := RunRoleScript(context.Background(), filepath.Join(t.TempDir(), "nope"), "alice", time.Second, nil)
		if role != RoleNone || !strings.Contains(reason, "no such file") {
			t.Fatalf("%q %q", role, reason)
		}
	})
	t.Run("timeout kills the group", func(t *testing.T) {
		t.Parallel()
		// The child sleep holds the output pipe; only a group kill ends it.
		script := writeScript(t, "sleep 30 & sleep 30; exit 0", 0o755)
		start := time.Now()
		role, reason := RunRoleScript(context.Background(), script, "alice", 300*time.Millisecond, nil)
		if role != RoleNone || !strings.Contains(reason, "timed out") {
			t.Fatalf("%q %q", role, reason)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("took %s", d)
		}
	})
}

// The user ID reaches the script as $1 byte for byte, never through a shell.
func TestRoleScriptUserIDPassedVerbatim(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "arg")
	pwned := filepath.Join(dir, "pwned")
	script := writeScript(t, `printf '%s' "$1" > `+out+`; [ "$#" -eq 1 ] || exit 3; exit 1`, 0o755)
	for _, id := range []string{
		"-rf", "--help", "a; touch " + pwned, "$(touch " + pwned + ")", "`touch " + pwned + "`", "x | touch " + pwned, "a b\tc", "*",
	} {
		role, reason := RunRoleScript(context.Background(), script, id, 5*time.Second, nil)
		if role != RoleUser {
			t.Fatalf("%q: %q %s", id, role, reason)
		}
		got, err := os.ReadFile(out)
		if err != nil || string(got) != id {
			t.Fatalf("script got %q, want %q (%v)", got, id, err)
		}
		if _, err := os.Stat(pwned); err == nil {
			t.Fatalf("%q ran a shell command", id)
		}
	}
}

// Through the whole SP: role from the script, user ID with shell
// metacharacters and a leading "-"; exit 0 makes an admin, anything else the
// not-authorized page with the reason in the log.
func TestRoleScriptThroughSP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "arg")
	script := writeScript(t, `printf '%s' "$1" > `+out+`; case "$1" in -admin*) exit 0;; bob) exit 1;; *) exit 7;; esac`, 0o755)
	mod := func(c *Config) {
		c.RoleFrom, c.RoleScript, c.AdminValues, c.UserValues = RoleFromScript, script, nil, nil
	}
	f := newFixture(t, mod)
	s := f.spec()
	id := "-admin;$(id)`x`|y"
	s.Attrs = [][2]string{{uidOID, id}}
	c := f.accepted(f.post(f.build(s, nil), ""))
	if sess, _ := f.sp.store.session(c.Value, f.now); sess.Role != RoleAdmin || sess.UserID != id {
		t.Fatalf("%+v", sess)
	}
	if got, _ := os.ReadFile(out); string(got) != id {
		t.Fatalf("script got %q", got)
	}
	g := newFixture(t, mod)
	s = g.spec()
	s.Attrs = [][2]string{{uidOID, "mallory"}}
	w := g.post(g.build(s, nil), "")
	g.refused(w, "exited 7")
	if !strings.Contains(w.Body.String(), "not-authorized") {
		t.Fatal("not the not-authorized page")
	}
}

func TestParseScriptRoles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want map[int]Role
		bad  bool
	}{
		{in: "", want: nil},
		{in: "-", want: map[int]Role{}},
		{in: "0=admin, 1=user", want: map[int]Role{0: RoleAdmin, 1: RoleUser}},
		// Two mappings for one code: the admin one wins, in any order.
		{in: "1=admin,1=user", want: map[int]Role{1: RoleAdmin}},
		{in: "1=user,1=admin", want: map[int]Role{1: RoleAdmin}},
		{in: "1=root", bad: true},
		{in: "x=admin", bad: true},
		{in: "1", bad: true},
	} {
		got, err := parseScriptRoles(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && (len(got) != len(tc.want) || (got == nil) != (tc.want == nil))) {
			t.Errorf("%q: %v %v; want %v (bad %v)", tc.in, got, err, tc.want, tc.bad)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%q: code %d = %q, want %q", tc.in, k, got[k], v)
			}
		}
	}
}

// FuzzParseScriptRoles: no input panics, and a parsed map holds only the
// admin and user roles.
func FuzzParseScriptRoles(f *testing.F) {
	for _, s := range []string{"", "-", "0=admin,1=user", "1=root", "=", ",,", "99999999999999999999=admin"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseScriptRoles(s)
		if err != nil {
			return
		}
		for k, r := range m {
			if r != RoleAdmin && r != RoleUser {
				t.Fatalf("%q: code %d maps to %q", s, k, r)
			}
		}
	})
}
