package storage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	smithytime "github.com/aws/smithy-go/time"
)

// The ListObjectsV2 answer, decoded as it arrives (issue 24 §2). The SDK's
// deserializer builds a token tree through encoding/xml and allocates a
// pointer per field: about 48,000 allocations and 2.7 MB per 1,000-key page
// (BenchmarkListPage), the largest part of the gateway's CPU in a cold
// listing. listDecoder reads the same document in one pass over a small
// buffer and keeps only what a listing uses: each object's key, size, time
// and ETag, the common prefixes, IsTruncated and NextContinuationToken. Keys
// and prefixes are URL-decoded here (the request asks for
// EncodingType=url, see listObjects).
//
// It accepts a subset of XML: what S3 and its look-alikes send (an XML
// declaration, elements with attributes, text with the five entities and
// character references, CDATA, comments). Anything else is an error, never a
// guess: whatever it accepts, encoding/xml reads the same way
// (FuzzListDecoder).

// listPage is one page of a ListObjectsV2 answer.
type listPage struct {
	objects   []listObject
	prefixes  []string // URL-decoded
	truncated bool
	next      string // NextContinuationToken, as S3 gave it
}

// listObject is one <Contents> element.
type listObject struct {
	key     string // URL-decoded
	etag    string // without its quotes
	size    int64
	modTime time.Time
}

// Limits that keep a hostile or broken answer from growing the decoder's
// buffers: the longest text or name it reads, and the deepest nesting.
const (
	maxListText  = 1 << 20
	maxListDepth = 64
)

// errListXML marks an answer the decoder does not accept.
var errListXML = errors.New("ListObjectsV2 answer not understood")

func listSyntax(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errListXML, fmt.Sprintf(format, args...))
}

// listDecoder decodes ListObjectsV2 answers; one is reused for the pages of a
// listing (not concurrently).
type listDecoder struct {
	r    *bufio.Reader
	raw  []byte // one text segment as read
	text []byte // the same after entities and line ends (raw, textBuf or the reader's buffer)
	// textBuf holds text decodeText rewrote; only it ever writes there.
	textBuf []byte
	field   []byte // the text of the field being read
	names   []byte // the names of the open elements, one after the other
	ends    []int  // where each open element's name ends in names
	// The last LastModified seen and its value: a page's objects often share
	// their time to the millisecond.
	lastTimeRaw []byte
	lastTime    time.Time
}

func newListDecoder() *listDecoder {
	return &listDecoder{r: bufio.NewReaderSize(nil, 32<<10)}
}

// What a field's text is, by where its element is.
type listField int

const (
	fieldNone listField = iota
	fieldKey
	fieldETag
	fieldSize
	fieldModTime
	fieldPrefix
	fieldTruncated
	fieldNext
)

