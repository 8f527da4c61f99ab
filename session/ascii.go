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
