package auth

import (
	"net/netip"
	"testing"
	"time"
)

func capAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// TestBansSweepIsSpread: when a whole table's failures expire at once, one
// call forgets at most tidyBatch of them rather than scanning the table under
// the lock; the banned record is kept while its ban lasts and counted.
func TestBansSweepIsSpread(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	b := NewBans(3, time.Minute, time.Hour)
	b.now = func() time.Time { return now }
	for i := 0; i < 1000; i++ {
		b.LoginFailed(capAddr(i))
	}
	banned := netip.MustParseAddr("192.0.2.9")
	for i := 0; i < 3; i++ {
		b.LoginFailed(banned)
	}
	now = now.Add(2 * time.Minute)
	b.LoginFailed(netip.MustParseAddr("192.0.2.77"))
	if n := len(b.addrs); n != 1000-tidyBatch+2 {
		t.Fatalf("%d records after one call, want %d (tidyBatch forgotten)", n, 1000-tidyBatch+2)
	}
	for i := 0; i < 1000/tidyBatch; i++ {
		b.Banned(banned)
		b.LoginFailed(netip.MustParseAddr("192.0.2.77"))
	}
	if _, ok := b.addrs[banned]; !ok || len(b.addrs) != 2 || b.Stats().BannedNow != 2 {
		t.Fatalf("%d records, banned kept %v, banned now %d; want 2, true, 2 (192.0.2.77 is banned too)", len(b.addrs), ok, b.Stats().BannedNow)
	}
	now = now.Add(time.Hour)
	if st := b.Stats(); st.BannedNow != 0 {
		t.Fatalf("banned now %d after the ban ended", st.BannedNow)
	}
}

// BenchmarkLoginFailedAtCap: the cost of one failed login from a new address
// when the table holds maxTracked records (issue 20 §6: a full scan under the
// lock, about 15 ms, before the table kept its records in time order).
func BenchmarkLoginFailedAtCap(b *testing.B) {
	bans := NewBans(10, time.Hour, time.Hour)
	for i := 0; i < maxTracked; i++ {
		bans.LoginFailed(capAddr(i))
	}
	next := maxTracked
	b.ResetTimer()
	for b.Loop() {
		bans.LoginFailed(capAddr(next))
		next++
	}
	if len(bans.addrs) > maxTracked {
		b.Fatalf("%d records, cap %d", len(bans.addrs), maxTracked)
	}
}
