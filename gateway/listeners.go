package gateway

import (
	"fmt"
	"net"
)

// listeners are the sockets a Gateway serves; a nil one is not configured.
// The Gateway opens them (Run, Serve) and they close with the servers on them.
type listeners struct {
	ctrl     net.Listener // FTP2S3_LISTEN
	implicit net.Listener // FTP2S3_TLS_LISTEN: implicit FTPS
	ops      net.Listener // FTP2S3_METRICS_LISTEN: /metrics, /healthz, /readyz
	events   net.Listener // FTP2S3_S3_EVENTS_LISTEN
}

// listenOn names one listener to open: the variable that configures it, its
// address ("" when not configured) and where it goes.
type listenOn struct {
	name string
	addr string
	l    *net.Listener
}

// open opens each listener that is configured and not open yet. On a failure
// it closes every listener ls holds, so the caller has nothing to clean up.
func (ls *listeners) open(specs ...listenOn) error {
	for _, sp := range specs {
		if sp.addr == "" || *sp.l != nil {
			continue
		}
		l, err := net.Listen("tcp", sp.addr)
		if err != nil {
			ls.close()
			return fmt.Errorf("%s: %w", sp.name, err)
		}
		*sp.l = l
	}
	return nil
}

func (ls *listeners) close() {
	for _, l := range []net.Listener{ls.ctrl, ls.implicit, ls.ops, ls.events} {
		if l != nil {
			_ = l.Close()
		}
	}
}
