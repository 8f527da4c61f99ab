package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/session"
)

// TestHTTPAuthCacheKeepsConnectionApart: a cached yes answers only the same
// user, password, address and TLS state; a same-host redirect is followed.
func TestHTTPAuthCacheKeepsConnectionApart(t *testing.T) {
	var calls atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/login", http.StatusPermanentRedirect)
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer t" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(`{"home":"bkt/p","read_only":true}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	u, _ := url.Parse(srv.URL + "/old")
	a := NewHTTPAuth(HTTPAuthOptions{URL: u, Token: "t", Timeout: 5 * time.Second, CacheTTL: time.Minute, Log: quietLog()})
	login := func(addr string, tls bool, pw string) (*session.User, error) {
		ctx := session.WithLoginInfo(context.Background(), session.LoginInfo{Addr: netip.MustParseAddr(addr), TLS: tls})
		return a.Authenticate(ctx, "dev", pw)
	}
	usr, err := login("192.0.2.1", true, "pw")
	if err != nil || usr.Home != (session.Home{Bucket: "bkt", Prefix: "p"}) || !usr.ReadOnly {
		t.Fatalf("first login: %+v, %v", usr, err)
	}
	for _, c := range []struct {
		addr  string
		tls   bool
		pw    string
		calls int64
	}{
		{"192.0.2.1", true, "pw", 1},    // cached
		{"192.0.2.1", false, "pw", 2},   // not over TLS this time: ask
		{"192.0.2.2", true, "pw", 3},    // another address: ask
		{"192.0.2.1", true, "other", 4}, // another password: ask
	} {
		if _, err := login(c.addr, c.tls, c.pw); err != nil {
			t.Fatal(err)
		}
		if got := calls.Load(); got != c.calls {
			t.Fatalf("%+v: %d requests, want %d", c, got, c.calls)
		}
	}
	srv.Close()
	if _, err := login("192.0.2.9", true, "pw"); !errors.Is(err, session.ErrAuthUnavailable) {
		t.Fatalf("service gone: %v, want ErrAuthUnavailable", err)
	}
}
