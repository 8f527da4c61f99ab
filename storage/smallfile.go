package storage

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
)

// Small files cost S3 round trips, not bandwidth: each request the FTP semantics
// ask for (does it exist, is it a directory, does its directory exist) costs
// about as much as the transfer itself (bench/results/ANALYSIS.md, W4 and W6).
// This file holds the small upload's one PutObject; the other shortcuts of
// docs/storage.md "Performance: small files" are Open's first GET, which is also the
// existence check (open.go), and the checks of a new upload answered from the
// metadata cache or asked while the data arrives (storetarget.go).

// smallPutLimit is the size up to which an upload is read into a buffer of its
// own size rather than a part buffer (PartSize, 16 MiB by default): most files of
// the small-file workloads are a few KiB, and sessions each holding a part
// buffer for one would take the memory budget (docs/storage.md "Transfers") sixteen
// times faster, limiting how many small uploads run at once. The buffers come
// from the budget's small share (Memory.getSmall).
const smallPutLimit = 1 << 20

// putSmallFirst is put for a stream that may be small: it reads up to
// smallPutLimit into a buffer of the budget's small share and stores that with
// one PutObject when the stream ends there; a longer stream goes on through put
// with what was read in front. When the small share is taken it is put.
func (b *Backend) putSmallFirst(ctx context.Context, bucket, key string, r io.Reader, opts PutOptions) (Entry, error) {
	if opts.SizeHint > smallPutLimit {
		return b.put(ctx, bucket, key, r, opts, sha256.New())
	}
	buf := b.mem.getSmall()
	if buf == nil {
		return b.put(ctx, bucket, key, r, opts, sha256.New())
	}
	n, err := io.ReadFull(r, buf)
	switch {
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		defer b.mem.putSmall(buf)
		h := sha256.New()
		h.Write(buf[:n])
		if b.smallPut != nil {
			return b.putPresigned(ctx, bucket, key, buf[:n], opts, hexSum(h))
		}
		return b.putSingle(ctx, bucket, key, buf[:n], opts, h)
	case err != nil:
		b.mem.putSmall(buf)
		return Entry{}, fmt.Errorf("read upload data: %w", err)
	}
	// put may wait for a part buffer while this one is held: safe, since the
	// parts pool never waits for the small share (see smallShare).
	head := &headReader{mem: b.mem, buf: buf, rest: r}
	defer head.release()
	return b.put(ctx, bucket, key, head, opts, sha256.New())
}

// headReader yields the bytes putSmallFirst read ahead, then the rest of the
// stream; the small buffer goes back to its share as soon as it is drained, so
// a large upload holds no more than its part buffers.
type headReader struct {
	mem  *Memory
	buf  []byte
	off  int
	rest io.Reader
}

func (h *headReader) Read(p []byte) (int, error) {
	if h.buf == nil {
		return h.rest.Read(p)
	}
	n := copy(p, h.buf[h.off:])
	if h.off += n; h.off == len(h.buf) {
		h.release()
	}
	return n, nil
}

func (h *headReader) release() {
	if h.buf != nil {
		h.mem.putSmall(h.buf)
		h.buf = nil
	}
}
