package uploadcheck

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/session"
)

func TestReasonIsOnePrintableBoundedLine(t *testing.T) {
	for _, c := range []struct{ ctype, body, want string }{
		{"text/plain", "virus found\r\nmore", "virus found"},
		{"", "bad\x00name\x1b[31m", "bad name [31m"},
		{"application/json", `{"reason":"wrong format: \u0007 CSV header"}`, "wrong format:   CSV header"},
		{"application/json", `not json`, "not json"},
		{"", "  \n", "refused by the upload check"},
		{"", "\xff\xfe", "refused by the upload check"},
	} {
		if got := Reason(c.ctype, []byte(c.body)); got != c.want {
			t.Errorf("Reason(%q, %q) = %q, want %q", c.ctype, c.body, got, c.want)
		}
	}
	long := Reason("", []byte(strings.Repeat("é", 500)))
	if len(long) > MaxReason || !strings.HasPrefix(long, "éé") || strings.ContainsRune(long, '\uFFFD') {
		t.Fatalf("a long reason: %d bytes %q", len(long), long[:20])
	}
}

func TestCheckUploadOutcomes(t *testing.T) {
	var status atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("Authorization %q", r.Header.Get("Authorization"))
		}
		_, _ = io.ReadAll(r.Body) // then the server notices the client leaving
		if status.Load() == 0 {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(int(status.Load()))
		_, _ = w.Write([]byte("no thanks"))
	}))
	defer srv.Close()
	c := &Checker{URL: srv.URL, Token: "tok", Timeout: 200 * time.Millisecond}
	ev := session.Event{Type: session.EventUploadCompleted, Bucket: "b", Key: "k"}
	for _, tc := range []struct {
		status int
		want   session.CheckOutcome
	}{{200, session.CheckPassed}, {204, session.CheckPassed}, {422, session.CheckRejected}, {503, session.CheckUnavailable}, {0, session.CheckUnavailable}} {
		status.Store(int32(tc.status))
		res := c.CheckUpload(context.Background(), ev, "http://example/get")
		if res.Outcome != tc.want {
			t.Errorf("HTTP %d: outcome %d, want %d (%v)", tc.status, res.Outcome, tc.want, res.Err)
		}
		if tc.want == session.CheckRejected && res.Reason != "no thanks" {
			t.Errorf("reason %q", res.Reason)
		}
		if tc.status == 0 && !errors.Is(res.Err, context.DeadlineExceeded) {
			t.Errorf("a checker that never answers: %v, want the timeout", res.Err)
		}
	}
	if st := c.Stats(); st != (Stats{Passed: 2, Rejected: 1, Unavailable: 2}) {
		t.Fatalf("stats %+v", st)
	}
}
