package steps

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// FanOut bounds its parallelism, gives one result per item, turns a panic
// into that item's error, and starts nothing once its context is done.
func TestFanOut(t *testing.T) {
	t.Parallel()
	items := []int{0, 1, 2, 3, 4, 5, 6, 7}
	var mu sync.Mutex
	running, peak := 0, 0
	errs := FanOut(context.Background(), items, 3, func(ctx context.Context, i int) error {
		mu.Lock()
		running++
		if running > peak {
			peak = running
		}
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		if i == 2 {
			return errors.New("two failed")
		}
		if i == 5 {
			panic("five")
		}
		return nil
	})
	if peak > 3 || peak < 2 {
		t.Fatalf("peak parallelism %d", peak)
	}
	for i, err := range errs {
		switch i {
		case 2:
			if err == nil || err.Error() != "two failed" {
				t.Fatalf("item 2: %v", err)
			}
		case 5:
			if err == nil || !strings.Contains(err.Error(), "five") {
				t.Fatalf("item 5: %v", err)
			}
		default:
			if err != nil {
				t.Fatalf("item %d: %v", i, err)
			}
		}
	}
	c, cancel := context.WithCancel(context.Background())
	cancel()
	errs = FanOut(c, items, 2, func(ctx context.Context, i int) error { t.Error("started after cancel"); return nil })
	for _, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled: %v", err)
		}
	}
}
