package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()
	if got := probe(srv.URL, time.Second); got != 0 {
		t.Errorf("200: exit %d, want 0", got)
	}
	status = http.StatusServiceUnavailable
	if got := probe(srv.URL, time.Second); got != 1 {
		t.Errorf("503: exit %d, want 1", got)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if got := probe("http://"+addr+"/", time.Second); got != 1 {
		t.Errorf("nothing listening: exit %d, want 1", got)
	}
}