// decode reads one ListBucketResult document from r into p (whose slices are
// reused). It stops at the root element's end and does not read past what
// the bufio.Reader buffered.
func (d *listDecoder) decode(r io.Reader, p *listPage) error {
	d.r.Reset(r)
	defer d.r.Reset(nil)
	d.names, d.ends = d.names[:0], d.ends[:0]
	p.objects, p.prefixes, p.truncated, p.next = p.objects[:0], p.prefixes[:0], false, ""
	if err := d.prolog(); err != nil {
		return err
	}
	// The root's start tag's '<' has been read.
	empty, err := d.startTag()
	if err != nil {
		return err
	}
	if string(d.top()) != "ListBucketResult" {
		return listSyntax("root element <%s>, want <ListBucketResult>", d.top())
	}
	if empty {
		return nil
	}
	field, fieldDepth := fieldNone, 0
	var parent listField // fieldKey for <Contents>, fieldPrefix for <CommonPrefixes>, at depth 2
	for {
		if err := d.textUntilTag(field != fieldNone && len(d.ends) == fieldDepth); err != nil {
			return err
		}
		b, err := d.r.ReadByte()
		if err != nil {
			return d.eof(err)
		}
		switch b {
		case '/':
			if err := d.endTag(); err != nil {
				return err
			}
			depth := len(d.ends) + 1 // of the element just closed
			if field != fieldNone && depth == fieldDepth {
				if err := d.setField(p, field); err != nil {
					return err
				}
				field = fieldNone
			}
			if depth == 2 {
				parent = fieldNone
			}
			if depth == 1 {
				return nil
			}
		case '!':
			cdata, err := d.bang()
			if err != nil {
				return err
			}
			if cdata && field != fieldNone && len(d.ends) == fieldDepth {
				d.field = append(d.field, d.text...)
			}
		case '?':
			return listSyntax("processing instruction inside the document")
		default:
			if err := d.r.UnreadByte(); err != nil {
				return err
			}
			empty, err := d.startTag()
			if err != nil {
				return err
			}
			depth := len(d.ends)
			if field != fieldNone {
				// An element inside a field: encoding/xml skips it, and so
				// does this decoder (its text is not the field's).
			} else if f := fieldAt(depth, parent, d.top()); f != fieldNone {
				field, fieldDepth = f, depth
				d.field = d.field[:0]
			} else if depth == 2 {
				switch string(d.top()) {
				case "Contents":
					parent = fieldKey
					p.objects = append(p.objects, listObject{})
				case "CommonPrefixes":
					parent = fieldPrefix
					p.prefixes = append(p.prefixes, "")
				}
			}
			if empty {
				d.pop()
				if field != fieldNone && depth == fieldDepth {
					if err := d.setField(p, field); err != nil {
						return err
					}
					field = fieldNone
				}
				if depth == 2 {
					parent = fieldNone
				}
			}
		}
	}
}

// fieldAt is the field an element named name at depth holds, below parent.
func fieldAt(depth int, parent listField, name []byte) listField {
	switch {
	case depth == 2:
		switch string(name) {
		case "IsTruncated":
			return fieldTruncated
		case "NextContinuationToken":
			return fieldNext
		}
	case depth == 3 && parent == fieldKey:
		switch string(name) {
		case "Key":
			return fieldKey
		case "ETag":
			return fieldETag
		case "Size":
			return fieldSize
		case "LastModified":
			return fieldModTime
		}
	case depth == 3 && parent == fieldPrefix:
		if string(name) == "Prefix" {
			return fieldPrefix
		}
	}
	return fieldNone
}

// setField stores the text of a field just closed (the last one wins, as in
// encoding/xml).
func (d *listDecoder) setField(p *listPage, f listField) error {
	v := d.field
	switch f {
	case fieldKey:
		k, err := urlDecode(v)
		if err != nil {
			return err
		}
		p.objects[len(p.objects)-1].key = k
	case fieldETag:
		p.objects[len(p.objects)-1].etag = string(bytes.Trim(v, `"`))
	case fieldSize:
		n, err := parseListSize(v)
		if err != nil {
			return err
		}
		p.objects[len(p.objects)-1].size = n
	case fieldModTime:
		if !bytes.Equal(v, d.lastTimeRaw) || len(v) == 0 {
			t, err := parseListTime(v)
			if err != nil {
				return err
			}
			d.lastTimeRaw, d.lastTime = append(d.lastTimeRaw[:0], v...), t
		}
		p.objects[len(p.objects)-1].modTime = d.lastTime
	case fieldPrefix:
		s, err := urlDecode(v)
		if err != nil {
			return err
		}
		p.prefixes[len(p.prefixes)-1] = s
	case fieldTruncated:
		t, err := parseListBool(v)
		if err != nil {
			return err
		}
		p.truncated = t
	case fieldNext:
		p.next = string(v)
	}
	return nil
}

// parseListSize reads <Size> as the SDK does (strconv.ParseInt), without a
// string for the common case of plain digits.
func parseListSize(v []byte) (int64, error) {
	if len(v) == 0 {
		return 0, nil
	}
	if len(v) <= 18 {
		var n int64
		for _, c := range v {
			if c < '0' || c > '9' {
				goto slow
			}
			n = n*10 + int64(c-'0')
		}
		return n, nil
	}
slow:
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, listSyntax("size %q: %v", v, err)
	}
	return n, nil
}

