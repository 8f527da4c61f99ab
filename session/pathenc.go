package session

import (
	"io"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/transform"
)

// Legacy code pages (FTP2S3_PATH_ENCODING, docs/legacy-clients.md "File names that are not
// UTF-8"). Keys in S3 are always UTF-8. A line that is valid UTF-8 is taken as
// UTF-8 (RFC 2640 clients, and ASCII, which every code page shares); any other
// line is decoded from the configured code page. Replies and listings go back in
// the code page until the client says OPTS UTF8 ON, so that an old client sees
// the names it sent. Without a code page nothing is converted and a name that is
// not UTF-8 is refused (paths.go).

// decodeLine turns a command line that is not UTF-8 into UTF-8.
func (s *Session) decodeLine(text string) string {
	enc := s.cfg.PathEncoding
	if enc == nil || utf8.ValidString(text) {
		return text
	}
	out, err := enc.NewDecoder().String(text)
	if err != nil {
		return text // paths.go refuses it as a name that is not UTF-8
	}
	return out
}

// legacyOut reports whether replies and listings go out in the code page.
func (s *Session) legacyOut() bool {
	return s.cfg.PathEncoding != nil && !s.utf8.Load()
}

// encodeText turns a reply into the client's code page; a character the code
// page lacks becomes the code page's substitute (SUB, 0x1A, in the Windows and
// ISO pages), never bytes the client would read as another name.
func (s *Session) encodeText(text string) string {
	if !s.legacyOut() || isASCII(text) {
		return text
	}
	out, err := encoding.ReplaceUnsupported(s.cfg.PathEncoding.NewEncoder()).String(text)
	if err != nil {
		return text
	}
	return out
}

// listingOutput wraps a listing's data connection so that names go out in the
// client's code page; close flushes what the encoder still holds.
func (s *Session) listingOutput(w io.Writer) (out io.Writer, close func() error) {
	if !s.legacyOut() {
		return w, func() error { return nil }
	}
	tw := transform.NewWriter(w, encoding.ReplaceUnsupported(s.cfg.PathEncoding.NewEncoder()))
	return tw, tw.Close
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
