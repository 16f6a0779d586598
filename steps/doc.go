// Package steps is the engine: every step of the two procedures as a unit
// with Plan (read-only), Apply (idempotent, backs up first) and Verify
// (proves the outcome), run by one runner that emits Events to a Reporter.
//
// Steps never print and never prompt; the TUI (package wizard) and the
// headless CLI (package cmd) are two reporters of the same events.
//
// What does not belong here: SSH and file transport (remote), the CM API
// client (remote/cmapi), the comment-keeping INI edit (steps/ini), one
// agent host's push and restart (steps/agentcfg), the answers file
// (steps/answers), the SAML procedure (steps/saml), flags and output (cmd).
package steps
