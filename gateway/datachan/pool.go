package datachan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway/clientaddr"
	"github.com/ftp2s3/ftp2s3/session"
)

// A passive port is shared: it may be reserved by many sessions at once as long
// as their clients have different IP addresses, because a data connection's
// source address says which session it is for (the same check that turns
// strangers away). Only two sessions from one address need different ports. So
// a range of N ports carries N transfers per client address, not N in all, and
// one client can only ever exhaust its own share (docs/networking.md "How many transfers a
// range supports").

// portKey is one listening socket: the control connection's local address
// (data connections arrive where the client reached us) and a port.
type portKey struct {
	local netip.Addr
	port  int
}

// sharedPort is a listening port of the range and the reservations on it, one
// per client address. Its accept loop runs as long as it listens: while it has
// a reservation, and for idleListen after its last one ended (see release).
type sharedPort struct {
	key   portKey
	l     *net.TCPListener
	peers map[netip.Addr]*passiveListener // guarded by DataChannels.mu
	// idleGen counts the port's idle periods (guarded by DataChannels.mu): the
	// idle timer of an earlier period, which a new reservation ended, finds
	// it changed and leaves the listener alone.
	idleGen uint64
	idle    *time.Timer // closes the idle listener; nil while reserved
}

// idleListen is how long a port's listener stays open after its last
// reservation ended, for the next reservation to reuse instead of opening a
// socket and starting an accept loop anew (0.1–0.2 ms of CPU per small file,
// bench/results/2026-11-29-2c-smallfiles-phases.md). Reservations go round the
// range, so a port is reused only once the range has gone round within this
// time: 20 reservations a second for the default 100 ports, the rates where the
// saving matters at all, while a gateway gone quiet stops listening within
// seconds. An idle port serves nobody: what it accepts is a stranger's.
const idleListen = 5 * time.Second

// passiveListener is one session's reservation of a shared port.
type passiveListener struct {
	owner      *DataChannels
	sp         *sharedPort
	peer       netip.Addr // the control connection's peer: the only address served
	client     netip.Addr // clientaddr.Key(peer), for the per-client budget
	advertised *net.TCPAddr
	expiry     *time.Timer
	conn       chan *net.TCPConn // the data connection, once it arrived (capacity 1)

	mu        sync.Mutex
	claimed   bool // a transfer is using the port: it no longer expires
	delivered bool // the reservation got its one connection
	closed    bool
	expired   bool
}

// ListenPassive reserves a port of the range for the control connection's
// peer, listening on the address the control connection came in on (behind
// NAT that is the address the translated data connection arrives at too). The
// reservation ends when the listener is closed, or by itself when no transfer
// has started to use it within twice the data timeout, so a client that sends
// PASV after PASV without transferring cannot hold ports.
func (d *DataChannels) ListenPassive(ctx context.Context, ctrl session.ConnInfo) (session.PassiveListener, error) {
	if ctrl.Local == nil || ctrl.Remote == nil {
		return nil, errors.New("passive listen: control connection has no TCP addresses")
	}
	advertised := d.advertisedIP(ctx, ctrl)
	p, err := d.reserve(ctx, ctrl)
	if err != nil {
		return nil, err
	}
	p.advertised = &net.TCPAddr{IP: advertised, Port: p.sp.key.port}
	p.mu.Lock() // expire takes the lock, so it cannot see p.expiry unset
	p.expiry = time.AfterFunc(d.expireAfter, p.expire)
	p.mu.Unlock()
	return p, nil
}

