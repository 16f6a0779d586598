package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// Renewal phases, in order. The state file records the phase a renewal has
// reached, so that an interrupted `cmtls renew` continues where it
// stopped and `cmtls status` can name it.
const (
	renewPhaseCSR     = "csr"      // the new key waits for its CA-signed certificate
	renewPhaseBundle  = "bundle"   // (a) agents get the PEM bundle (old and new) and restart
	renewPhaseSwitch  = "switch"   // (b) the server keystore switches, the server restarts
	renewPhaseDropOld = "drop-old" // (c) the old certificate leaves the bundle, agents restart
	renewPhaseDone    = "done"
)

// renewPhaseText says what a phase is, for status.
var renewPhaseText = map[string]string{
	renewPhaseCSR:     "csr (the new key waits for its CA-signed certificate: cmtls renew with server.keystore.import)",
	renewPhaseBundle:  "a, bundle (agents get a PEM with the old and new certificates)",
	renewPhaseSwitch:  "b, switch (the server moves to the new certificate)",
	renewPhaseDropOld: "c, drop-old (the old certificate leaves the agents' PEM)",
}

// renewState is the state file of a renewal, kept beside the keystore on
// the server host (<keystore>.cmtls-renew.json, 0600). It holds no secret:
// the new key waits in the staging keystore (<keystore>.cmtls-renew).
type renewState struct {
	Version int       `json:"version"`
	Phase   string    `json:"phase"`
	Started time.Time `json:"started"`
	// OldPEM and NewPEM are what the agents trust before and after: the
	// certificate (and its chain), PEM.
	OldPEM string `json:"old_pem"`
	NewPEM string `json:"new_pem,omitempty"`
	// OldSHA256 and NewSHA256 are the leaves' fingerprints.
	OldSHA256 string `json:"old_sha256"`
	NewSHA256 string `json:"new_sha256,omitempty"`
	// CSR is the request written by `renew --csr` (PEM).
	CSR string `json:"csr,omitempty"`
}

func renewStatePath(keystore string) string   { return keystore + ".cmtls-renew.json" }
func renewStagingPath(keystore string) string { return keystore + ".cmtls-renew" }

// renewPreviousPath keeps the keystore a renewal replaced, for a rollback.
func renewPreviousPath(keystore string) string { return keystore + ".cmtls-renew-previous" }

// readRenewState reads the state file on the server; nil when there is none.
func readRenewState(ctx context.Context, env *Env) (*renewState, error) {
	p := renewStatePath(env.Answers.Server.Keystore.Path)
	b, err := env.Server.ReadFile(ctx, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	var st renewState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, &InputError{Err: fmt.Errorf("renewal state %s: %w", p, err),
			Fix: "the file is damaged: move it away (the renewal then starts over; the keystore and agents are unchanged by that)"}
	}
	return &st, nil
}

// ReadRenewPhase names the phase of a renewal that has not finished on the
// server host ("" when there is none, or it cannot be read).
func ReadRenewPhase(ctx context.Context, env *Env) string {
	if env.Answers == nil || env.Answers.Server == nil || env.Answers.Server.Keystore == nil || env.Server == nil {
		return ""
	}
	st, err := readRenewState(ctx, env)
	if err != nil || st == nil || st.Phase == renewPhaseDone {
		return ""
	}
	if t, ok := renewPhaseText[st.Phase]; ok {
		return t
	}
	return st.Phase
}
