// Package steps is the engine: every step of the procedures as a unit with
// Plan (read-only), Apply (idempotent, backs up first) and Verify (proves
// the outcome), run by one runner (Run) that emits Events to a Reporter.
// init, rollback and agents push are step lists on it (TLSSteps,
// RollbackSteps, NewPushSteps).
//
// Between steps nothing is shared through the Env, which holds only
// dependencies. The runner hands every step three explicit values:
//
//   - env.Facts(): what the runner read before any step planned (the CM
//     settings and hosts, the server's PEM, each agent's config.ini and
//     PEM), the same whatever steps are selected, so a step run alone
//     (--only) plans from the same inputs as in a full run;
//   - env.Planned(): what earlier steps of this run plan to change, as a
//     later plan needs it (the certificate Step 2 plans, a server restart
//     owed, the agents whose files change);
//   - env.Done(): what Apply did (files written, restarts and when, hosts
//     proven), from which later steps act and the runner builds the
//     per-host summary (done and verified, done but not verified, not
//     started, failed).
//
// Per-host work goes through one fan-out (FanOut, env.Each, the canary
// rule in env.CanaryFirst): bounded, panic-safe, one result per host; after
// an interrupt no new host starts and the work in flight finishes or times
// out (WithAbort, InFlight).
//
// Steps never print and never prompt; the TUI (package wizard) and the
// headless CLI (package cmd) are two reporters of the same events. Errors
// say their kind by behaviour (BadInput, Partial); the command maps kinds to
// exit codes.
//
// What does not belong here: SSH and file transport (remote), the CM API
// client (remote/cmapi), the comment-keeping INI edit (steps/ini), one
// agent host's push and restart (steps/agentcfg), the answers file
// (steps/answers), the SAML procedure (steps/saml), flags and output (cmd).
package steps
