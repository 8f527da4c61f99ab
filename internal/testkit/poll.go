package testkit

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds or limit passes, and reports whether it
// held. The interval, 1 ms growing to 20 ms, is only how often the state is
// looked at: a test waits on a real signal, never on the clock.
func Eventually(limit time.Duration, cond func() bool) bool {
	interval := time.Millisecond
	for deadline := time.Now().Add(limit); !cond(); {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
		interval = min(2*interval, 20*time.Millisecond)
	}
	return true
}

// WaitUntil fails the test unless cond holds within limit.
func WaitUntil(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	if !Eventually(limit, cond) {
		t.Fatalf("timed out after %s waiting for %s", limit, what)
	}
}