// parseListTime reads <LastModified> as the SDK does
// (smithytime.ParseDateTime), the usual "2006-01-02T15:04:05.000Z" without
// it.
func parseListTime(v []byte) (time.Time, error) {
	if len(v) == 0 {
		return time.Time{}, nil
	}
	if t, ok := parseMillisUTC(v); ok {
		return t, nil
	}
	t, err := smithytime.ParseDateTime(string(v))
	if err != nil {
		return time.Time{}, listSyntax("time %q: %v", v, err)
	}
	return t, nil
}

// parseMillisUTC parses exactly "YYYY-MM-DDThh:mm:ss.mmmZ" with a valid date.
func parseMillisUTC(v []byte) (time.Time, bool) {
	if len(v) != 24 || v[4] != '-' || v[7] != '-' || v[10] != 'T' || v[13] != ':' || v[16] != ':' || v[19] != '.' || v[23] != 'Z' {
		return time.Time{}, false
	}
	num := func(b []byte) (int, bool) {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(v[0:4])
	month, ok2 := num(v[5:7])
	day, ok3 := num(v[8:10])
	hour, ok4 := num(v[11:13])
	minute, ok5 := num(v[14:16])
	sec, ok6 := num(v[17:19])
	ms, ok7 := num(v[20:23])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, ms*int(time.Millisecond), time.UTC)
	if t.Day() != day { // 31 April: time.Date normalises, time.Parse refuses
		return time.Time{}, false
	}
	return t, true
}

// parseListBool reads <IsTruncated> as the SDK does (strconv.ParseBool).
func parseListBool(v []byte) (bool, error) {
	switch string(v) {
	case "true":
		return true, nil
	case "false", "":
		return false, nil
	}
	t, err := strconv.ParseBool(string(v))
	if err != nil {
		return false, listSyntax("IsTruncated %q", v)
	}
	return t, nil
}

