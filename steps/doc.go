// Package steps is the engine: every step of the two procedures as a unit
// with Plan (read-only), Apply (idempotent, backs up first) and Verify
// (proves the outcome), run by one runner that emits Events to a Reporter.
//
// Steps never print and never prompt; the TUI (package wizard) and the
// headless CLI (package cmd) are two reporters of the same events.
package steps
