package steps

import (
	"strings"
	"testing"
	"time"

	"github.com/cmtls/cmtls/pki/pkitest"
)

// TestUnfitSaysExpiredOn: an expired certificate reads "expired on DATE",
// one about to expire "expires DATE, within 30 days".
func TestUnfitSaysExpiredOn(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	ca := pkitest.NewCA(t, "Test CA")
	expired, _ := ca.Leaf(t, "cm1.example.com", []string{"cm1.example.com"}, now.AddDate(-1, 0, 0), time.Date(2020, 1, 31, 0, 0, 0, 0, time.UTC))
	soon, _ := ca.Leaf(t, "cm1.example.com", []string{"cm1.example.com"}, now.AddDate(-1, 0, 0), now.AddDate(0, 0, 10))
	if got := unfit(expired, "cm1.example.com", now); got != "it expired on 2020-01-31" {
		t.Fatalf("expired: %q", got)
	}
	if got := unfit(soon, "cm1.example.com", now); !strings.Contains(got, "expires 2026-12-17, within 30 days") {
		t.Fatalf("soon: %q", got)
	}
}
