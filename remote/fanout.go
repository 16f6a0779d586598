package remote

import (
	"context"
	"fmt"
	"sync"
)

// FanOut calls fn for every item with at most parallelism calls at once and
// returns one error per item (nil for success), in the items' order. One
// item's failure never stops the others; a panic in fn becomes that item's
// error. When ctx is cancelled, items not yet started get ctx's error
// without being started, and FanOut waits for the running ones to return.
func FanOut[T any](ctx context.Context, items []T, parallelism int, fn func(ctx context.Context, item T) error) []error {
	errs := make([]error, len(items))
	if parallelism < 1 {
		parallelism = 1
	}
	sem := make(chan struct{}, parallelism)
	var wg sync.WaitGroup
	for i, it := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			for j := i; j < len(items); j++ {
				errs[j] = ctx.Err()
			}
			wg.Wait()
			return errs
		}
		if err := ctx.Err(); err != nil {
			<-sem
			for j := i; j < len(items); j++ {
				errs[j] = err
			}
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			defer func() {
				if r := recover(); r != nil {
					errs[i] = fmt.Errorf("internal error: %v", r)
				}
			}()
			errs[i] = fn(ctx, it)
		}()
	}
	wg.Wait()
	return errs
}
