package session

import (
	"net"
	"sync"
)

// crypto/tls reads the connection under it into a buffer sized for the record
// it is assembling (about one or two records), so an upload over a PROT P data
// connection costs one read(2) — and, when the socket ran dry, one wake-up of
// the goroutine — per 16–32 KiB. readAhead sits under the data connection's
// tls.Conn and reads the socket in pieces of up to readAheadSize, from which
// crypto/tls then takes its records from memory: fewer system calls for one
// more copy (of data still in the cache). bench/results/notes-perftls2.md has
// the figures.

// readAheadSize is the largest read from the socket. The buffer is outside the
// memory budget and held only while it has data crypto/tls has not taken yet,
// so at most one per data connection that is receiving
// (docs/memory-budget.md, "Outside the budget").
var readAheadSize = 128 << 10 // a variable for BenchmarkTLSDataRead; 0 turns reading ahead off

var readAheadPool = sync.Pool{New: func() any { b := make([]byte, readAheadSize); return &b }}

// readAhead is the net.Conn under the recordBatcher of a PROT P data
// connection. Its Read is called by crypto/tls only, under the tls.Conn's
// input lock, so it needs no lock of its own.
type readAhead struct {
	net.Conn
	buf  *[]byte // from readAheadPool while it holds unread data, nil otherwise
	r, w int     // the unread data is (*buf)[r:w]
	err  error   // the error that came with the last piece, returned once it is taken
}

func (c *readAhead) Read(p []byte) (int, error) {
	if c.buf == nil {
		if c.err != nil {
			err := c.err
			c.err = nil
			return 0, err
		}
		if len(p) >= readAheadSize {
			return c.Conn.Read(p)
		}
		buf := readAheadPool.Get().(*[]byte)
		n, err := c.Conn.Read(*buf)
		if n <= len(p) {
			// Nothing to hold: hand it over and keep no buffer.
			n = copy(p, (*buf)[:n])
			readAheadPool.Put(buf)
			return n, err
		}
		c.buf, c.r, c.w, c.err = buf, 0, n, err
	}
	n := copy(p, (*c.buf)[c.r:c.w])
	c.r += n
	if c.r == c.w {
		// Drained: the buffer goes back, so an idle or finished connection
		// holds none. A connection closed with data still unread (an aborted
		// upload) leaves its buffer to the garbage collector.
		readAheadPool.Put(c.buf)
		c.buf = nil
	}
	return n, nil
}
