package answers

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Secret is a password or key given in the answers file. Its value never
// appears in String, GoString, Format, JSON or logs.
//
// In YAML it is {env: NAME}, {file: PATH} or (with a warning) a plain string.
type Secret struct {
	Env   string // name of the environment variable holding it
	File  string // path of the file holding it (first line, trailing newline dropped)
	Plain bool   // given in clear in the answers file
	Line  int    // line in the answers file, for messages

	value []byte
	set   bool
}

// NewSecret returns a resolved secret holding v (for the TUI and tests).
func NewSecret(v []byte) Secret {
	return Secret{value: append([]byte(nil), v...), set: true}
}

// IsZero reports whether no secret was given at all.
func (s Secret) IsZero() bool { return s.Env == "" && s.File == "" && !s.Plain && !s.set }

// Resolved reports whether the value has been read.
func (s Secret) Resolved() bool { return s.set }

// Value returns the secret's bytes. It is empty until Resolve succeeded.
func (s Secret) Value() []byte { return s.value }

// Source says where the secret comes from, without its value.
func (s Secret) Source() string {
	switch {
	case s.Env != "":
		return "env " + s.Env
	case s.File != "":
		return "file " + s.File
	case s.Plain:
		return "plain text in the answers file"
	case s.set:
		return "entered"
	}
	return "not set"
}

func (s Secret) String() string                { return "[redacted]" }
func (s Secret) GoString() string              { return "answers.Secret{[redacted]}" }
func (s Secret) Format(f fmt.State, verb rune) { fmt.Fprint(f, "[redacted]") }
func (s Secret) MarshalJSON() ([]byte, error)  { return []byte(`"[redacted]"`), nil }
func (s Secret) LogValue() slog.Value          { return slog.StringValue("[redacted]") }
func (s Secret) MarshalYAML() (any, error)     { return s.yamlForm(), nil }
func (s Secret) yamlForm() map[string]string {
	switch {
	case s.Env != "":
		return map[string]string{"env": s.Env}
	case s.File != "":
		return map[string]string{"file": s.File}
	}
	return map[string]string{}
}

// UnmarshalYAML accepts {env: NAME}, {file: PATH} or a plain string.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	s.Line = n.Line
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag != "!!str" && n.Tag != "" {
			return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a secret must be {env: NAME}, {file: PATH} or a string", n.Line)}}
		}
		s.Plain = true
		s.value = []byte(n.Value)
		s.set = true
		return nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind != yaml.ScalarNode {
				return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s must be a string", v.Line, k.Value)}}
			}
			switch k.Value {
			case "env":
				s.Env = v.Value
			case "file":
				s.File = v.Value
			default:
				return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: unknown key %q in a secret (use env or file)", k.Line, k.Value)}}
			}
		}
		if (s.Env == "") == (s.File == "") {
			return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a secret needs exactly one of env or file", n.Line)}}
		}
		return nil
	}
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a secret must be {env: NAME}, {file: PATH} or a string", n.Line)}}
}

// Resolve reads the secret's value from the environment or its file.
// base is the directory relative file paths are taken from.
func (s *Secret) Resolve(lookup func(string) (string, bool), base string) error {
	switch {
	case s.set:
		return nil
	case s.Env != "":
		v, ok := lookup(s.Env)
		if !ok || v == "" {
			return fmt.Errorf("environment variable %s is not set (export it, or give the secret as {file: PATH})", s.Env)
		}
		s.value, s.set = []byte(v), true
	case s.File != "":
		p := expandPath(s.File, base)
		if err := CheckSecretFile(p); err != nil {
			var se *SecretFileError
			if errors.As(err, &se) {
				return err
			}
			return fmt.Errorf("read secret file: %w", err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read secret file: %w", err)
		}
		v := strings.SplitN(string(b), "\n", 2)[0]
		v = strings.TrimSuffix(v, "\r")
		if v == "" {
			return fmt.Errorf("secret file %s is empty", p)
		}
		s.value, s.set = []byte(v), true
	}
	return nil
}

// SecretFileError refuses a secret file that other users can read (as
// OpenSSH refuses a private key with "UNPROTECTED PRIVATE KEY FILE!"): a
// password in a file readable by group or others is not secret. Bad input.
type SecretFileError struct {
	Path string
	Mode os.FileMode
}

func (e *SecretFileError) Error() string {
	return fmt.Sprintf("secret file %s is readable by %s (mode %04o): refused", e.Path, e.who(), e.Mode.Perm())
}

func (e *SecretFileError) who() string {
	switch {
	case e.Mode&0o007 != 0 && e.Mode&0o070 != 0:
		return "its group and others"
	case e.Mode&0o007 != 0:
		return "others"
	}
	return "its group"
}

// Hint names the fix.
func (e *SecretFileError) Hint() string { return "chmod 600 " + e.Path }

// BadInput: the user's file, nothing was changed.
func (e *SecretFileError) BadInput() bool { return true }

// CheckSecretFile refuses a secret file whose mode gives group or others
// any access (a *SecretFileError); other stat errors are returned as they
// are. Symbolic links are followed: the file read is what counts.
func CheckSecretFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return &SecretFileError{Path: path, Mode: st.Mode()}
	}
	return nil
}
