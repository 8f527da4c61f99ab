package session

import (
	"bufio"
	"bytes"
	"io"
)

// asciiReader turns the wire's CRLF line ends into LF for TYPE A uploads. A CR
// that is not followed by LF is kept.
type asciiReader struct {
	r       *bufio.Reader
	pending bool // a CR was held back at the end of the last read
}

// uploadReader is what an upload stores from its data connection: the bytes as
// sent under TYPE I, with CRLF turned into LF under TYPE A.
func uploadReader(conn io.Reader, binary bool) io.Reader {
	if binary {
		return conn
	}
	return newASCIIReader(conn)
}

func newASCIIReader(r io.Reader) *asciiReader { return &asciiReader{r: bufio.NewReaderSize(r, 64<<10)} }

func (a *asciiReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n := 0
	if a.pending {
		next, err := a.r.Peek(1)
		if err == nil && next[0] == '\n' {
			// CRLF split across reads: drop the CR.
		} else {
			p[0] = '\r'
			n = 1
		}
		a.pending = false
		if err != nil && err != io.EOF {
			return n, err
		}
	}
	m, err := a.r.Read(p[n:])
	chunk := p[n : n+m]
	out := n
	for i := 0; i < len(chunk); i++ {
		c := chunk[i]
		if c == '\r' {
			if i+1 < len(chunk) {
				if chunk[i+1] == '\n' {
					continue
				}
			} else {
				a.pending = true
				continue
			}
		}
		p[out] = c
		out++
	}
	if out == 0 && err == nil {
		return a.Read(p)
	}
	if err == io.EOF && a.pending {
		a.pending = false
		p[out] = '\r'
		out++
	}
	return out, err
}

// asciiWriter turns LF into CRLF for TYPE A downloads.
type asciiWriter struct {
	w *bufio.Writer
}

func newASCIIWriter(w io.Writer) *asciiWriter { return &asciiWriter{w: bufio.NewWriterSize(w, 64<<10)} }

func (a *asciiWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			n, err := a.w.Write(p)
			return written + n, err
		}
		if _, err := a.w.Write(p[:i]); err != nil {
			return written, err
		}
		if _, err := a.w.WriteString("\r\n"); err != nil {
			return written, err
		}
		written += i + 1
		p = p[i+1:]
	}
	return written, nil
}

// Flush sends what is buffered.
func (a *asciiWriter) Flush() error { return a.w.Flush() }

// asciiSize is the number of bytes a TYPE A download of the file would send (RFC
// 3659 §4: SIZE counts the transfer representation, here LF sent as CRLF). It
// reads the object, so it answers only up to maxHashCompute bytes.
func (s *Session) asciiSize(arg string, loc location, size int64) Reply {
	if size > maxHashCompute {
		return reply(codeActionNotTaken, "%s: SIZE in ASCII mode is not available for files over %d MiB; use TYPE I", arg, maxHashCompute>>20)
	}
	c := &lfCounter{}
	if _, err := getFile(s.ctx, s.fs, loc.bucket, loc.key, 0, &limitWriter{w: c, left: maxHashCompute}); err != nil {
		return errReply(err, arg)
	}
	return reply(codeFileStatus, "%d", c.n+c.lf)
}

// lfCounter counts bytes and line feeds.
type lfCounter struct{ n, lf int64 }

func (c *lfCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	c.lf += int64(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

// skipWriter drops the first skip bytes written to it. A TYPE A restart offset
// counts bytes of the CRLF stream the client received (RFC 3659 §5.3), which
// maps to no byte offset in the object, so the download starts at 0 and the
// converted stream is cut instead.
type skipWriter struct {
	w    io.Writer
	skip int64
}

func (s *skipWriter) Write(p []byte) (int, error) {
	n := len(p)
	if s.skip >= int64(n) {
		s.skip -= int64(n)
		return n, nil
	}
	p = p[s.skip:]
	s.skip = 0
	m, err := s.w.Write(p)
	return n - len(p) + m, err
}
