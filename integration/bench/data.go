package main

import (
	"io"
)

// patternBlock is 1 MiB of pseudo-random bytes made once with xorshift. Payloads
// repeat it, shifted by a per-stream seed, so generating data costs a memcpy at
// most (and nothing when the consumer takes the bytes through WriteTo).
var patternBlock = func() []byte {
	b := make([]byte, 1<<20)
	x := uint64(0x9E3779B97F4A7C15)
	for i := 0; i < len(b); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		for j := 0; j < 8; j++ {
			b[i+j] = byte(x >> (8 * j))
		}
	}
	return b
}()

// payload is a deterministic stream of n bytes that never touches the disk.
type payload struct {
	n, off int64
	seed   int64
}

func newPayload(n, seed int64) *payload { return &payload{n: n, seed: seed} }

func (p *payload) chunk(max int) []byte {
	if rem := p.n - p.off; int64(max) > rem {
		max = int(rem)
	}
	pos := int((p.off + p.seed*4099) % int64(len(patternBlock)))
	if max > len(patternBlock)-pos {
		max = len(patternBlock) - pos
	}
	return patternBlock[pos : pos+max]
}

func (p *payload) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	c := copy(b, p.chunk(len(b)))
	p.off += int64(c)
	return c, nil
}

// WriteTo hands out slices of the pattern itself: io.Copy into a socket then
// costs the client no copy at all.
func (p *payload) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for p.off < p.n {
		c, err := w.Write(p.chunk(1 << 20))
		p.off += int64(c)
		total += int64(c)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// smallFile is the content of the i-th small file of W4 and W6.
func smallFile(size int, i int) []byte {
	pos := (i * 4099) % (len(patternBlock) - size)
	return patternBlock[pos : pos+size]
}

// discardAt is an io.WriterAt that drops what it gets: the direct download's
// limit is S3 itself, not a local copy.
type discardAt struct{}

func (discardAt) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

// plainDiscard hides io.Discard's ReaderFrom so that io.CopyBuffer uses our large
// buffer instead of small reads.
type plainDiscard struct{}

func (plainDiscard) Write(p []byte) (int, error) { return len(p), nil }
