package storage

import (
	"fmt"
	"io"
	"time"
)

// The slow-upload rule (issue 20, docs/memory-budget.md). An upload holds its
// part buffers until it ends, and the data connection's stall timeout only
// sees silence, so a client that sends a byte every few seconds could keep a
// part buffer for ever. Giving the buffer back is not possible without losing
// the bytes already in it, so instead, while anybody waits for the memory
// budget, an upload whose client sends less than MinUploadRate ends with
// ErrTooSlow (426, the multipart upload aborted, nothing stored). While
// nobody waits, a slow client costs nobody anything and is left alone.
//
// The rate counts only the time spent waiting for the client (inside Read),
// not the time the upload waits for S3 or for memory, so a slow S3 never
// makes a client look slow.

// rateChecked wraps an upload's data stream with the rule; r is returned as
// it is when the rule is off.
func (b *Backend) rateChecked(r io.Reader) io.Reader {
	if b.opts.MinUploadRate <= 0 {
		return r
	}
	return &rateReader{r: r, mem: b.mem, min: b.opts.MinUploadRate, window: b.opts.UploadRateWindow}
}

type rateReader struct {
	r      io.Reader
	mem    *Memory
	min    int64 // bytes per second
	window time.Duration
	waited time.Duration // in Read since the window began
	got    int64         // bytes since the window began
}

func (c *rateReader) Read(p []byte) (int, error) {
	start := time.Now()
	n, err := c.r.Read(p)
	c.waited += time.Since(start)
	c.got += int64(n)
	if c.waited < c.window {
		return n, err
	}
	if float64(c.got) < float64(c.min)*c.waited.Seconds() && c.mem.endSlow() {
		return n, fmt.Errorf("%d bytes in %s, under %d bytes/s: %w", c.got, c.waited.Round(time.Millisecond), c.min, ErrTooSlow)
	}
	c.waited, c.got = 0, 0
	return n, err
}
