package session

import (
	"bufio"
	"io"
	"strconv"
	"time"

	"github.com/ftp2s3/ftp2s3/storage"
)

func newListWriter(w io.Writer) *bufio.Writer { return bufio.NewWriterSize(w, 64<<10) }

// now is replaceable in tests so that the ls -l date format is deterministic.
var now = time.Now

// entryTime is the time a listing shows for e. Storage gives directories the
// newest time it saw; a zero time (an implicit directory with nothing to go by)
// would show as 1970 or year 1, which clients sort and mirror by, so it becomes
// the current time instead.
func entryTime(e storage.Entry) time.Time {
	if e.ModTime.IsZero() || e.ModTime.Unix() <= 0 {
		return now().UTC()
	}
	return e.ModTime.UTC()
}

// formatLIST writes e as one line of Unix "ls -l" output, the format FileZilla,
// WinSCP, curl, lftp and Python's ftplib parse: English month names, the time of
// day for the last six months and the year (right-aligned in the same five
// columns) for anything older or in the future, as GNU ls does.
func formatLIST(w io.Writer, e storage.Entry, readOnly bool) error {
	return writeLine(w, func(b []byte) []byte { return appendLIST(b, e, readOnly) })
}

// writeLine writes the line line appends, straight into w's free space when w
// is the listing's bufio.Writer: a listing of 100,000 keys formats its lines
// without an allocation each (issue 24 §2).
func writeLine(w io.Writer, line func([]byte) []byte) error {
	if bw, ok := w.(*bufio.Writer); ok {
		_, err := bw.Write(line(bw.AvailableBuffer()))
		return err
	}
	_, err := w.Write(line(nil))
	return err
}

// appendLIST appends formatLIST's line: fmt's "%s %3d ftp ftp %13d %s %s\r\n"
// of mode, links, size, time stamp and name.
func appendLIST(b []byte, e storage.Entry, readOnly bool) []byte {
	mode := "-rw-r--r--"
	if e.IsDir {
		mode = "drwxr-xr-x"
	}
	if readOnly {
		mode = "-r--r--r--"
		if e.IsDir {
			mode = "dr-xr-xr-x"
		}
	}
	t := entryTime(e)
	layout := "Jan _2 15:04"
	if n := now().UTC(); t.Before(n.AddDate(0, -6, 0)) || t.After(n.Add(time.Hour)) {
		layout = "Jan _2  2006"
	}
	links := int64(1)
	if e.IsDir {
		links = 2
	}
	b = append(b, mode...)
	b = append(b, ' ')
	b = appendPadded(b, links, 3)
	b = append(b, " ftp ftp "...)
	b = appendPadded(b, e.Size, 13)
	b = append(b, ' ')
	b = t.AppendFormat(b, layout)
	b = append(b, ' ')
	b = append(b, e.Name...)
	return append(b, "\r\n"...)
}

// appendPadded appends n right-aligned in width columns, as fmt's %<width>d.
func appendPadded(b []byte, n int64, width int) []byte {
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], n, 10)
	for range width - len(d) {
		b = append(b, ' ')
	}
	return append(b, d...)
}

// mlsxFacts are the RFC 3659 §7 facts the gateway reports, in FEAT order.
var mlsxFacts = []string{"type", "size", "modify", "perm"}

// formatFacts writes e as "fact=value;…; name" (RFC 3659 §7.2: each fact ends
// with ";", then exactly one space and the name), leaving out the facts in off.
// size is given for files only: a directory's size would be meaningless.
func formatFacts(w io.Writer, e storage.Entry, readOnly bool, off map[string]bool) error {
	return writeLine(w, func(b []byte) []byte { return appendFacts(b, e, readOnly, off) })
}

func appendFacts(b []byte, e storage.Entry, readOnly bool, off map[string]bool) []byte {
	for _, f := range mlsxFacts {
		if off[f] {
			continue
		}
		switch f {
		case "type":
			if e.IsDir {
				b = append(b, "type=dir;"...)
			} else {
				b = append(b, "type=file;"...)
			}
		case "size":
			if !e.IsDir {
				b = append(b, "size="...)
				b = strconv.AppendInt(b, e.Size, 10)
				b = append(b, ';')
			}
		case "modify":
			b = append(b, "modify="...)
			b = entryTime(e).AppendFormat(b, "20060102150405")
			b = append(b, ';')
		case "perm":
			b = append(b, "perm="...)
			b = append(b, mlsxPerm(e.IsDir, readOnly)...)
			b = append(b, ';')
		}
	}
	b = append(b, ' ')
	b = append(b, e.Name...)
	return append(b, "\r\n"...)
}

// mlsxPerm is the RFC 3659 §7.5.5 perm fact. Files can be appended to (a),
// deleted (d), renamed (f), read (r) and written (w); directories can have files
// created in them (c), be deleted (d), entered (e), renamed (f), listed (l), and
// have directories made in them (m) and their contents purged (p).
func mlsxPerm(dir, readOnly bool) string {
	switch {
	case dir && readOnly:
		return "el"
	case dir:
		return "cdeflmp"
	case readOnly:
		return "r"
	}
	return "adfrw"
}
