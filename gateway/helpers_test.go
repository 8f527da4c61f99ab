package gateway

import (
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/session"
)

func sessionHome(t *testing.T, s string) session.Home {
	t.Helper()
	h, err := session.ParseHome(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// waitUntil fails the test unless cond holds within limit; the poll interval is
// only how often the state is looked at.
func waitUntil(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
