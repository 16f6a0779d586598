package steps

import (
	"strings"
	"testing"
)

// An operator reads a failure once: a host's failure has its reason on the
// FAILED line and its hint below; a step-level failure (which the command
// repeats as "error: ..." and "hint: ...") is one line.
func TestTextReporterFailedLines(t *testing.T) {
	var b strings.Builder
	r := NewTextReporter(&b)
	r.Report(Event{Step: "push-cert", Title: "Step 3", Host: "agent2", Phase: PhaseApply, Status: StatusFailed,
		Err: "host agent2: cannot reach 127.0.0.1:9\nagent log: x", Hint: "check the host's address"})
	r.Report(Event{Step: "server-cert", Title: "Step 2", Phase: PhasePlan, Status: StatusFailed,
		Err: "keystore ks: keystore password incorrect", Hint: "give server.keystore.password"})
	want := "==> Step 3\n" +
		"  FAILED    agent2         host agent2: cannot reach 127.0.0.1:9\n" +
		"            agent log: x\n" +
		"            hint: check the host's address\n" +
		"==> Step 2\n" +
		"  FAILED    -              keystore ks: keystore password incorrect\n"
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestSummaryOfChecksOnly(t *testing.T) {
	checks := Change{Items: []Item{{Host: "agent1", Kind: KindCheck}, {Host: "agent2", Kind: KindCheck}}}
	if got := summary(checks); got != "2 check(s) on 2 host(s)" {
		t.Errorf("checks only: %q", got)
	}
	mixed := Change{Items: []Item{{Kind: KindSetting}, {Kind: KindCheck}}}
	if got := summary(mixed); got != "2 change(s)" {
		t.Errorf("mixed: %q", got)
	}
}
