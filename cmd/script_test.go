package cmd

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cmtls/cmtls/daemon/sandbox"
)

// TestMain registers cmtls as a command the scripts can exec, in-process
// (no build step).
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"cmtls": func() { os.Exit(Main()) },
	})
}

// TestScripts runs testdata/script/*.txtar: headless flows with their exact
// exit codes and hints.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "../testdata/script",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// exits CODE PROG ARGS...: runs PROG and asserts its exact exit
			// code (exec only tells zero from non-zero).
			"exits": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: exits CODE PROG ARGS...")
				}
				want, err := strconv.Atoi(args[0])
				if err != nil {
					ts.Fatalf("exits: bad code %q", args[0])
				}
				err = ts.Exec(args[1], args[2:]...)
				got := 0
				var ee *exec.ExitError
				switch {
				case errors.As(err, &ee):
					got = ee.ExitCode()
				case err != nil:
					ts.Fatalf("exits: %v", err)
				}
				if got != want {
					ts.Fatalf("%s exited %d, want %d", args[1], got, want)
				}
			},
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("CMTLS_NO_INPUT", "1")
			// Scripts that start a sandbox put it in $WORK/sb; whatever
			// happens to the script, its processes are stopped.
			sb := filepath.Join(env.WorkDir, "sb")
			env.Setenv("CMTLS_SANDBOX_DIR", sb)
			env.Defer(func() {
				if _, err := os.Stat(sb); err == nil {
					_ = sandbox.Down(sb)
				}
			})
			return nil
		},
	})
}
