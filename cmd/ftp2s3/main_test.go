package main

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestSIGHUPReloads: a SIGHUP to the process reaches the reload (the
// certificate and the users file), once per signal, while the context lives.
func TestSIGHUPReloads(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := make(chan struct{}, 4)
	reloadOnSIGHUP(ctx, func() { r <- struct{}{} })
	for i := 1; i <= 2; i++ {
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		select {
		case <-r:
		case <-time.After(10 * time.Second):
			t.Fatalf("SIGHUP %d did not reach the reload", i)
		}
	}
}
