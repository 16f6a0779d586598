// Package wizard is the interactive face of cmtls: huh forms that fill the
// answers the user has not given, a plan screen, and a Bubble Tea view of a
// run's events. It makes no SSH calls and holds no business rules:
// validation comes from package answers (ValidateInit, ValidateSAML), run
// on a copy of the answers so far each time a field is submitted, so the
// wizard refuses exactly what a headless run would refuse.
//
// Every question writes one field of the answers file (its path), so all of
// it can be given headless; SaveAnswers writes what was answered as an
// answers file with secrets as {env: NAME} references.
//
//   - FillInit, FillSAML: ask only what the file lacks (huh TUI, or plain
//     line prompts in accessible mode).
//   - ConfirmPlan: the plan on its own screen, y to apply. Called from inside
//     RunWithProgress's run, it shows in the running view.
//   - RunWithProgress: live steps, hosts, bars, failures with fixes, summary;
//     Ctrl-C cancels the run's context.
//   - OfferSave: asks whether and where to save the answers (SaveAnswers),
//     never replacing a file unasked.
//   - DiscoverLocal: defaults this machine tells (FQDN, an existing keystore);
//     the caller adds Discovered.LookupHosts for the CM API's hosts.
//
// The only file it writes is the one SaveAnswers is asked to write.
package wizard
