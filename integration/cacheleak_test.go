package integration

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/integration/miniotest"
)

// TestS3AuthManyKeyPairsBounded: under FTP2S3_AUTH=s3 the gateway keeps one
// storage (and metadata cache) per key pair for at most 64 of them
// (gateway/auth/s3auth.go). Logging in with 100 distinct key pairs, each
// listing its home so that its cache holds something, leaves the process
// within 10 goroutines of where it started (once the passive ports' idle
// listeners, gateway/datachan/pool.go idleListen, have closed): every dropped identity's cache
// used to keep a goroutine (expirable.LRU's sweeper) for the life of the
// process, so the count grew with the number of key pairs ever seen. The
// cached listings leave the shared listing budget one TTL later though no
// one asks for them again, and a session whose storage was let go meanwhile
// keeps working.
//
// It counts the goroutines of the whole test process, so it runs alone in a
// process of its own (inOwnProcess).
func TestS3AuthManyKeyPairsBounded(t *testing.T) {
	if !inOwnProcess(t) {
		return
	}
	const pairs = 100 // more than maxIdentityBackends
	const ttl = 2 * time.Second
	g := startGateway(t, s3AuthMode, func(c *gateway.Config) { c.CacheTTL = ttl })
	g.putObject("seen.txt", "x")
	tag := make([]byte, 4)
	_, _ = rand.Read(tag)
	type pair struct{ access, secret string }
	keys := make([]pair, pairs)
	for i := range keys {
		keys[i] = pair{fmt.Sprintf("cl%s%03d", hex.EncodeToString(tag), i), fmt.Sprintf("cacheleak-secret-%03d", i)}
		minioAddUser(t, keys[i].access, keys[i].secret, []map[string]any{
			iamAllow([]string{"s3:ListBucket"}, iamBucketARN(g.Bucket)),
		})
	}
	list := func(access, secret string) {
		t.Helper()
		c, err := dialFromAddr(t, g, "127.0.0.1", access, secret)
		if err != nil {
			t.Fatalf("login as %s: %v", access, err)
		}
		if names, err := c.NameList("/"); err != nil || len(names) != 1 {
			t.Fatalf("NLST as %s: %v, %v", access, names, err)
		}
		_ = c.Quit()
	}
	waitIdle := func() {
		t.Helper()
		waitUntil(t, "the sessions and their passive reservations to end", time.Minute, func() bool {
			return g.GW.Server.ActiveSessions() == 0 && g.GW.Data.Stats().Reservations == 0
		})
		dropIdleS3(t, g)
	}

	// The warm-up fills what is meant to stay (the S3 client's connections,
	// the root pair's identity), so that the baseline holds it too.
	list(miniotest.AccessKey, miniotest.SecretKey)
	waitIdle()
	baseG, baseF := steady(t)
	t.Logf("baseline: %d goroutines, %d open files", baseG, baseF)

	// The first pair's session stays open while the others push its storage
	// out of the 64 kept.
	held, err := dialFromAddr(t, g, "127.0.0.1", keys[0].access, keys[0].secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys[1:] {
		list(k.access, k.secret)
	}
	if names, err := held.NameList("/"); err != nil || len(names) != 1 {
		t.Fatalf("NLST in a session whose storage was let go: %v, %v", names, err)
	}
	_ = held.Quit()
	share := g.Backend.Options().CacheShare
	if share.Listed() == 0 {
		t.Fatal("no listing is cached after the logins: the test would prove nothing about what caches hold")
	}
	waitUntil(t, "the cached listings to leave the listing budget once expired", 10*ttl, func() bool { return share.Listed() == 0 })

	waitIdle()
	afterG, afterF, back := settle(t, baseG, baseF, 10, 60*time.Second)
	t.Logf("after %d key pairs: %d goroutines (baseline %d), %d open files (baseline %d)", pairs, afterG, baseG, afterF, baseF)
	if !back {
		buf := make([]byte, 1<<20)
		t.Logf("goroutines:\n%s", buf[:runtime.Stack(buf, true)])
		t.Fatalf("after logins with %d key pairs: %d goroutines (baseline %d), %d open files (baseline %d); want within 10",
			pairs, afterG, baseG, afterF, baseF)
	}
}
