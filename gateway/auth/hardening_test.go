package auth

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ftp2s3/ftp2s3/gateway/clientaddr"
	"github.com/ftp2s3/ftp2s3/session"
)

// TestBeginLoginBoundsChecksInFlight: 50 parallel logins from one address get
// at most BanAfter password checks, whatever their timing; the rest wait and
// are then refused as banned.
func TestBeginLoginBoundsChecksInFlight(t *testing.T) {
	b := NewBans(10, time.Minute, time.Minute)
	a := netip.MustParseAddr("192.0.2.1")
	var checked, inFlight, peak atomic.Int64
	var wg sync.WaitGroup
	release := make(chan struct{})
	admitted := make(chan struct{}, 50)
	results := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done, err := b.BeginLogin(context.Background(), a)
			if err != nil {
				results <- err
				return
			}
			checked.Add(1)
			admitted <- struct{}{}
			n := inFlight.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			<-release // the "bcrypt" of every admitted check overlaps
			inFlight.Add(-1)
			b.LoginFailed(a)
			done()
			results <- nil
		}()
	}
	// Wait until ten checks are in flight: the other 40 must be waiting.
	for i := 0; i < 10; i++ {
		select {
		case <-admitted:
		case <-time.After(5 * time.Second):
			t.Fatalf("%d checks in flight after 5s, want 10", i)
		}
	}
	close(release)
	wg.Wait()
	close(results)
	banned := 0
	for err := range results {
		if errors.Is(err, session.ErrBanned) {
			banned++
		} else if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
	}
	if checked.Load() != 10 || peak.Load() > 10 || banned != 40 {
		t.Fatalf("checked %d (peak %d in flight), banned %d; want 10, ≤10, 40", checked.Load(), peak.Load(), banned)
	}
}

// TestBeginLoginSuccessesFreeTheirTurn: logins that succeed do not count as
// failures, so a burst of good logins from one address is served in turns,
// never refused.
func TestBeginLoginSuccessesFreeTheirTurn(t *testing.T) {
	b := NewBans(2, time.Minute, time.Minute)
	a := netip.MustParseAddr("2001:db8::1")
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done, err := b.BeginLogin(context.Background(), a)
			if err != nil {
				failed.Add(1)
				return
			}
			time.Sleep(time.Millisecond) // the password check's work, holding the turn: what the test is about
			done()
			done() // idempotent
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d good logins refused", failed.Load())
	}
	b.mu.Lock()
	r := b.addrs[clientaddr.Key(a)]
	b.mu.Unlock()
	if r == nil || r.checking != 0 || r.turn != nil {
		t.Fatalf("record after all logins ended: %+v", r)
	}
	// A waiting login gives up when its session goes away.
	d1, _ := b.BeginLogin(context.Background(), a)
	d2, _ := b.BeginLogin(context.Background(), a)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := b.BeginLogin(ctx, a); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third login with two in flight: %v, want to wait until ctx ends", err)
	}
	d1()
	d2()
}

// TestUnknownNamesCostLikeUsers: an unknown name is checked against a hash of
// a configured user's cost, not a fixed cost.
func TestUnknownNamesCostLikeUsers(t *testing.T) {
	for _, costs := range [][]int{{4}, {5, 6}} {
		var recs []string
		for i, c := range costs {
			h, err := bcrypt.GenerateFromPassword([]byte("pw"), c)
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, string(rune('a'+i))+"user:"+string(h))
		}
		u, problems := LoadStaticUsers(strings.Join(recs, ","), "", session.Home{})
		if len(problems) > 0 {
			t.Fatal(problems)
		}
		seen := map[int]bool{}
		for i := 0; i < 64; i++ {
			name := "nobody" + string(rune('A'+i))
			h := u.set.Load().decoyFor(name)
			c, err := bcrypt.Cost(h)
			if err != nil {
				t.Fatal(err)
			}
			if string(u.set.Load().decoyFor(name)) != string(h) {
				t.Fatal("one unknown name is checked against different hashes")
			}
			seen[c] = true
		}
		for _, c := range costs {
			if !seen[c] {
				t.Errorf("users of costs %v: no unknown name took cost %d (saw %v)", costs, c, seen)
			}
		}
		if len(seen) != len(costs) {
			t.Errorf("users of costs %v: unknown names took costs %v", costs, seen)
		}
		if _, err := u.Authenticate(context.Background(), "nobody", "pw"); !errors.Is(err, session.ErrAuthFailed) {
			t.Fatalf("unknown name with a user's password: %v", err)
		}
	}
}

// TestAllowedBuckets: a user whose home is every bucket gets the allow-list
// on the home (session's tests check what it reaches); the storage is left as
// it was, and a user whose home names a bucket is left alone.
func TestAllowedBuckets(t *testing.T) {
	allow, err := ParseBucketList("alpha, gamma")
	if err != nil {
		t.Fatal(err)
	}
	auth := AllowBuckets(fixedAuth{}, allow)
	u, err := auth.Authenticate(context.Background(), "all", "")
	if err != nil {
		t.Fatal(err)
	}
	if u.Home.Allowed == nil || u.FS != nil {
		t.Fatalf("home / got %+v, FS %v; want the allow-list on the home and the gateway's storage", u.Home, u.FS)
	}
	one, _ := auth.Authenticate(context.Background(), "one", "")
	if one.Home.Allowed != nil || one.FS != nil {
		t.Fatal("a user whose home names a bucket got the allow-list")
	}
}

// fixedAuth logs "all" in with home "/" and anybody else with home "beta".
type fixedAuth struct{}

func (fixedAuth) Authenticate(_ context.Context, name, _ string) (*session.User, error) {
	if name == "all" {
		return &session.User{Name: name}, nil
	}
	return &session.User{Name: name, Home: session.Home{Bucket: "beta"}}, nil
}
