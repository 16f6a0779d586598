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

// RenewalGuard is the first step of `cmtls rollback`: rollback undoes
// init (TLS level 2 off altogether), which is not the same as undoing a
// renewal. When the server host keeps a renewal's state, the plan says the
// most recent certificate change was a renewal and names `cmtls renew
// --rollback`, which goes back to the certificate from before it with TLS
// kept on. A renewal that is under way is refused: its agents hold a PEM
// bundle and the server may be mid-switch, and the renewal's own state
// would no longer match the cluster after a rollback.
type RenewalGuard struct{}

func (RenewalGuard) Name() string  { return "renewal-check" }
func (RenewalGuard) Title() string { return "Rollback: the last certificate renewal" }

func (s RenewalGuard) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	if env.Answers == nil || env.Answers.Server == nil || env.Answers.Server.Keystore == nil || env.Server == nil {
		return ch, nil
	}
	st, err := readRenewState(ctx, env)
	if err != nil || st == nil {
		return ch, err
	}
	switch st.Phase {
	case renewPhaseBundle, renewPhaseSwitch, renewPhaseDropOld:
		return ch, inputErrorf("finish the renewal with cmtls renew --yes (it continues where it stopped), or go back to the old certificate with cmtls renew --rollback --yes, then run rollback if TLS is to go off altogether",
			"a certificate renewal begun %s is under way (phase %s); rollback turns TLS off and is not run in the middle of it; nothing was changed",
			fmtTime(st.Started), renewPhaseText[st.Phase])
	case renewPhaseCSR:
		ch.Notes = append(ch.Notes, fmt.Sprintf("a renewal begun %s waits for its CA-signed certificate (renew --csr); rollback leaves its new key in %s",
			fmtTime(st.Started), renewStagingPath(env.Answers.Server.Keystore.Path)))
	default:
		ch.Notes = append(ch.Notes, fmt.Sprintf("the most recent certificate change was a renewal (cmtls renew, begun %s: certificate %s replaced %s); this rollback turns TLS level 2 off altogether; to go back only to the certificate from before the renewal, with TLS kept on, run cmtls renew --rollback instead",
			fmtTime(st.Started), fpText(st.NewSHA256), fpText(st.OldSHA256)))
	}
	return ch, nil
}

func (RenewalGuard) Apply(context.Context, *Env) error  { return nil }
func (RenewalGuard) Verify(context.Context, *Env) error { return nil }

// fpText names a fingerprint by its first bytes, enough to tell two apart.
func fpText(fp string) string {
	if fp == "" {
		return "(unknown)"
	}
	return "SHA-256 " + shortFP(fp)
}
