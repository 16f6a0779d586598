package cmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/cmtls/cmtls/remote/localfile"
	"github.com/cmtls/cmtls/steps/answers"
	"github.com/cmtls/cmtls/wizard"
)

// readInput reads a file named on the command line; a missing or unreadable
// file is bad input (exit 2).
func readInput(path, flag string) ([]byte, error) {
	if path == "" {
		return nil, usageErrorf("pass "+flag+" FILE", "%s is required", flag)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, usageErrorf("check the path given to "+flag, "%s: no such file", path)
		}
		return nil, usageErrorf("check the path and its permissions", "read %s: %w", path, err)
	}
	return b, nil
}

// refuseExisting is the check made before any work: an output file that
// exists is refused unless --force.
func refuseExisting(path string, force bool) error {
	if path == "" {
		return usageErrorf("pass --out FILE", "an output file is required")
	}
	if _, err := os.Lstat(path); err == nil && !force {
		return usageErrorf("choose another path, or pass --force to replace it (the old file is kept as a backup)",
			"%s already exists", path)
	}
	return nil
}

// writeOutput writes data to path atomically (temp file in the same
// directory, fsync, rename) with mode. An existing file is first copied to
// path.bak-YYYYMMDDTHHMMSS with its mode, and is replaced only when force
// (or replace, for files edited in place such as a keystore on import). It
// returns the backup path, if any.
func writeOutput(path string, data []byte, mode fs.FileMode, force bool, now time.Time) (string, error) {
	if err := refuseExisting(path, force); err != nil {
		return "", err
	}
	backup := ""
	if old, err := os.ReadFile(path); err == nil {
		st, err := os.Stat(path)
		if err != nil {
			return "", err
		}
		backup = path + ".bak-" + now.UTC().Format("20060102T150405")
		for i := 1; ; i++ {
			if _, err := os.Lstat(backup); errors.Is(err, fs.ErrNotExist) {
				break
			}
			backup = fmt.Sprintf("%s.bak-%s.%d", path, now.UTC().Format("20060102T150405"), i)
		}
		if err := localfile.Write(backup, old, st.Mode().Perm()); err != nil {
			return "", fmt.Errorf("back up %s: %w", path, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read %s for its backup: %w", path, err)
	}
	if err := localfile.Write(path, data, mode); err != nil {
		return backup, err
	}
	return backup, nil
}

// passSource says where the keystore password comes from.
type passSource struct {
	file, env string
}

const passFlagsHint = "give the keystore password with --storepass-file FILE or --storepass-env NAME (or run at a terminal to be asked)"

// storePass reads the keystore password from --storepass-file (first line),
// --storepass-env, or, only when a human is at a terminal, a prompt without
// echo (twice when confirm, for a new keystore).
func (s passSource) storePass(f *Factory, confirm bool) ([]byte, error) {
	switch {
	case s.file != "" && s.env != "":
		return nil, usageErrorf(passFlagsHint, "--storepass-file conflicts with --storepass-env")
	case s.file != "":
		// refused when group or others can read it, as OpenSSH refuses keys
		var se *answers.SecretFileError
		if err := answers.CheckSecretFile(s.file); errors.As(err, &se) {
			return nil, usageErrorf(se.Hint(), "%s", strings.Replace(se.Error(), "secret file", "password file", 1))
		}
		b, err := os.ReadFile(s.file)
		if err != nil {
			return nil, usageErrorf("check the path given to --storepass-file", "read password file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			return nil, usageErrorf("put the password on the first line of "+s.file, "password file %s is empty", s.file)
		}
		return []byte(line), nil
	case s.env != "":
		v, ok := f.LookupEnv(s.env)
		if !ok || v == "" {
			return nil, usageErrorf("export "+s.env+" with the keystore password, or use --storepass-file",
				"environment variable %s is not set", s.env)
		}
		return []byte(v), nil
	}
	if !f.CanPrompt() {
		return nil, usageErrorf(passFlagsHint, "no keystore password: not at a terminal and no --storepass-file or --storepass-env")
	}
	pw, err := promptPassword(f, "Keystore password: ")
	if err != nil {
		return nil, err
	}
	if confirm {
		again, err := promptPassword(f, "Re-enter keystore password: ")
		if err != nil {
			return nil, err
		}
		if string(again) != string(pw) {
			return nil, usageErrorf("type the same password twice", "the passwords do not match")
		}
	}
	return pw, nil
}

// promptPassword asks through the Factory's Prompter (no echo at a
// terminal).
func promptPassword(f *Factory, prompt string) ([]byte, error) {
	return f.Ask().Password(context.Background(), wizard.Ask{Title: strings.TrimSuffix(prompt, ": "),
		Given: "--storepass-file FILE or --storepass-env NAME"})
}
