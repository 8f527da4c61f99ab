package storage

import (
	"testing"
	"time"
)

func TestMtimeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		text string
	}{
		{time.Unix(1577934245, 0), "1577934245"},
		{time.Unix(1577934245, 5e8), "1577934245.500000000"},
	} {
		if got := formatMtime(tc.t); got != tc.text {
			t.Errorf("format %v: %q, want %q", tc.t, got, tc.text)
		}
		if got, ok := parseMtime(tc.text); !ok || !got.Equal(tc.t) {
			t.Errorf("parse %q: %v %v", tc.text, got, ok)
		}
	}
	// rclone's nine-digit fraction and s3fs's whole seconds both read; junk
	// falls back to LastModified.
	if got, ok := parseMtime("1577934245.123"); !ok || got.Nanosecond() != 123e6 {
		t.Errorf("short fraction: %v %v", got, ok)
	}
	last := time.Unix(1, 0)
	if got := modTime(&last, map[string]string{MetaMtime: "yesterday"}); !got.Equal(last) {
		t.Errorf("junk mtime used: %v", got)
	}
	if got := modTime(&last, map[string]string{MetaMtime: "100"}); got.Unix() != 100 {
		t.Errorf("stored mtime ignored: %v", got)
	}
}
