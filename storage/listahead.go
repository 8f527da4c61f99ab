package storage

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// listPagesAhead is listPages with S3's next page requested while fn handles the
// current one, so that a large listing costs the slower of S3's paging and the
// client's consumption instead of their sum (issue 24 §2). One goroutine, owned
// by this call, fetches at most one page ahead: it holds page n+1 until fn is
// done with page n and does not ask for n+2 before fn has taken n+1, so memory
// stays at two pages (2,000 keys at most) whatever the directory's size, and
// no request is made that a sequential walk would not make. An error fetching
// page n+1 is returned after fn has handled page n; when fn fails or ctx ends,
// the fetch in flight is cancelled and the goroutine is gone before this
// returns.
func (b *Backend) listPagesAhead(ctx context.Context, in *s3.ListObjectsV2Input, fn func(*s3.ListObjectsV2Output) error) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel (defers run last-in first-out)
	defer cancel()
	type result struct {
		page *s3.ListObjectsV2Output
		err  error
	}
	pages := make(chan result) // unbuffered: the fetcher waits here, one page ahead
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(pages)
		for {
			page, err := b.listObjects(ctx, in)
			select {
			case pages <- result{page, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || !aws.ToBool(page.IsTruncated) || aws.ToString(page.NextContinuationToken) == "" {
				return
			}
			next := *in
			next.ContinuationToken = page.NextContinuationToken
			in = &next
		}
	}()
	for r := range pages {
		if r.err != nil {
			return r.err
		}
		if err := fn(r.page); err != nil {
			return err
		}
		if !aws.ToBool(r.page.IsTruncated) || aws.ToString(r.page.NextContinuationToken) == "" {
			return nil
		}
	}
	// The fetcher closes pages without a result only when ctx ended while it
	// waited to hand one over; the walk is then incomplete.
	return ctx.Err()
}
