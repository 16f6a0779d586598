package answers

import (
	"errors"
	"testing"
)

// FuzzParse: any input either parses into a File that validates without
// panicking, or fails with an *Error/Errors (exit code 2), never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("version: 1\nagents:\n  hosts:\n    - {name: a, port: 2}\n    - b\n"))
	f.Add([]byte("version: 1\nserver: {api: {password: {env: X}}}\n"))
	f.Add([]byte("version: 1\nsaml: {role: {from: script}, user_id: {from: nameid}}\n"))
	f.Add([]byte("&a [*a, *a]"))
	f.Add([]byte("version: 1\nverify: {heartbeat_timeout: 3}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Parse("fuzz.yaml", b)
		if err != nil {
			var e *Error
			var es Errors
			if !errors.As(err, &e) && !errors.As(err, &es) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		a.ApplyDefaults()
		_ = a.ValidateInit()
		_ = a.ValidatePush()
		_ = a.ValidateSAML()
		_ = a.AgentHosts()
	})
}
