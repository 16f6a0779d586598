package steps

import (
	"time"

	"github.com/cmtls/cmtls/steps/answers"
)

// apiTimeout bounds the wait for the CM API (and the console's redirect)
// after a server restart: the answers file's verify.api_timeout, 5 minutes
// by default, as a real CM server takes 1-5 minutes to answer again.
func (e *Env) apiTimeout() time.Duration {
	if e.Answers != nil && e.Answers.Verify != nil && e.Answers.Verify.APITimeout > 0 {
		return e.Answers.Verify.APITimeout.D()
	}
	return answers.DefaultAPITimeout
}

// CommandTimeout is how long a CM command (a Cloudera Management Service
// restart) is awaited: verify.command_timeout, 5 minutes by default. The
// command builds the API client with it (cmapi.WithCommandTimeout).
func CommandTimeout(f *answers.File) time.Duration {
	if f != nil && f.Verify != nil && f.Verify.CommandTimeout > 0 {
		return f.Verify.CommandTimeout.D()
	}
	return answers.DefaultCommandTimeout
}
