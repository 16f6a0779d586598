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
//     the caller adds Discovered.LookupHosts for the CM API's hosts (also the
//     check of the credentials when they are typed), CheckAPI, ConsoleTLS.
//   - Prompter (NewPrompter): the one way commands ask outside the forms:
//     the TUI, line prompts (accessible), or none (--no-input), whose
//     MissingInputError names the flag that gives the answer.
//   - Closing: the end of a run for the change ticket (certificate subject,
//     SHA-256 and expiry, backups, next commands).
//
// Going back never traps: shift+tab in the TUI and "<" in line prompts
// leave a question whatever it holds; answers are checked again on the way
// forward and by the headless rules at the end. Screens wrap to the
// terminal's width (80 columns included) rather than cut lines, and a step
// of the progress view is ticked only once its Verify passed.
//
// The only file it writes is the one SaveAnswers is asked to write.
package wizard
