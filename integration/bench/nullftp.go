package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// The protocol ceiling of the small-file rows (issue 24 §1): the same client as
// W4 and W6 (phaseConn) against nullFTP, a minimal FTP endpoint in this process
// that answers every command at once and discards what it is sent. What a file
// costs there is the FTP exchange alone (EPSV, a data connection, STOR or RETR,
// the 226) on this machine's loopback and scheduler: no gateway could move
// files faster over one session, so "ftp2s3/ceiling" is the share of the
// protocol's own floor the gateway reaches and "direct/ceiling" how S3 compares.

// nullFTP is the endpoint. It speaks USER, PASS, TYPE, EPSV, PASV, MKD, NOOP,
// STOR, RETR and QUIT, enough for phaseConn and jlaffaye/ftp's Stor/Retr.
type nullFTP struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	conn map[net.Conn]struct{}
	// retrBody is what every RETR sends.
	retrBody []byte
}

func startNullFTP(retrSize int) (*nullFTP, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("null FTP endpoint: %w", err)
	}
	s := &nullFTP{ln: ln, conn: map[net.Conn]struct{}{}, retrBody: smallFile(retrSize, 0)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !s.track(c, true) {
				c.Close()
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer s.track(c, false)
				defer c.Close()
				s.session(c)
			}()
		}
	}()
	return s, nil
}

func (s *nullFTP) addr() string { return s.ln.Addr().String() }

// track registers or forgets a control connection; it refuses new ones once
// the endpoint is closed.
func (s *nullFTP) track(c net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.conn, c)
		return true
	}
	if s.conn == nil {
		return false
	}
	s.conn[c] = struct{}{}
	return true
}

// close stops the endpoint and waits for its sessions.
func (s *nullFTP) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conn {
		c.Close()
	}
	s.conn = nil
	s.mu.Unlock()
	s.wg.Wait()
}

// session serves one control connection. Like the gateway (its passive
// listeners stay open between reservations, gateway/datachan/pool.go), it
// keeps one data listener for the whole session, so no listen per file is
// counted against the ceiling either.
func (s *nullFTP) session(c net.Conn) {
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	reply := func(format string, args ...any) bool {
		fmt.Fprintf(w, format+"\r\n", args...)
		return w.Flush() == nil
	}
	var data net.Listener
	defer func() {
		if data != nil {
			data.Close()
		}
	}()
	if !reply("220 null FTP endpoint") {
		return
	}
	for {
		_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd, _, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		ok := true
		switch strings.ToUpper(cmd) {
		case "USER":
			ok = reply("331 password please")
		case "PASS":
			ok = reply("230 logged in")
		case "TYPE":
			ok = reply("200 type set")
		case "NOOP":
			ok = reply("200 ok")
		case "MKD":
			ok = reply("257 created")
		case "FEAT":
			ok = reply("211 no features")
		case "EPSV", "PASV":
			if data == nil {
				data, err = net.Listen("tcp", "127.0.0.1:0")
			}
			if data == nil {
				ok = reply("425 %v", err)
				break
			}
			port := data.Addr().(*net.TCPAddr).Port
			if strings.EqualFold(cmd, "EPSV") {
				ok = reply("229 Entering Extended Passive Mode (|||%d|)", port)
			} else {
				ok = reply("227 Entering Passive Mode (127,0,0,1,%d,%d)", port>>8, port&0xff)
			}
		case "STOR", "RETR":
			ok = s.transfer(data, strings.EqualFold(cmd, "STOR"), reply)
		case "QUIT":
			reply("221 bye")
			return
		default:
			ok = reply("502 not here")
		}
		if !ok {
			return
		}
	}
}

// transfer accepts the data connection, then discards what a STOR sends or
// sends retrBody for a RETR, and answers 226.
func (s *nullFTP) transfer(data net.Listener, stor bool, reply func(string, ...any) bool) bool {
	if data == nil {
		return reply("425 use EPSV first")
	}
	if !reply("150 go ahead") {
		return false
	}
	dc, err := data.Accept()
	if err != nil {
		return reply("425 %v", err)
	}
	_ = dc.SetDeadline(time.Now().Add(time.Minute))
	if stor {
		_, err = io.Copy(io.Discard, dc)
	} else {
		_, err = dc.Write(s.retrBody)
	}
	if cerr := dc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return reply("426 %v", err)
	}
	return reply("226 done")
}

// ceilingFiles runs W4's (stor) or W6's loop over one session against the null
// endpoint, recording each file as the row's ceiling.
func (b *bench) ceilingFiles(stor bool) (time.Duration, error) {
	c, err := dialPhaseConn(b.null.addr(), b.user, b.password)
	if err != nil {
		return 0, err
	}
	defer c.quit()
	buf := make([]byte, smallSize)
	return timed(func() error {
		for i := range b.opts.files {
			t0 := time.Now()
			var ph phaseTimes
			var err error
			if stor {
				ph, err = c.stor(fmt.Sprintf("/ceiling/f%05d", i), smallFile(smallSize, i))
			} else {
				var n int
				n, ph, err = c.retr(fmt.Sprintf("/ceiling/f%05d", i), buf)
				if err == nil && n != smallSize {
					err = fmt.Errorf("null RETR gave %d bytes", n)
				}
			}
			if err != nil {
				return fmt.Errorf("null endpoint, file %d: %w", i, err)
			}
			b.lat.addCeiling(time.Since(t0), ph)
		}
		return nil
	})
}

func (b *bench) w4Ceiling(int) (time.Duration, error) { return b.ceilingFiles(true) }
func (b *bench) w6Ceiling(int) (time.Duration, error) { return b.ceilingFiles(false) }
