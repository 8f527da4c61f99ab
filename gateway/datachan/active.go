package datachan

import (
	"context"
	"fmt"
	"net"

	"github.com/ftp2s3/ftp2s3/session"
)

// CheckActive enforces RFC 2577 bounce protection: the data connection may only
// go back to the client itself, and never to a privileged port. Refusals are
// counted.
func (d *DataChannels) CheckActive(ctrl session.ConnInfo, target *net.TCPAddr) error {
	err := checkActive(ctrl, target)
	if err != nil {
		d.activeRefused.Add(1)
	}
	return err
}

func checkActive(ctrl session.ConnInfo, target *net.TCPAddr) error {
	if ctrl.Remote == nil || target == nil {
		return fmt.Errorf("%w: no address", session.ErrActiveRefused)
	}
	if !target.IP.Equal(ctrl.Remote.IP) {
		return fmt.Errorf("%w: the address must be your own (%s), not %s", session.ErrActiveRefused, ctrl.Remote.IP, target.IP)
	}
	if target.Port < 1024 {
		return fmt.Errorf("%w: port %d is below 1024", session.ErrActiveRefused, target.Port)
	}
	return nil
}

// DialActive connects to the client from the control connection's local
// address, within ctx (the session gives it the data timeout).
func (d *DataChannels) DialActive(ctx context.Context, ctrl session.ConnInfo, target *net.TCPAddr) (net.Conn, error) {
	if err := checkActive(ctrl, target); err != nil {
		return nil, err
	}
	// EPRT carries no zone; a link-local peer is on the control connection's.
	to := &net.TCPAddr{IP: target.IP, Port: target.Port, Zone: ctrl.Remote.Zone}
	var dialer net.Dialer
	if ctrl.Local != nil {
		dialer.LocalAddr = &net.TCPAddr{IP: ctrl.Local.IP, Zone: ctrl.Local.Zone}
	}
	c, err := dialer.DialContext(ctx, "tcp", to.String())
	if err != nil {
		return nil, fmt.Errorf("active data connection to %s: %w", to, err)
	}
	return c, nil
}