// reserve finds a port of the range that the peer holds no reservation on,
// sharing a port other clients listen on already or opening a free one, going
// round the range so that a just-released port rests a while.
func (d *DataChannels) reserve(ctx context.Context, ctrl session.ConnInfo) (*passiveListener, error) {
	local := clientaddr.FromTCP(ctrl.Local)
	peer := clientaddr.FromTCP(ctrl.Remote).WithZone("")
	client := clientaddr.Key(peer)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, fmt.Errorf("data channels closed: %w", session.ErrNoPassivePorts)
	}
	if d.maxPerClient > 0 && d.perClient[client] >= d.maxPerClient {
		// Sessions hold one reservation each, so this only trips if something
		// else goes wrong; the bound holds here whatever the session does.
		d.exhausted.Add(1)
		return nil, fmt.Errorf("%s holds %d passive ports, its FTP2S3_MAX_CONNECTIONS_PER_IP: %w",
			client, d.perClient[client], session.ErrNoPassivePorts)
	}
	n := d.ports.Hi - d.ports.Lo + 1
	for i := 0; i < n; i++ {
		port := d.ports.Lo + (d.next-d.ports.Lo+i)%n
		key := portKey{local: local, port: port}
		sp := d.open[key]
		if sp != nil && sp.peers[peer] != nil {
			continue // two sessions of one address must not share a port
		}
		if sp == nil {
			l, err := d.listen(ctx, netip.AddrPortFrom(local, uint16(port)).String())
			if err != nil {
				continue // taken by someone outside the gateway; try the next
			}
			sp = &sharedPort{key: key, l: l, peers: map[netip.Addr]*passiveListener{}}
			d.open[key] = sp
			d.loops.Add(1)
			go d.acceptLoop(sp)
		} else if len(sp.peers) == 0 {
			sp.idleGen++ // idle no longer: its timer, if it fires now, does nothing
			if sp.idle != nil {
				sp.idle.Stop()
				sp.idle = nil
			}
		}
		p := &passiveListener{owner: d, sp: sp, peer: peer, client: client, conn: make(chan *net.TCPConn, 1)}
		sp.peers[peer] = p
		d.perClient[client]++
		d.reserved++
		d.next = d.ports.Lo + (port-d.ports.Lo+1)%n
		return p, nil
	}
	d.exhausted.Add(1) // the session logs it, with its id
	return nil, fmt.Errorf("range %s, every port reserved by %s already: %w", d.ports, peer, session.ErrNoPassivePorts)
}

// release ends p's reservation. When it was the port's last, the port goes on
// listening for idleListen, for the next reservation to reuse (see idleListen),
// unless the pool is closed.
func (d *DataChannels) release(p *passiveListener) {
	d.mu.Lock()
	defer d.mu.Unlock()
	sp := p.sp
	if sp.peers[p.peer] != p {
		return
	}
	delete(sp.peers, p.peer)
	d.reserved--
	if d.perClient[p.client]--; d.perClient[p.client] <= 0 {
		delete(d.perClient, p.client)
	}
	if len(sp.peers) > 0 {
		return
	}
	if d.closed || d.idleAfter <= 0 {
		if d.open[sp.key] == sp {
			delete(d.open, sp.key)
		}
		_ = sp.l.Close() // ends acceptLoop
		return
	}
	sp.idleGen++
	gen := sp.idleGen
	sp.idle = time.AfterFunc(d.idleAfter, func() { d.closeIdle(sp, gen) })
}

// closeIdle stops the listener of a port that has had no reservation since
// its idle period gen began.
func (d *DataChannels) closeIdle(sp *sharedPort, gen uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.open[sp.key] != sp || len(sp.peers) > 0 || sp.idleGen != gen {
		return // reserved again, or closed with the pool
	}
	delete(d.open, sp.key)
	sp.idle = nil
	_ = sp.l.Close() // ends acceptLoop
	d.log.Debug("idle passive port stops listening", "port", sp.key.port, "idle", d.idleAfter.String())
}

// Close stops every passive port from listening, reserved or idle, and returns
// once every accept loop has ended; later reservations fail. The gateway's
// Server closes its data channels when its last session has ended.
func (d *DataChannels) Close() error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.done)
	}
	for key, sp := range d.open {
		if sp.idle != nil {
			sp.idle.Stop()
			sp.idle = nil
		}
		_ = sp.l.Close() // ends acceptLoop
		delete(d.open, key)
	}
	d.mu.Unlock()
	d.loops.Wait()
	return nil
}

