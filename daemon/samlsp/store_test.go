package samlsp

import (
	"testing"
	"time"
)

// Flooding /saml/login cannot lock real users out: the pending table stays
// bounded and the newest login is always kept.
func TestPendingTableBounded(t *testing.T) {
	t.Parallel()
	s := newStore()
	now := time.Now()
	for i := range maxPending + 100 {
		if err := s.addPending(string(rune(i))+"x"+time.Duration(i).String(), pendingAuthn{requestID: "t", expires: now.Add(time.Minute)}, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.addPending("mine", pendingAuthn{requestID: "me", expires: now.Add(time.Minute)}, now); err != nil {
		t.Fatal(err)
	}
	if len(s.authn) > maxPending {
		t.Fatalf("%d pending", len(s.authn))
	}
	if _, ok := s.takePending("mine", "me", now); !ok {
		t.Fatal("newest login dropped")
	}
}

func TestReplayCacheExpires(t *testing.T) {
	t.Parallel()
	s := newStore()
	now := time.Now()
	if err := s.markSeen([]string{"a"}, now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if err := s.markSeen([]string{"a"}, now.Add(time.Minute), now.Add(30*time.Second)); err == nil {
		t.Fatal("replay within the window accepted")
	}
	if err := s.markSeen([]string{"a"}, now.Add(3*time.Minute), now.Add(2*time.Minute)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}
