package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
)

// Per-phase timing of W4 and W6 (issue 14 §1): where the time of one small STOR
// or RETR goes, on the client's side of the control connection, next to the time
// the gateway spends inside its one S3 request and the time of a direct request.
// jlaffaye/ftp hides its control connection, so these rows use phaseConn, a raw
// client that sends exactly what jlaffaye/ftp sends per file (EPSV, a new data
// connection, STOR or RETR, the data, then it waits for 226) and stamps each step.

// The phases of one file, in the order they happen; they add up to the file's
// latency.
const (
	phEPSV  = iota // EPSV sent → 229 received
	phDial         // data connection dialled → established
	phCmd          // STOR/RETR sent → 150 received
	phData         // STOR: data written and the connection closed; RETR: 150 → end of data
	phFinal        // → 226 received
	nPhases
)

var phaseNames = [nPhases]string{
	phEPSV:  "EPSV sent → 229 received",
	phDial:  "data connection established",
	phCmd:   "%s sent → 150 received",
	phData:  "data",
	phFinal: "→ 226 received",
}

// phaseLabel names phase p for a row whose command is cmd (STOR or RETR).
func phaseLabel(p int, cmd string) string {
	switch p {
	case phCmd:
		return fmt.Sprintf(phaseNames[p], cmd)
	case phData:
		if cmd == "STOR" {
			return "data written, data connection closed"
		}
		return "150 → last byte of data received"
	case phFinal:
		if cmd == "STOR" {
			return "data connection closed → 226 received"
		}
		return "last byte → 226 received"
	}
	return phaseNames[p]
}

type phaseTimes [nPhases]time.Duration

// phaseConn is a logged-in control connection driven by hand.
type phaseConn struct {
	conn net.Conn
	r    *bufio.Reader
	host string
}

func dialPhaseConn(addr, user, password string) (*phaseConn, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("dial ftp2s3: %w", err)
	}
	host, _, _ := net.SplitHostPort(addr)
	c := &phaseConn{conn: conn, r: bufio.NewReader(conn), host: host}
	if _, _, err := c.reply(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	for _, step := range []struct {
		cmd  string
		want int
	}{{"USER " + user, 331}, {"PASS " + password, 230}, {"TYPE I", 200}} {
		if _, err := c.expect(step.cmd, step.want); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return c, nil
}

func (c *phaseConn) send(cmd string) error {
	_ = c.conn.SetDeadline(time.Now().Add(60 * time.Second))
	_, err := io.WriteString(c.conn, cmd+"\r\n")
	return err
}

// reply reads one (possibly multi-line) reply.
func (c *phaseConn) reply() (int, string, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return 0, "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if len(line) < 4 {
		return 0, line, fmt.Errorf("short reply %q", line)
	}
	code, err := strconv.Atoi(line[:3])
	if err != nil {
		return 0, line, fmt.Errorf("bad reply %q", line)
	}
	if line[3] == '-' {
		end := line[:3] + " "
		for {
			more, err := c.r.ReadString('\n')
			if err != nil {
				return 0, line, err
			}
			if strings.HasPrefix(more, end) {
				break
			}
		}
	}
	return code, line, nil
}

// expect sends cmd and reads its reply, which must carry code want.
func (c *phaseConn) expect(cmd string, want int) (string, error) {
	if err := c.send(cmd); err != nil {
		return "", err
	}
	code, line, err := c.reply()
	if err != nil {
		return "", fmt.Errorf("%s: %w", strings.Fields(cmd)[0], err)
	}
	if code != want {
		return line, fmt.Errorf("%s: %s", strings.Fields(cmd)[0], line)
	}
	return line, nil
}

// noops sends n NOOPs and returns each one's round trip: the least a command
// costs through the gateway (its reader, its command loop, one reply), the floor
// under each phase that waits for a reply.
func (c *phaseConn) noops(n int) ([]time.Duration, error) {
	ds := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if _, err := c.expect("NOOP", 200); err != nil {
			return ds, err
		}
		ds = append(ds, time.Since(t0))
	}
	return ds, nil
}

func (c *phaseConn) quit() {
	_ = c.send("QUIT")
	_, _, _ = c.reply()
	_ = c.conn.Close()
}

// open runs EPSV and dials the data connection, stamping both phases.
func (c *phaseConn) open(ph *phaseTimes) (net.Conn, error) {
	t0 := time.Now()
	line, err := c.expect("EPSV", 229)
	if err != nil {
		return nil, err
	}
	t1 := time.Now()
	ph[phEPSV] = t1.Sub(t0)
	i, j := strings.Index(line, "|||"), strings.LastIndex(line, "|")
	if i < 0 || j <= i+3 {
		return nil, fmt.Errorf("EPSV: %q", line)
	}
	data, err := net.DialTimeout("tcp", net.JoinHostPort(c.host, line[i+3:j]), 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("data connection: %w", err)
	}
	ph[phDial] = time.Since(t1)
	_ = data.SetDeadline(time.Now().Add(60 * time.Second))
	return data, nil
}

