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
	_, err := checkActive(ctrl, target, d.dialPeer)
	if err != nil {
		d.activeRefused.Add(1)
	}
	return err
}

// checkActive returns the address an accepted PORT/EPRT target is dialled at.
// That is always the control connection's peer: with dialPeer, a target that
// names a private address other than the peer's (a client behind NAT, or on
// the Docker host, names the address it knows, not the one the gateway sees)
// is taken to mean the peer, at the port it names. Bounce protection is the
// same either way: the gateway connects to nobody but its client, at a port
// of 1024 or more.
func checkActive(ctrl session.ConnInfo, target *net.TCPAddr, dialPeer bool) (*net.TCPAddr, error) {
	if ctrl.Remote == nil || target == nil {
		return nil, fmt.Errorf("%w: no address", session.ErrActiveRefused)
	}
	if !target.IP.Equal(ctrl.Remote.IP) && !(dialPeer && privateFor(target.IP, ctrl.Remote.IP)) {
		return nil, fmt.Errorf("%w: the address must be your own (%s), not %s", session.ErrActiveRefused, ctrl.Remote.IP, target.IP)
	}
	if target.Port < 1024 {
		return nil, fmt.Errorf("%w: port %d is below 1024", session.ErrActiveRefused, target.Port)
	}
	// EPRT carries no zone; a link-local peer is on the control connection's.
	return &net.TCPAddr{IP: ctrl.Remote.IP, Port: target.Port, Zone: ctrl.Remote.Zone}, nil
}

// cgnat is the shared address space of carrier-grade NAT (RFC 6598).
var cgnat = &net.IPNet{IP: net.IPv4(100, 64, 0, 0).To4(), Mask: net.CIDRMask(10, 32)}

// privateFor says whether named is an address that only means something
// behind a NAT or on one host (private, loopback, link-local, CGNAT,
// unspecified), of the peer's family: what a client names when it does not
// know the address the gateway sees. A public address that is not the peer's
// is someone else's and stays refused.
func privateFor(named, peer net.IP) bool {
	if (named.To4() == nil) != (peer.To4() == nil) {
		return false
	}
	return named.IsPrivate() || named.IsLoopback() || named.IsLinkLocalUnicast() ||
		named.IsUnspecified() || cgnat.Contains(named)
}

// DialActive connects to the client from the control connection's local
// address, within ctx (the session gives it the data timeout).
func (d *DataChannels) DialActive(ctx context.Context, ctrl session.ConnInfo, target *net.TCPAddr) (net.Conn, error) {
	to, err := checkActive(ctrl, target, d.dialPeer)
	if err != nil {
		return nil, err
	}
	if !to.IP.Equal(target.IP) {
		d.log.Debug("active data connection to the control connection's peer", "named", target.String(), "dialled", to.String())
	}
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
