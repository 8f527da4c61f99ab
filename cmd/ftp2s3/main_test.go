package main

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

// reloader counts ReloadTLS calls on a channel.
type reloader chan struct{}

func (r reloader) ReloadTLS() error { r <- struct{}{}; return nil }

// TestSIGHUPReloadsTLS: a SIGHUP to the process reaches the gateway's
// ReloadTLS, once per signal, while the context lives.
func TestSIGHUPReloadsTLS(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := make(reloader, 4)
	reloadOnSIGHUP(ctx, r)
	for i := 1; i <= 2; i++ {
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		select {
		case <-r:
		case <-time.After(10 * time.Second):
			t.Fatalf("SIGHUP %d did not reach ReloadTLS", i)
		}
	}
}
