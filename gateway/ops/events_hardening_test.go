package ops

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// TestEventsToken (issue 20 §1): with a token, only a request that carries it
// invalidates anything; the rest get 401 before their body is read.
func TestEventsToken(t *testing.T) {
	h := &EventsHandler{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Token: "t0ken-0123456789"}
	for _, tc := range []struct {
		name string
		set  func(r *http.Request)
		want int
	}{
		{"none", func(*http.Request) {}, http.StatusUnauthorized},
		{"wrong bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer t0ken-0123456788") }, http.StatusUnauthorized},
		{"prefix of the token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer t0ken") }, http.StatusUnauthorized},
		{"token without scheme", func(r *http.Request) { r.Header.Set("Authorization", "t0ken-0123456789") }, http.StatusUnauthorized},
		{"wrong basic password", func(r *http.Request) { r.SetBasicAuth("sns", "nope") }, http.StatusUnauthorized},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer t0ken-0123456789") }, http.StatusNoContent},
		{"bearer, lower case", func(r *http.Request) { r.Header.Set("Authorization", "bearer t0ken-0123456789") }, http.StatusNoContent},
		{"basic (SNS)", func(r *http.Request) { r.SetBasicAuth("sns", "t0ken-0123456789") }, http.StatusNoContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			h.Invalidate = func(b, k string) { got = append(got, b+"|"+k) }
			r := httptest.NewRequest(http.MethodPost, "/events", strings.NewReader(awsRecords))
			tc.set(r)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("HTTP %d, want %d", w.Code, tc.want)
			}
			if (tc.want == http.StatusNoContent) != (len(got) > 0) {
				t.Fatalf("HTTP %d invalidated %q", w.Code, got)
			}
		})
	}
}

// TestEventsRefusalLogIsRateLimited: a flood of bad requests writes one line
// per period, which then counts the lines left out.
func TestEventsRefusalLogIsRateLimited(t *testing.T) {
	var logs bytes.Buffer
	h := &EventsHandler{Log: slog.New(slog.NewTextHandler(&logs, nil)), Token: "t0ken-0123456789", Invalidate: func(_, _ string) {}}
	for range 50 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/events", strings.NewReader(awsRecords)))
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("HTTP %d, want 401", w.Code)
		}
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Fatalf("%d log lines for 50 refusals in a burst, want 1:\n%s", n, logs.String())
	}
}

// TestEventsBounds (issue 20 §1): names longer than S3 allows and bodies with
// too many records are refused whole (400, nothing invalidated).
func TestEventsBounds(t *testing.T) {
	record := func(bucket, key string) string {
		return fmt.Sprintf(`{"s3":{"bucket":{"name":%q},"object":{"key":%q}}}`, bucket, key)
	}
	records := func(n int) string {
		rs := make([]string, n)
		for i := range rs {
			rs[i] = record("b", fmt.Sprintf("k%d", i))
		}
		return `{"Records":[` + strings.Join(rs, ",") + `]}`
	}
	h := &EventsHandler{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"a 1,024-byte key", `{"Records":[` + record("b", strings.Repeat("k", 1024)) + `]}`, http.StatusNoContent},
		{"a 1,024-byte key, URL-encoded", `{"Records":[` + record("b", strings.Repeat("%2F", 1024)) + `]}`, http.StatusNoContent},
		{"a 1,025-byte key", `{"Records":[` + record("b", strings.Repeat("k", 1025)) + `]}`, http.StatusBadRequest},
		{"a 1,025-byte key, URL-encoded", `{"Records":[` + record("b", strings.Repeat("%2F", 1025)) + `]}`, http.StatusBadRequest},
		{"a 32 KiB nested key", `{"Records":[` + record("b", strings.Repeat("a/", 16384)) + `]}`, http.StatusBadRequest},
		{"a long key among good ones", `{"Records":[` + record("b", "ok") + "," + record("b", strings.Repeat("k", 2000)) + `]}`, http.StatusBadRequest},
		{"a 63-byte bucket", `{"Records":[` + record(strings.Repeat("b", 63), "k") + `]}`, http.StatusNoContent},
		{"a 64-byte bucket", `{"Records":[` + record(strings.Repeat("b", 64), "k") + `]}`, http.StatusBadRequest},
		{"EventBridge, long key", `{"source":"aws.s3","detail":{"bucket":{"name":"b"},"object":{"key":"` + strings.Repeat("k", 1025) + `"}}}`, http.StatusBadRequest},
		{"the most records", records(maxEventRecords), http.StatusNoContent},
		{"one record too many", records(maxEventRecords + 1), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, got := post(t, h, http.MethodPost, "/events", tc.body)
			if code != tc.want {
				t.Fatalf("HTTP %d, want %d", code, tc.want)
			}
			if tc.want != http.StatusNoContent && len(got) != 0 {
				t.Fatalf("a refused body invalidated %d keys", len(got))
			}
		})
	}
}

