package session

import (
	"bufio"
	"fmt"
	"io"
	"time"

	"github.com/ftp2s3/ftp2s3/storage"
)

func newListWriter(w io.Writer) *bufio.Writer { return bufio.NewWriterSize(w, 64<<10) }

// now is replaceable in tests so that the ls -l date format is deterministic.
var now = time.Now

// formatLIST writes e as one line of Unix "ls -l" output, the format FileZilla,
// WinSCP, curl, lftp and Python's ftplib parse: the time of day for the last six
// months, the year before that.
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
	t := e.ModTime.UTC()
	stamp := t.Format("Jan _2 15:04")
	if n := now().UTC(); t.Before(n.AddDate(0, -6, 0)) || t.After(n.Add(24*time.Hour)) {
		stamp = t.Format("Jan _2  2006")
	}
	_, err := fmt.Fprintf(w, "%s 1 ftp ftp %13d %s %s\r\n", mode, e.Size, stamp, e.Name)
	return err
}

// formatMLSD writes e as an RFC 3659 §7 fact line: "fact=value;…; name".
func formatMLSD(w io.Writer, e storage.Entry, readOnly bool) error {
	modify := e.ModTime.UTC().Format("20060102150405")
	var err error
	if e.IsDir {
		perm := "flcdmpe"
		if readOnly {
			perm = "el"
		}
		_, err = fmt.Fprintf(w, "type=dir;modify=%s;perm=%s; %s\r\n", modify, perm, e.Name)
	} else {
		perm := "adfrw"
		if readOnly {
			perm = "r"
		}
		_, err = fmt.Fprintf(w, "type=file;size=%d;modify=%s;perm=%s; %s\r\n", e.Size, modify, perm, e.Name)
	}
	return err
}
