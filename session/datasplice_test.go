package session

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// TestDataConnSpliceDest: a plain TCP data connection offers its socket for
// spliced downloads with the data connection's own timeout, counter and
// error tags; a TLS one does not.
func TestDataConnSpliceDest(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			defer c.Close()
			_, _ = c.Read(make([]byte, 1))
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	state := &transferState{}
	dc := &dataConn{Conn: c, timeout: 7 * time.Second, state: state}
	d, ok := dc.SpliceDest()
	if !ok || d.Conn != c || d.Timeout != 7*time.Second {
		t.Fatalf("plain TCP: %+v %v", d, ok)
	}
	d.Moved(1234)
	if state.bytes.Load() != 1234 {
		t.Errorf("spliced bytes not counted: %d", state.bytes.Load())
	}
	if err := d.Err(os.ErrDeadlineExceeded); !errors.Is(err, errDataTimeout) {
		t.Errorf("a stall is tagged %v", err)
	}

	tlsConn := &dataConn{Conn: tls.Client(c, &tls.Config{}), timeout: time.Second, state: state}
	if _, ok := tlsConn.SpliceDest(); ok {
		t.Error("a TLS data connection offered its socket")
	}
}