// TestEventsSubscribeURL (issue 20 §1): a subscription confirmation is taken
// (and its URL logged) only when the URL is an SNS endpoint's.
func TestEventsSubscribeURL(t *testing.T) {
	var logs bytes.Buffer
	h := &EventsHandler{Log: slog.New(slog.NewTextHandler(&logs, nil))}
	for _, tc := range []struct {
		url  string
		want int
	}{
		{"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t", http.StatusNoContent},
		{"https://sns.us-gov-west-1.amazonaws.com/?Action=ConfirmSubscription", http.StatusNoContent},
		{"http://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription", http.StatusBadRequest},
		{"https://sns.eu-west-1.amazonaws.com.evil.example/?Action=ConfirmSubscription", http.StatusBadRequest},
		{"https://evil.example/sns.eu-west-1.amazonaws.com/", http.StatusBadRequest},
		{"https://sns.eu-west-1.amazonaws.com@evil.example/", http.StatusBadRequest},
		{"https://user@sns.eu-west-1.amazonaws.com/", http.StatusBadRequest},
		{"https://sns.eu-west-1.amazonaws.com:8443/", http.StatusBadRequest},
		{"https://xsns.eu-west-1.amazonaws.com/", http.StatusBadRequest},
		{"https://sns..amazonaws.com/", http.StatusBadRequest},
		{"javascript:alert(1)", http.StatusBadRequest},
		{"", http.StatusBadRequest},
	} {
		logs.Reset()
		body := fmt.Sprintf(`{"Type":"SubscriptionConfirmation","TopicArn":"arn:aws:sns:eu-west-1:1:t","SubscribeURL":%q}`, tc.url)
		code, _ := post(t, h, http.MethodPost, "/events", body)
		if code != tc.want {
			t.Errorf("SubscribeURL %q: HTTP %d, want %d", tc.url, code, tc.want)
		}
		if logged := strings.Contains(logs.String(), "open SubscribeURL"); logged != (tc.want == http.StatusNoContent) {
			t.Errorf("SubscribeURL %q: confirmation logged %v", tc.url, logged)
		}
	}
}

// TestLimitListener: past n open connections Accept waits until one closes.
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := limitListener(inner, 1)
	defer l.Close()
	for range 2 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	// Every slot is taken: the next Accept waits on the slot channel.
	if lim := l.(*limited); len(lim.slots) != cap(lim.slots) {
		t.Fatalf("%d of %d slots taken with one connection open", len(lim.slots), cap(lim.slots))
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	_ = first.Close()
	_ = first.Close() // a second Close frees nothing more
	if c, ok := <-accepted; !ok {
		t.Fatal("Accept failed after the first connection closed")
	} else {
		c.Close()
	}
}

// TestEventsUnauthorizedClosesTheConnection: a stranger's connection is not
// kept alive to hold one of the listener's slots.
func TestEventsUnauthorizedClosesTheConnection(t *testing.T) {
	h := &EventsHandler{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Token: "t0ken-0123456789"}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/events", strings.NewReader(awsRecords)))
	if w.Code != http.StatusUnauthorized || w.Header().Get("Connection") != "close" {
		t.Fatalf("HTTP %d, Connection %q; want 401 and close", w.Code, w.Header().Get("Connection"))
	}
	// SNS answers a Basic challenge with the URL's user and password.
	if ch := w.Header().Values("WWW-Authenticate"); !slices.ContainsFunc(ch, func(v string) bool { return strings.HasPrefix(v, "Basic ") }) {
		t.Fatalf("WWW-Authenticate %q offers no Basic challenge", ch)
	}
}
