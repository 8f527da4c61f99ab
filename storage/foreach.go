package storage

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// forEach runs fn for 0..n-1 with at most limit calls in flight. The first
// error cancels the ctx the other calls run with, and no call starts after it;
// every call has returned when forEach does. It returns the first error, or
// the cause of ctx ending while forEach ran.
func forEach(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i := range n {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if gctx.Err() != nil {
				return nil // ended while this call waited for a slot
			}
			return fn(gctx, i)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return context.Cause(ctx)
}
