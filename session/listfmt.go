package session

import (
	"bufio"
	"fmt"
	"io"
	"strings"
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
	stamp := t.Format("Jan _2 15:04")
	if n := now().UTC(); t.Before(n.AddDate(0, -6, 0)) || t.After(n.Add(time.Hour)) {
		stamp = t.Format("Jan _2  2006")
	}
	links := 1
	if e.IsDir {
		links = 2
	}
	_, err := fmt.Fprintf(w, "%s %3d ftp ftp %13d %s %s\r\n", mode, links, e.Size, stamp, e.Name)
	return err
}

// mlsxFacts are the RFC 3659 §7 facts the gateway reports, in FEAT order.
var mlsxFacts = []string{"type", "size", "modify", "perm"}

// formatFacts writes e as "fact=value;…; name" (RFC 3659 §7.2: each fact ends
// with ";", then exactly one space and the name), leaving out the facts in off.
// size is given for files only: a directory's size would be meaningless.
func formatFacts(w io.Writer, e storage.Entry, readOnly bool, off map[string]bool) error {
	var b strings.Builder
	for _, f := range mlsxFacts {
		if off[f] {
			continue
		}
		switch f {
		case "type":
			if e.IsDir {
				b.WriteString("type=dir;")
			} else {
				b.WriteString("type=file;")
			}
		case "size":
			if !e.IsDir {
				fmt.Fprintf(&b, "size=%d;", e.Size)
			}
		case "modify":
			b.WriteString("modify=" + entryTime(e).Format("20060102150405") + ";")
		case "perm":
			b.WriteString("perm=" + mlsxPerm(e.IsDir, readOnly) + ";")
		}
	}
	b.WriteString(" " + e.Name + "\r\n")
	_, err := io.WriteString(w, b.String())
	return err
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