// urlDecode undoes EncodingType=url as url.QueryUnescape does ("+" is a
// space), with one allocation: the result.
func urlDecode(v []byte) (string, error) {
	i := bytes.IndexAny(v, "%+")
	if i < 0 {
		return string(v), nil
	}
	out := make([]byte, 0, len(v))
	out = append(out, v[:i]...)
	for ; i < len(v); i++ {
		switch c := v[i]; c {
		case '+':
			out = append(out, ' ')
		case '%':
			if i+2 >= len(v) || !isHex(v[i+1]) || !isHex(v[i+2]) {
				return "", fmt.Errorf("undecodable key %q in the listing: bad escape", v)
			}
			out = append(out, unhex(v[i+1])<<4|unhex(v[i+2]))
			i += 2
		default:
			out = append(out, c)
		}
	}
	return string(out), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// eof turns the end of the body before the document's end into an error.
func (d *listDecoder) eof(err error) error {
	if err == io.EOF {
		return listSyntax("answer ends inside the document")
	}
	return &listReadError{err}
}

// listReadError is a failure to read the answer's body (the connection broke):
// worth another attempt, as the SDK's retryer judges (retry.go).
type listReadError struct{ err error }

func (e *listReadError) Error() string        { return "reading the ListObjectsV2 answer: " + e.err.Error() }
func (e *listReadError) Unwrap() error        { return e.err }
func (e *listReadError) RetryableError() bool { return true }

// prolog reads up to and including the root element's '<': white space, an
// XML declaration for UTF-8 version 1.0, comments.
func (d *listDecoder) prolog() error {
	first := true
	for {
		b, err := d.r.ReadByte()
		if err != nil {
			return d.eof(err)
		}
		if isXMLSpace(b) {
			first = false
			continue
		}
		if b != '<' {
			return listSyntax("text before the root element")
		}
		c, err := d.r.ReadByte()
		if err != nil {
			return d.eof(err)
		}
		switch c {
		case '?':
			if !first {
				return listSyntax("XML declaration not at the start")
			}
			if err := d.declaration(); err != nil {
				return err
			}
		case '!':
			cdata, err := d.bang()
			if err != nil {
				return err
			}
			if cdata {
				return listSyntax("CDATA before the root element")
			}
		default:
			return d.r.UnreadByte()
		}
		first = false
	}
}

// declaration reads "xml ...?>" after "<?", accepting version 1.0 and the
// UTF-8 encoding only (encoding/xml refuses the others without a
// CharsetReader).
func (d *listDecoder) declaration() error {
	d.raw = d.raw[:0]
	for {
		b, err := d.r.ReadByte()
		if err != nil {
			return d.eof(err)
		}
		d.raw = append(d.raw, b)
		if len(d.raw) > 512 {
			return listSyntax("XML declaration too long")
		}
		if bytes.HasSuffix(d.raw, []byte("?>")) {
			break
		}
	}
	decl := d.raw[:len(d.raw)-2]
	rest, ok := bytes.CutPrefix(decl, []byte("xml"))
	if !ok || len(rest) == 0 || !isXMLSpace(rest[0]) {
		return listSyntax("processing instruction before the root element")
	}
	// Every pseudo-attribute, each as name="value" or name='value'.
	seen := map[string]bool{}
	for {
		rest = bytes.TrimLeft(rest, " \t\r\n")
		if len(rest) == 0 {
			break
		}
		eq := bytes.IndexByte(rest, '=')
		if eq <= 0 || eq+1 >= len(rest) || (rest[eq+1] != '"' && rest[eq+1] != '\'') {
			return listSyntax("XML declaration %q", decl)
		}
		name := string(rest[:eq])
		q := rest[eq+1]
		end := bytes.IndexByte(rest[eq+2:], q)
		if end < 0 {
			return listSyntax("XML declaration %q", decl)
		}
		val := string(rest[eq+2 : eq+2+end])
		rest = rest[eq+3+end:]
		if seen[name] {
			return listSyntax("XML declaration %q", decl)
		}
		seen[name] = true
		switch name {
		case "version":
			if val != "1.0" {
				return listSyntax("XML version %q", val)
			}
		case "encoding":
			if val != "UTF-8" && val != "utf-8" {
				return listSyntax("XML encoding %q", val)
			}
		case "standalone":
		default:
			return listSyntax("XML declaration %q", decl)
		}
		if len(rest) > 0 && !isXMLSpace(rest[0]) {
			return listSyntax("XML declaration %q", decl)
		}
	}
	return nil
}

// bang reads what follows "<!": a comment (skipped) or a CDATA section (its
// text in d.text, and cdata true). Anything else (a DOCTYPE) is refused.
func (d *listDecoder) bang() (cdata bool, err error) {
	b, err := d.r.ReadByte()
	if err != nil {
		return false, d.eof(err)
	}
	switch b {
	case '-':
		if b, err = d.r.ReadByte(); err != nil {
			return false, d.eof(err)
		}
		if b != '-' {
			return false, listSyntax("malformed comment")
		}
		// Up to "--", which must be followed by '>' (as encoding/xml insists).
		prev := byte(0)
		for {
			b, err := d.r.ReadByte()
			if err != nil {
				return false, d.eof(err)
			}
			if prev == '-' && b == '-' {
				if b, err = d.r.ReadByte(); err != nil {
					return false, d.eof(err)
				}
				if b != '>' {
					return false, listSyntax(`"--" inside a comment`)
				}
				return false, nil
			}
			prev = b
		}
	case '[':
		for _, want := range []byte("CDATA[") {
			if b, err = d.r.ReadByte(); err != nil {
				return false, d.eof(err)
			}
			if b != want {
				return false, listSyntax("malformed CDATA section")
			}
		}
		d.raw = d.raw[:0]
		for !bytes.HasSuffix(d.raw, []byte("]]>")) {
			if err := d.appendThrough('>', "CDATA section"); err != nil {
				return false, err
			}
		}
		return true, d.decodeText(d.raw[:len(d.raw)-3], false)
	}
	return false, listSyntax("markup declaration inside the answer")
}

// appendThrough appends to d.raw up to and including the next delim, refusing
// more than maxListText bytes in d.raw (what names the construct).
func (d *listDecoder) appendThrough(delim byte, what string) error {
	for {
		chunk, err := d.r.ReadSlice(delim)
		d.raw = append(d.raw, chunk...)
		if len(d.raw) > maxListText {
			return listSyntax("%s too long", what)
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err != nil:
			return d.eof(err)
		}
		return nil
	}
}

// textUntilTag reads the text up to the next '<' (which it consumes) and
// checks it; when keep, it is the current field's.
func (d *listDecoder) textUntilTag(keep bool) error {
	d.raw = d.raw[:0]
	for {
		chunk, err := d.r.ReadSlice('<')
		if err == nil {
			chunk = chunk[:len(chunk)-1]
		}
		if len(d.raw) == 0 && err == nil {
			// The whole text in the reader's buffer: no copy.
			if err := d.decodeText(chunk, true); err != nil {
				return err
			}
			break
		}
		d.raw = append(d.raw, chunk...)
		if len(d.raw) > maxListText {
			return listSyntax("text too long")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return d.eof(err)
		}
		if err := d.decodeText(d.raw, true); err != nil {
			return err
		}
		break
	}
	if keep {
		d.field = append(d.field, d.text...)
		if len(d.field) > maxListText {
			return listSyntax("text too long")
		}
	}
	return nil
}

// decodeText puts raw's text into d.text: entities replaced (when entities;
// not in CDATA), "\r\n" and a lone "\r" read as "\n", and every character
// checked to be one XML allows, as encoding/xml does.
func (d *listDecoder) decodeText(raw []byte, entities bool) error {
	if entities && bytes.Contains(raw, []byte("]]>")) {
		return listSyntax(`"]]>" outside a CDATA section`)
	}
	plain := true
	for _, c := range raw {
		if c < 0x20 && c != '\n' && c != '\t' || c >= utf8.RuneSelf || c == '&' || c == '\r' {
			plain = false
			break
		}
	}
	if plain {
		d.text = raw
		return nil
	}
	out := d.textBuf[:0]
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '\r':
			out = append(out, '\n')
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
		case c == '&' && entities:
			end := bytes.IndexByte(raw[i:], ';')
			if end < 0 {
				return listSyntax("unterminated entity")
			}
			r, ok := entity(raw[i+1 : i+end])
			if !ok {
				return listSyntax("invalid entity &%s;", raw[i+1:i+end])
			}
			out = utf8.AppendRune(out, r)
			i += end
		default:
			out = append(out, c)
		}
	}
	for rest := out; len(rest) > 0; {
		r, size := utf8.DecodeRune(rest)
		if r == utf8.RuneError && size == 1 {
			return listSyntax("invalid UTF-8")
		}
		if !isXMLChar(r) {
			return listSyntax("character %U not allowed in XML", r)
		}
		rest = rest[size:]
	}
	d.textBuf, d.text = out, out
	return nil
}

