package auth

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestBansGrowBanExpire(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	b := NewBans(3, time.Minute, 10*time.Minute)
	b.now = func() time.Time { return now }
	a := netip.MustParseAddr("192.0.2.1")
	other := netip.MustParseAddr("192.0.2.2")
	d1, ban1 := b.LoginFailed(a)
	d2, ban2 := b.LoginFailed(a)
	if ban1 || ban2 || d2 <= d1 {
		t.Fatalf("delays %v then %v (bans %v %v): want growing, no ban", d1, d2, ban1, ban2)
	}
	if _, ban := b.LoginFailed(a); !ban {
		t.Fatal("3rd failure did not ban")
	}
	if !b.Banned(a) || b.Banned(other) {
		t.Fatal("the ban is not per address")
	}
	now = now.Add(10*time.Minute + time.Second)
	if b.Banned(a) {
		t.Fatal("the ban outlived FTP2S3_BAN_FOR")
	}
	// Failures spread wider than the window never add up to a ban.
	for i := 0; i < 5; i++ {
		if _, ban := b.LoginFailed(other); ban && i < 2 {
			t.Fatalf("ban after %d failures", i+1)
		}
		now = now.Add(31 * time.Second)
		if i == 1 {
			now = now.Add(time.Minute)
		}
	}
	st := b.Stats()
	if st.FailedLogins != 8 || st.Bans < 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBansDelayCapped(t *testing.T) {
	b := NewBans(1000, time.Hour, time.Hour)
	a := netip.MustParseAddr("192.0.2.9")
	var d time.Duration
	for i := 0; i < 50; i++ {
		d, _ = b.LoginFailed(a)
	}
	if d != maxDelay {
		t.Fatalf("delay after 50 failures %v, want the cap %v", d, maxDelay)
	}
}

func TestBansIPv6CountsPer64(t *testing.T) {
	b := NewBans(2, time.Minute, time.Minute)
	b.LoginFailed(netip.MustParseAddr("2001:db8:1:2::1"))
	if _, ban := b.LoginFailed(netip.MustParseAddr("2001:db8:1:2::ffff")); !ban {
		t.Fatal("two addresses of one /64 are not counted together")
	}
	if b.Banned(netip.MustParseAddr("2001:db8:1:3::1")) {
		t.Fatal("a neighbouring /64 is banned too")
	}
	b.LoginFailed(netip.MustParseAddr("::ffff:192.0.2.1"))
	if _, ban := b.LoginFailed(netip.MustParseAddr("192.0.2.1")); !ban {
		t.Fatal("a v4-mapped address is not counted as its IPv4 form")
	}
}

// TestBansSweepBoundsMemory: records whose failures all expired are forgotten,
// tidyBatch per call (the work is spread over calls, none scans the table), so
// a thousand are gone after a thousand/tidyBatch calls.
func TestBansSweepBoundsMemory(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	b := NewBans(10, time.Minute, time.Minute)
	b.now = func() time.Time { return now }
	for i := 0; i < 1000; i++ {
		b.LoginFailed(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	}
	now = now.Add(2 * time.Minute)
	for i := 0; i <= 1000/tidyBatch; i++ {
		b.LoginFailed(netip.MustParseAddr("192.0.2.77"))
	}
	b.mu.Lock()
	n := len(b.addrs)
	b.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d records after every failure expired, want 1", n)
	}
}

// TestBansCapEvictsOldest: at the cap, the record evicted is the one whose
// last failure is oldest, every time; a banned address stays however old.
// Eviction in map order would drop a recent record within a few rounds.
func TestBansCapEvictsOldest(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	b := NewBans(1, time.Hour, time.Hour)
	b.now = func() time.Time { return now }
	b.maxTracked = 50
	banned := netip.MustParseAddr("192.0.2.1")
	if _, ban := b.LoginFailed(banned); !ban { // the oldest record of all
		t.Fatal("one failure with BanAfter 1 did not ban")
	}
	b.after = 1000
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}) }
	for i := 0; i < 49; i++ {
		now = now.Add(time.Second)
		b.LoginFailed(addr(i))
	}
	// Address 0 fails again: address 1 is now the oldest unbanned record.
	now = now.Add(time.Second)
	b.LoginFailed(addr(0))
	for i := 49; i < 80; i++ {
		now = now.Add(time.Second)
		b.LoginFailed(addr(i))
		b.mu.Lock()
		n := len(b.addrs)
		_, keptBanned := b.addrs[banned]
		var gone []int
		for j := 0; j <= i; j++ {
			if _, ok := b.addrs[addr(j)]; !ok {
				gone = append(gone, j)
			}
		}
		b.mu.Unlock()
		var want []int // 1, 2, … in the order they failed; 0 failed later
		for j := 1; j <= i-48; j++ {
			want = append(want, j)
		}
		if n != 50 || !keptBanned || !slices.Equal(gone, want) {
			t.Fatalf("after address %d: %d records (want 50), banned kept %v, evicted %v, want %v",
				i, n, keptBanned, gone, want)
		}
	}
}