// start sends cmd (STOR or RETR) and waits for its 150.
func (c *phaseConn) start(cmd string, data net.Conn, ph *phaseTimes) error {
	t0 := time.Now()
	if err := c.send(cmd); err != nil {
		return err
	}
	code, line, err := c.reply()
	ph[phCmd] = time.Since(t0)
	if err == nil && code != 150 && code != 125 {
		err = errors.New(line)
	}
	if err != nil {
		data.Close()
		return fmt.Errorf("%s: %w", cmd, err)
	}
	return nil
}

// final waits for the 226 that ends a transfer.
func (c *phaseConn) final(ph *phaseTimes) error {
	t0 := time.Now()
	code, line, err := c.reply()
	ph[phFinal] = time.Since(t0)
	if err == nil && code != 226 && code != 250 {
		err = errors.New(line)
	}
	return err
}

// stor uploads body to path.
func (c *phaseConn) stor(path string, body []byte) (phaseTimes, error) {
	var ph phaseTimes
	data, err := c.open(&ph)
	if err != nil {
		return ph, err
	}
	if err := c.start("STOR "+path, data, &ph); err != nil {
		return ph, err
	}
	t0 := time.Now()
	_, werr := data.Write(body)
	cerr := data.Close()
	ph[phData] = time.Since(t0)
	if err := errors.Join(werr, cerr, c.final(&ph)); err != nil {
		return ph, fmt.Errorf("STOR %s: %w", path, err)
	}
	return ph, nil
}

// retr downloads path into buf and returns the number of bytes.
func (c *phaseConn) retr(path string, buf []byte) (int, phaseTimes, error) {
	var ph phaseTimes
	data, err := c.open(&ph)
	if err != nil {
		return 0, ph, err
	}
	if err := c.start("RETR "+path, data, &ph); err != nil {
		return 0, ph, err
	}
	t0 := time.Now()
	n, rerr := readAllInto(data, buf)
	cerr := data.Close()
	ph[phData] = time.Since(t0)
	if err := errors.Join(rerr, cerr, c.final(&ph)); err != nil {
		return n, ph, fmt.Errorf("RETR %s: %w", path, err)
	}
	return n, ph, nil
}

// readAllInto reads r to its end into buf; more than len(buf) bytes is an error.
func readAllInto(r io.Reader, buf []byte) (int, error) {
	n := 0
	for {
		if n == len(buf) {
			var one [1]byte
			if m, _ := r.Read(one[:]); m > 0 {
				return n, errors.New("more data than expected")
			}
			return n, nil
		}
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// s3Timer records the duration of S3 operations of one client, for the row being
// measured: op is the whole SDK call (serialising, signing, checksums, retries,
// the round trip up to the response headers), http the HTTP round trip alone.
type s3Timer struct {
	mu   sync.Mutex
	ops  map[string]bool // the operations to record (PutObject, GetObject)
	op   []time.Duration
	http []time.Duration
	on   bool
}

// instrument returns a copy of client whose operations feed t.
func (t *s3Timer) instrument(client *s3.Client) *s3.Client {
	return s3.New(client.Options(), func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, t.middleware)
	})
}

func (t *s3Timer) middleware(st *middleware.Stack) error {
	err := st.Initialize.Add(middleware.InitializeMiddlewareFunc("benchTimeOp",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			start := time.Now()
			out, md, err := next.HandleInitialize(ctx, in)
			t.record(middleware.GetOperationName(ctx), false, time.Since(start))
			return out, md, err
		}), middleware.Before)
	if err != nil {
		return err
	}
	// Last of the deserialize step: right around the HTTP client's round trip.
	return st.Deserialize.Add(middleware.DeserializeMiddlewareFunc("benchTimeHTTP",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			start := time.Now()
			out, md, err := next.HandleDeserialize(ctx, in)
			t.record(middleware.GetOperationName(ctx), true, time.Since(start))
			return out, md, err
		}), middleware.After)
}

func (t *s3Timer) record(op string, http bool, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.on || !t.ops[op] {
		return
	}
	if http {
		t.http = append(t.http, d)
	} else {
		t.op = append(t.op, d)
	}
}

// begin starts recording ops; end stops and returns what was recorded.
func (t *s3Timer) begin(ops ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ops, t.op, t.http, t.on = map[string]bool{}, nil, nil, true
	for _, o := range ops {
		t.ops[o] = true
	}
}

func (t *s3Timer) end() (op, http []time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.on = false
	return t.op, t.http
}
