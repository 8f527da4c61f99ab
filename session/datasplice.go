package session

import (
	"net"

	"github.com/ftp2s3/ftp2s3/storage"
)

// SpliceDest lets a binary download move its bytes from S3 to a plain TCP data
// connection in the kernel (storage/splice.go), with the same stall timeout,
// byte counter and error tags as Write. A TLS data connection must encrypt
// every byte in the process, so it reports false.
func (c *dataConn) SpliceDest() (storage.SpliceDest, bool) {
	tc, ok := c.Conn.(*net.TCPConn)
	if !ok {
		return storage.SpliceDest{}, false
	}
	return storage.SpliceDest{
		Conn:    tc,
		Timeout: c.timeout,
		Moved:   func(n int64) { c.state.bytes.Add(n) },
		Err:     c.tag,
	}, true
}
