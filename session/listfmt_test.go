package session

import (
	"strings"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/storage"
)

func TestFormatLISTDates(t *testing.T) {
	fixedClock(t)
	for _, tc := range []struct {
		name string
		e    storage.Entry
		want string
	}{
		{"zero-time directory shows now", storage.Entry{Name: "d", IsDir: true}, "drwxr-xr-x   2 ftp ftp             0 Nov 24 12:00 d\r\n"},
		{"epoch shows now", storage.Entry{Name: "e", ModTime: time.Unix(0, 0)}, "Nov 24 12:00 e\r\n"},
		{"five months ago: time of day", storage.Entry{Name: "f", ModTime: goldenNow.AddDate(0, -5, 0)}, "Jun 24 12:00 f\r\n"},
		{"seven months ago: year", storage.Entry{Name: "g", ModTime: goldenNow.AddDate(0, -7, 0)}, "Apr 24  2026 g\r\n"},
		{"next week: year", storage.Entry{Name: "h", ModTime: goldenNow.AddDate(0, 0, 7)}, "Dec  1  2026 h\r\n"},
		{"other zones print in UTC", storage.Entry{Name: "i", ModTime: time.Date(2026, 11, 1, 1, 0, 0, 0, time.FixedZone("X", 3*3600))}, "Oct 31 22:00 i\r\n"},
		{"names keep spaces", storage.Entry{Name: "  two  spaces ", Size: 7, ModTime: goldenNow}, "             7 Nov 24 12:00   two  spaces \r\n"},
	} {
		var b strings.Builder
		if err := formatLIST(&b, tc.e, false); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(b.String(), tc.want) {
			t.Errorf("%s: %q, want suffix %q", tc.name, b.String(), tc.want)
		}
	}
}

func TestFormatFacts(t *testing.T) {
	fixedClock(t)
	var b strings.Builder
	_ = formatFacts(&b, storage.Entry{Name: "a b;c=d", Size: 3, ModTime: goldenNow}, true, nil)
	_ = formatFacts(&b, storage.Entry{Name: "dir", IsDir: true}, true, map[string]bool{"perm": true})
	want := "type=file;size=3;modify=20261124120000;perm=r; a b;c=d\r\ntype=dir;modify=20261124120000; dir\r\n"
	if b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
}
