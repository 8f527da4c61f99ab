package storage

import (
	"fmt"
	"testing"
	"time"
)

// The metadata cache's hot paths, before and after a change of its LRU:
// go test -run '^$' -bench 'Cache' -benchmem ./storage/

func benchKeys(n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = fmt.Sprintf("dir/sub/file-%06d.dat", i)
	}
	return ks
}

// BenchmarkCacheStatHit: a stat answered from the cache (every STOR, SIZE,
// MDTM, CWD asks one).
func BenchmarkCacheStatHit(b *testing.B) {
	c := newMetaCache(10000, time.Hour)
	ks := benchKeys(1000)
	for _, k := range ks {
		c.fillStat("b", k, statResult{found: true})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := c.stat("b", ks[i%len(ks)]); !ok {
			b.Fatal("miss")
		}
		i++
	}
}

// BenchmarkCacheListingHit: a LIST answered from the cache (bench row
// W5cached); keys/s is the rate of entries handed out.
func BenchmarkCacheListingHit(b *testing.B) {
	c := newMetaCache(10000, time.Hour)
	const n = 10000
	c.fillListing("b", "d/", make([]Entry, n))
	b.ReportAllocs()
	for b.Loop() {
		if l, ok := c.listing("b", "d/"); !ok || len(l) != n {
			b.Fatal("miss")
		}
	}
	b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "keys/s")
}

// BenchmarkCacheStatHitParallel: cached stats from many sessions at once
// (the LRU's lock).
func BenchmarkCacheStatHitParallel(b *testing.B) {
	c := newMetaCache(10000, time.Hour)
	ks := benchKeys(1000)
	for _, k := range ks {
		c.fillStat("b", k, statResult{found: true})
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.stat("b", ks[i%len(ks)])
			i++
		}
	})
}

// BenchmarkCacheFillEvict: stats of ever new names into a full cache, each
// store evicting the least recently used (a client walking a big tree).
func BenchmarkCacheFillEvict(b *testing.B) {
	c := newMetaCache(1000, time.Hour)
	ks := benchKeys(4096)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.fillStat("b", ks[i%len(ks)], statResult{found: true})
		i++
	}
}

// BenchmarkCacheOwnWrite: uploads into a directory whose listing is cached,
// each recorded in the cache (ownwrite.go), the listing cycled every 1000.
func BenchmarkCacheOwnWrite(b *testing.B) {
	c := newMetaCache(10000, time.Hour)
	ks := benchKeys(1000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%len(ks) == 0 {
			c.fillListing("b", "dir/sub/", []Entry{})
		}
		k := ks[i%len(ks)]
		e := Entry{Name: k[len("dir/sub/"):], Size: 1}
		c.wrote(c.startWrite("b", k), &e)
		i++
	}
}
