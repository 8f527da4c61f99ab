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
//
// Pages are fetched by listPageOf: the gateway's own request and decoder where
// the endpoint allows (presignlist.go). The fetcher decodes into two pages in
// turn: it refills one only after handing the other over, that is after fn
// returned from it.
func (b *Backend) listPagesAhead(ctx context.Context, in *s3.ListObjectsV2Input, fn func(*listPage) error) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel (defers run last-in first-out)
	defer cancel()
	type result struct {
		page *listPage
		err  error
	}
	pages := make(chan result) // unbuffered: the fetcher waits here, one page ahead
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(pages)
		var bufs [2]listPage
		for n := 0; ; n++ {
			page := &bufs[n%2]
			err := b.listPageOf(ctx, in, page)
			select {
			case pages <- result{page, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || !page.truncated || page.next == "" {
				return
			}
			next := *in
			next.ContinuationToken = aws.String(page.next)
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
		if !r.page.truncated || r.page.next == "" {
			return nil
		}
	}
	// The fetcher closes pages without a result only when ctx ended while it
	// waited to hand one over; the walk is then incomplete.
	return ctx.Err()
}
