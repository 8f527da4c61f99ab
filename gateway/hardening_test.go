package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ftp2s3/ftp2s3/session"
	"github.com/ftp2s3/ftp2s3/storage"
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
	waitUntil(t, "ten checks in flight", 5*time.Second, func() bool { return checked.Load() >= 10 })
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
	r := b.addrs[banKey(a)]
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
			h := u.decoyFor(name)
			c, err := bcrypt.Cost(h)
			if err != nil {
				t.Fatal(err)
			}
			if string(u.decoyFor(name)) != string(h) {
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

// TestLimitsCountIPv6Per64: the per-address connection limit counts an IPv6
// client's whole /64, like the bans.
func TestLimitsCountIPv6Per64(t *testing.T) {
	s := NewServer(ServerOptions{Session: &session.Config{}, MaxConnections: 100, MaxConnectionsPerIP: 2})
	for _, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2"} {
		if r := s.admit(netip.MustParseAddr(a)); r != "" {
			t.Fatalf("%s refused: %s", a, r)
		}
	}
	if r := s.admit(netip.MustParseAddr("2001:db8:1:2:ffff::3")); !strings.Contains(r, "your address") {
		t.Fatalf("third address of one /64: %q, want refused", r)
	}
	if r := s.admit(netip.MustParseAddr("2001:db8:1:3::1")); r != "" {
		t.Fatalf("the next /64 refused: %s", r)
	}
	s.release(netip.MustParseAddr("2001:db8:1:2::1"))
	if r := s.admit(netip.MustParseAddr("2001:db8:1:2::9")); r != "" {
		t.Fatalf("after a release: %s", r)
	}
}

// TestImplicitTLSRefusedWithoutHandshake: a refused implicit-FTPS client gets a
// TLS access_denied alert, not a handshake.
func TestImplicitTLSRefusedWithoutHandshake(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// No certificate at all: a handshake on the server side could not even start.
	s := NewServer(ServerOptions{Session: &session.Config{}, MaxConnections: 1, MaxConnectionsPerIP: 0})
	go func() { _ = s.ServeImplicitTLS(l) }()
	defer s.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	err = tc.Handshake()
	if err == nil || !strings.Contains(err.Error(), "access denied") {
		t.Fatalf("handshake with a refused client: %v, want the access_denied alert", err)
	}
	if _, err := io.ReadAll(c); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Logf("after the alert: %v", err)
	}
	if s.Refused() != 1 {
		t.Fatalf("Refused = %d", s.Refused())
	}
}

func TestValidateAnonymousAndBuckets(t *testing.T) {
	cases := []struct {
		home    string
		all     bool
		buckets string
		want    string // substring of the problem, "" for none
	}{
		{"/", false, "", "FTP2S3_ANONYMOUS_HOME"},
		{" / ", false, "", "FTP2S3_ANONYMOUS_HOME"},
		{"/", true, "", ""},
		{"pub", false, "", ""},
		{"pub/x", true, "", "FTP2S3_ANONYMOUS_ALL_BUCKETS"},
		{"", true, "", "FTP2S3_ANONYMOUS_ALL_BUCKETS"},
		{"", false, "a-b, c.d ,efg", ""},
		{"", false, "ok1,Bad_Name", "FTP2S3_BUCKETS"},
		{"", false, "ok1,x/y", "FTP2S3_BUCKETS"},
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		cfg.AnonymousHome, cfg.AnonymousAllBuckets, cfg.Buckets = c.home, c.all, c.buckets
		var got []string
		for _, p := range cfg.Validate() {
			got = append(got, p.Error())
		}
		joined := strings.Join(got, "\n")
		switch {
		case c.want == "" && len(got) > 0:
			t.Errorf("%+v: unexpected problems %s", c, joined)
		case c.want != "" && (len(got) != 1 || !strings.HasPrefix(joined, c.want)):
			t.Errorf("%+v: problems %q, want one line starting with %s", c, joined, c.want)
		}
	}
}

// fakeFS records which buckets reach it.
type fakeFS struct {
	session.FS // nil: a call the test did not expect panics
	buckets    []string
	reached    []string
}

func (f *fakeFS) ListBuckets(context.Context) ([]storage.Entry, error) {
	var out []storage.Entry
	for _, b := range f.buckets {
		out = append(out, storage.Entry{Name: b, IsDir: true})
	}
	return out, nil
}

func (f *fakeFS) StatDir(_ context.Context, bucket, _ string) (storage.Entry, error) {
	f.reached = append(f.reached, bucket)
	return storage.Entry{Name: bucket, IsDir: true}, nil
}

func (f *fakeFS) Rename(_ context.Context, sb, _, db, _ string) error {
	f.reached = append(f.reached, sb, db)
	return nil
}

func TestAllowedBuckets(t *testing.T) {
	allow, err := ParseBucketList("alpha, gamma")
	if err != nil {
		t.Fatal(err)
	}
	base := &fakeFS{buckets: []string{"alpha", "beta", "gamma"}}
	auth := bucketAllowAuth{next: fixedAuth{}, fs: base, allow: allow}
	u, err := auth.Authenticate(context.Background(), "all", "")
	if err != nil {
		t.Fatal(err)
	}
	list, _ := u.FS.ListBuckets(context.Background())
	if len(list) != 2 || list[0].Name != "alpha" || list[1].Name != "gamma" {
		t.Fatalf("ListBuckets = %+v", list)
	}
	if _, err := u.FS.StatDir(context.Background(), "beta", ""); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("StatDir of a bucket outside the list: %v", err)
	}
	if err := u.FS.Rename(context.Background(), "alpha", "x", "beta", "x"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Rename into a bucket outside the list: %v", err)
	}
	if _, err := u.FS.StatDir(context.Background(), "gamma", ""); err != nil {
		t.Fatal(err)
	}
	if strings.Join(base.reached, ",") != "gamma" {
		t.Fatalf("storage reached for %v", base.reached)
	}
	one, _ := auth.Authenticate(context.Background(), "one", "")
	if one.FS != nil {
		t.Fatal("a user whose home names a bucket got the allow-list view")
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
