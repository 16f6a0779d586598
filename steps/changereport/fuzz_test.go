package changereport

import (
	"strings"
	"testing"

	"github.com/cmtls/cmtls/steps"
)

// Whatever a plan item or an event holds, every row of a change table
// stays one row of six cells, and the record's backups come from the
// events' "backup PATH" only.
func FuzzMarkdownTable(f *testing.F) {
	f.Add("AGENT_TLS", "false", "true", "backup /a.bak")
	f.Add("a|b", "x\ny", "`|`", "backup ; backup /x")
	f.Fuzz(func(t *testing.T, target, old, nw, detail string) {
		in := Input{Result: &steps.Result{Applied: true,
			Plan:  steps.Plan{{Step: "s", Items: []steps.Item{{Host: "h", Kind: steps.KindFile, Target: target, Old: old, New: nw}}}},
			Steps: []steps.StepResult{{Step: "s", Status: steps.StatusChanged}},
			Hosts: []steps.HostResult{{Host: "h", Status: steps.HostVerified}}},
			Events: []steps.Event{{Step: "s", Host: "h", Phase: steps.PhaseApply, Status: steps.StatusChanged, Detail: detail}}}
		r := Build(in)
		md := r.Markdown()
		rows := 0
		for _, l := range strings.Split(md, "\n") {
			if !strings.HasPrefix(l, "| s | file | ") {
				continue
			}
			rows++
			if n := strings.Count(l, "|") - strings.Count(l, `\|`); n != 7 {
				t.Fatalf("row with %d cell borders: %q", n, l)
			}
		}
		if rows != 1 {
			t.Fatalf("%d rows for one change:\n%s", rows, md)
		}
		for _, b := range hostOf(t, r, "h").Backups {
			if !strings.Contains(detail, b) && !strings.Contains(b, "(the original") {
				t.Fatalf("backup %q not from the event %q", b, detail)
			}
		}
	})
}