// entity is the character an entity or character reference names (between
// '&' and ';').
func entity(name []byte) (rune, bool) {
	switch string(name) {
	case "lt":
		return '<', true
	case "gt":
		return '>', true
	case "amp":
		return '&', true
	case "apos":
		return '\'', true
	case "quot":
		return '"', true
	}
	if len(name) < 2 || name[0] != '#' {
		return 0, false
	}
	digits, base := name[1:], 10
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 || len(digits) > 8 {
		return 0, false
	}
	n := 0
	for _, c := range digits {
		switch {
		case '0' <= c && c <= '9':
			n = n*base + int(c-'0')
		case base == 16 && isHex(c):
			n = n*base + int(unhex(c))
		default:
			return 0, false
		}
	}
	r := rune(n)
	if n > utf8.MaxRune || !isXMLChar(r) {
		return 0, false
	}
	return r, true
}

// isXMLChar reports whether XML 1.0 allows r in a document.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

func isXMLSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\n' }

func isNameStart(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || b == '_' }

func isNameByte(b byte) bool {
	return isNameStart(b) || '0' <= b && b <= '9' || b == '-' || b == '.'
}

// name reads an element or attribute name (ASCII letters, digits, "_-.",
// and ':' in attribute names only) and returns the byte after it.
func (d *listDecoder) name(dst []byte, colon bool) ([]byte, byte, error) {
	// Most names are whole in the reader's buffer: scan them there.
	if buf, _ := d.r.Peek(d.r.Buffered()); len(buf) > 0 && isNameStart(buf[0]) {
		for i := 1; i < len(buf) && i <= 256; i++ {
			if c := buf[i]; !isNameByte(c) && !(colon && c == ':') {
				dst = append(dst, buf[:i]...)
				_, _ = d.r.Discard(i + 1)
				return dst, c, nil
			}
		}
	}
	b, err := d.r.ReadByte()
	if err != nil {
		return dst, 0, d.eof(err)
	}
	if !isNameStart(b) {
		return dst, 0, listSyntax("expected a name")
	}
	for {
		dst = append(dst, b)
		if len(dst) > 256 {
			return dst, 0, listSyntax("name too long")
		}
		if b, err = d.r.ReadByte(); err != nil {
			return dst, 0, d.eof(err)
		}
		if !isNameByte(b) && !(colon && b == ':') {
			return dst, b, nil
		}
	}
}

