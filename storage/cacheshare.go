package storage

import "sync/atomic"

// Under FTP2S3_AUTH=s3 every identity has a Backend of its own, with a cache
// of its own (S3's policies may show identities different things, so they
// cannot share entries). What they hold together is bounded here: cached
// listings, the bulk of a cache's memory, count against one listing budget
// shared by every Backend made from the same Options, and the owner of the
// per-identity backends (gateway/auth/s3auth.go) divides the entry count
// between the backends it keeps with ResizeCache.

// CacheShare is a listing budget several backends' caches hold together.
type CacheShare struct {
	listed atomic.Int64
}

// Listed returns the listing entries the sharing caches hold now.
func (s *CacheShare) Listed() int64 { return s.listed.Load() }

// ResizeCache sets how many entries the backend's metadata cache may hold
// (at least 1), dropping the least recently used beyond that.
func (b *Backend) ResizeCache(entries int) {
	b.cache.lru.Resize(max(entries, 1))
}

// PurgeCache empties the backend's metadata cache.
func (b *Backend) PurgeCache() { b.cache.lru.Purge() }

// CacheLen returns how many entries the backend's metadata cache holds.
func (b *Backend) CacheLen() int { return b.cache.lru.Len() }
