package session

import (
	"net"
	"sync"
)

// Once its handshake is done, crypto/tls hands every record of a Write to the
// connection under it with a write of its own: 16 KiB of data per write(2),
// 65,536 system calls per GiB, and on loopback as many wake-ups of the reader.
// recordBatcher sits under the tls.Conn of a PROT P data connection and, only
// while tlsData.Write is encrypting a large buffer, gathers the records into
// one send of up to batchRecords records. The batch is always flushed before
// that Write returns, so no data is held past the call, and outside such a
// Write (the handshake, alerts, close_notify) every write goes straight
// through. bench/results/notes-perftls.md has the figures.

// tlsRecordMax is the largest TLS record on the wire: a 5-byte header, 16 KiB
// of data, the TLS 1.3 content type byte, a 16-byte AEAD tag, and room for
// TLS 1.2's 8-byte explicit nonce.
const tlsRecordMax = 5 + 16<<10 + 1 + 16 + 8

// batchRecords is how many full records one send carries. The buffer
// (batchRecords × tlsRecordMax, 64 KiB) is outside the memory budget, held
// only during a Write larger than one record, so at most one per data
// connection that is sending (docs/memory-budget.md, "Outside the budget").
// 4 records measured as well as 8 (bench/results/notes-perftls.md).
var batchRecords = 4 // a variable for BenchmarkTLSDataWrite

// batchMin is the smallest Write that is batched: anything that fits one record
// gains nothing from gathering.
var batchMin = 16<<10 + 1 // a variable for BenchmarkTLSDataWrite

var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, batchRecords*tlsRecordMax); return &b }}

// recordBatcher is the net.Conn under a data connection's tls.Conn.
type recordBatcher struct {
	net.Conn
	mu       sync.Mutex
	batching bool
	buf      *[]byte // from batchPool while a Write batches, nil otherwise
	err      error   // a failed flush: every later write fails with it
}

// Write is called by crypto/tls with one record (or, during the handshake, a
// flight of them) at a time.
func (b *recordBatcher) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if !b.batching {
		return b.Conn.Write(p)
	}
	buf := *b.buf
	if len(buf)+len(p) > cap(buf) {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		buf = *b.buf
	}
	if len(p) > cap(buf) {
		return b.Conn.Write(p)
	}
	*b.buf = append(buf, p...)
	return len(p), nil
}

// begin starts gathering records; end must follow before the caller returns.
func (b *recordBatcher) begin() {
	b.mu.Lock()
	b.batching = true
	if b.buf == nil {
		b.buf = batchPool.Get().(*[]byte)
	}
	b.mu.Unlock()
}

// end sends what was gathered and stops gathering. It returns the error of
// any send of gathered records since begin (crypto/tls saw only the last of
// them fail, if any), and keeps returning it: the stream is broken.
func (b *recordBatcher) end() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batching = false
	err := b.flushLocked()
	*b.buf = (*b.buf)[:0]
	batchPool.Put(b.buf)
	b.buf = nil
	return err
}

func (b *recordBatcher) flushLocked() error {
	buf := *b.buf
	if len(buf) == 0 || b.err != nil {
		*b.buf = buf[:0]
		return b.err
	}
	_, err := b.Conn.Write(buf)
	*b.buf = buf[:0]
	if err != nil {
		b.err = err
	}
	return err
}