func (d *listDecoder) top() []byte {
	start := 0
	if n := len(d.ends); n > 1 {
		start = d.ends[n-2]
	}
	return d.names[start:d.ends[len(d.ends)-1]]
}

func (d *listDecoder) pop() {
	d.ends = d.ends[:len(d.ends)-1]
	if n := len(d.ends); n > 0 {
		d.names = d.names[:d.ends[n-1]]
	} else {
		d.names = d.names[:0]
	}
}

// startTag reads a start tag after its '<', pushes its name, checks its
// attributes, and reports whether it closed itself ("/>").
func (d *listDecoder) startTag() (empty bool, err error) {
	if len(d.ends) >= maxListDepth {
		return false, listSyntax("elements nested too deep")
	}
	var b byte
	if d.names, b, err = d.name(d.names, false); err != nil {
		return false, err
	}
	d.ends = append(d.ends, len(d.names))
	var attr []byte
	for {
		for isXMLSpace(b) {
			if b, err = d.r.ReadByte(); err != nil {
				return false, d.eof(err)
			}
		}
		switch b {
		case '>':
			return false, nil
		case '/':
			if b, err = d.r.ReadByte(); err != nil {
				return false, d.eof(err)
			}
			if b != '>' {
				return false, listSyntax("malformed empty element")
			}
			return true, nil
		}
		if err := d.r.UnreadByte(); err != nil {
			return false, err
		}
		if attr, b, err = d.name(attr[:0], true); err != nil {
			return false, err
		}
		if bytes.HasPrefix(attr, []byte(":")) || bytes.HasSuffix(attr, []byte(":")) || bytes.Count(attr, []byte(":")) > 1 {
			return false, listSyntax("attribute name %q", attr)
		}
		for isXMLSpace(b) {
			if b, err = d.r.ReadByte(); err != nil {
				return false, d.eof(err)
			}
		}
		if b != '=' {
			return false, listSyntax("attribute without a value")
		}
		if b, err = d.r.ReadByte(); err != nil {
			return false, d.eof(err)
		}
		for isXMLSpace(b) {
			if b, err = d.r.ReadByte(); err != nil {
				return false, d.eof(err)
			}
		}
		if b != '"' && b != '\'' {
			return false, listSyntax("attribute value without quotes")
		}
		d.raw = d.raw[:0]
		if err := d.appendThrough(b, "attribute"); err != nil {
			return false, err
		}
		val := d.raw[:len(d.raw)-1]
		if bytes.IndexByte(val, '<') >= 0 {
			return false, listSyntax("'<' in an attribute value")
		}
		if err := d.decodeText(val, true); err != nil {
			return false, err
		}
		if b, err = d.r.ReadByte(); err != nil {
			return false, d.eof(err)
		}
	}
}

// endTag reads an end tag after its "</" and pops the element it closes.
func (d *listDecoder) endTag() error {
	if len(d.ends) == 0 {
		return listSyntax("end tag outside the document")
	}
	var name []byte
	name, b, err := d.name(d.raw[:0], false)
	d.raw = name
	if err != nil {
		return err
	}
	for isXMLSpace(b) {
		if b, err = d.r.ReadByte(); err != nil {
			return d.eof(err)
		}
	}
	if b != '>' {
		return listSyntax("malformed end tag")
	}
	if !bytes.Equal(name, d.top()) {
		return listSyntax("<%s> closed by </%s>", d.top(), name)
	}
	d.pop()
	return nil
}