// acceptLoop hands each connection to the reservation of its source address,
// and resets every other one, all of them while the port is idle. It ends when
// the listener is closed: idle for idleListen, or the pool closed.
func (d *DataChannels) acceptLoop(sp *sharedPort) {
	defer d.loops.Done()
	if d.loopEnded != nil {
		defer d.loopEnded(sp.key.port)
	}
	var backoff time.Duration
	for {
		c, err := sp.l.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and the like pass; the sessions' own timeouts bound the wait.
			d.log.Warn("passive accept failed; retrying", "port", sp.key.port, "err", err)
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
			case <-d.done: // closing: the next accept fails with ErrClosed
			}
			continue
		}
		backoff = 0
		var from netip.Addr // stays invalid, hence a stranger, if the peer is gone already
		fromText := "unknown"
		if ra, ok := c.RemoteAddr().(*net.TCPAddr); ok && ra != nil {
			from, fromText = clientaddr.FromTCP(ra).WithZone(""), ra.String()
		}
		d.mu.Lock()
		p := sp.peers[from]
		expected := sp.expected()
		d.mu.Unlock()
		if p != nil && p.deliver(c) {
			continue
		}
		d.strangers.Add(1)
		why, lim := "passive data connection from a stranger refused", d.strangerLog
		if p != nil {
			why, lim = "passive data connection refused: the session has its data connection already", d.secondLog
		}
		if ok, left := lim.Allow(time.Now()); ok {
			d.log.Warn(why, "port", sp.key.port, "from", fromText, "expected", expected, "not_logged", left)
		}
		_ = c.SetLinger(0) // reset, not a graceful close: the stranger gets nothing
		_ = c.Close()
	}
}

// expected names the addresses the port is waiting for, for the log line of a
// refused connection: at most a few, since a port may serve hundreds.
func (sp *sharedPort) expected() string {
	const most = 4
	var names []string
	for a := range sp.peers {
		if len(names) == most {
			names = append(names, fmt.Sprintf("and %d more", len(sp.peers)-most))
			break
		}
		names = append(names, a.String())
	}
	slices.Sort(names[:min(len(names), most)])
	return strings.Join(names, ",")
}

// deliver gives the reservation its data connection, unless it has one or is
// closed.
func (p *passiveListener) deliver(c *net.TCPConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.delivered {
		return false
	}
	p.delivered = true
	p.conn <- c // capacity 1, and only one delivery: never blocks
	return true
}

func (p *passiveListener) Advertised() *net.TCPAddr { return p.advertised }

// expire releases a reservation whose transfer command never came.
func (p *passiveListener) expire() {
	p.mu.Lock()
	if p.claimed || p.closed {
		p.mu.Unlock()
		return
	}
	p.expired = true
	p.mu.Unlock()
	// Released before it is counted, so that whoever sees the count sees
	// the port free (TestClaimedPortDoesNotExpire).
	_ = p.Close()
	p.owner.expired.Add(1)
	p.owner.log.Info("passive port released: no transfer used it", "port", p.sp.key.port, "after", p.owner.expireAfter.String())
}

// Accept waits for the control connection's peer to connect (it may have
// already, while the transfer command was on its way), until ctx ends.
func (p *passiveListener) Accept(ctx context.Context) (net.Conn, error) {
	p.mu.Lock()
	if p.expired {
		p.mu.Unlock()
		return nil, fmt.Errorf("passive port %d: %w", p.sp.key.port, session.ErrPassiveExpired)
	}
	p.claimed = true
	p.mu.Unlock()
	p.expiry.Stop()
	select {
	case c := <-p.conn:
		return c, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("passive port %d: %w", p.sp.key.port, ctx.Err())
	}
}

// Close ends the reservation, closing a data connection that arrived but was
// never accepted. Until then the port stays reserved for the peer even after
// its connection came, so no other session of that address can be handed the
// port while this one may still get a connection on it.
func (p *passiveListener) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.expiry.Stop()
	select {
	case c := <-p.conn:
		_ = c.Close()
	default:
	}
	p.owner.release(p)
	return nil
}
