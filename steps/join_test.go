package steps

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A host that joins later: init again with the new host in the answers
// changes only that host (the plan says the others are unchanged), leaves
// the server and the other agents unrestarted, and verifies the new one.
func TestE2EHostJoinsLater(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	f := c.answers(false)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	col := &Collector{}
	if _, err := Run(ctx, c.env(f, col), TLSSteps(), Options{}); err != nil {
		t.Fatalf("init: %v\n%s", err, eventsText(col))
	}
	c.addAgent("agent3", "localhost")
	f = c.answers(false)
	before := c.restarts()
	col = &Collector{}
	res, err := Run(ctx, c.env(f, col), TLSSteps(), Options{})
	if err != nil {
		t.Fatalf("init with agent3: %v\n%s", err, eventsText(col))
	}
	var plan strings.Builder
	_ = res.Plan.WriteText(&plan)
	for _, ch := range res.Plan {
		for _, it := range ch.Items {
			if it.Host != "agent3" {
				t.Errorf("the plan changes %q: %+v", it.Host, it)
			}
		}
	}
	if !strings.Contains(plan.String(), "changes only agent3; unchanged (already done): agent1, agent2") {
		t.Errorf("the plan does not say the others are unchanged:\n%s", plan.String())
	}
	after := c.restarts()
	for n, k := range after {
		want := int32(0)
		if n == "agent3" {
			want = 1
		}
		if k-before[n] != want {
			t.Errorf("%s restarted %d times, want %d", n, k-before[n], want)
		}
	}
	for _, h := range res.Hosts {
		if h.Status != HostVerified && h.Status != HostUnchanged {
			t.Errorf("%s: %+v", h.Host, h)
		}
	}
	c.agentsVerify(t, ctx, f, nil)
}
