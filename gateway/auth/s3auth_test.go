package auth

import (
	"runtime"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/session"
	"github.com/ftp2s3/ftp2s3/storage"
)

// TestS3AuthBackendPerKeyPair: one storage per key pair (access key and
// secret hashed together), reused for every login, and at most
// maxIdentityBackends kept.
func TestS3AuthBackendPerKeyPair(t *testing.T) {
	a := NewS3Auth(nil, storage.Options{CacheEntries: 1000}, session.Home{}, 0)
	one, other := [32]byte{1}, [32]byte{2}
	b1 := a.backendFor(one, nil)
	if a.backendFor(one, nil) != b1 {
		t.Fatal("a second login with the same key pair got another storage")
	}
	if a.backendFor(other, nil) == b1 {
		t.Fatal("another key pair (a changed secret) got the first one's storage")
	}
	for i := range maxIdentityBackends + 10 {
		a.backendFor([32]byte{3, byte(i)}, nil)
	}
	if n := a.Backends(); n != maxIdentityBackends {
		t.Fatalf("%d storages kept, want %d", n, maxIdentityBackends)
	}
}

// TestS3AuthStartsNoGoroutine: the verified-key cache expires entries by their
// deadline, so an S3Auth (one per gateway) leaves nothing running once the
// gateway is gone; golang-lru's expirable cache would leave a sweeper each.
func TestS3AuthStartsNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 50 {
		_ = NewS3Auth(nil, storage.Options{CacheEntries: 1000}, session.Home{}, time.Minute)
	}
	if after := runtime.NumGoroutine(); after > before+5 {
		t.Fatalf("50 S3Auths left %d goroutines running (%d before)", after, before)
	}
}
