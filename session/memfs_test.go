package session

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ftp2s3/ftp2s3/storage"
)

// memFS is an in-memory FS with S3's shape: flat keys per bucket, directories as
// "dir/" markers or common prefixes. It lets the session's tests assert replies
// without MinIO; the integration suite covers the real storage.
type memFS struct {
	mu      sync.Mutex
	buckets map[string]map[string]*memObject
	// clock gives new objects their time; tests fix it for golden output.
	clock func() time.Time
	// gets counts Open calls, so tests can see whether an object was read.
	gets int
	// cachedTargets makes StoreTargetCached answer (as storage does for a
	// directory it knows) instead of leaving the check to the transfer.
	cachedTargets bool
	// open counts readers from Open not yet closed.
	open int

	tmu     sync.Mutex
	touches []memTouch // every call, for tests that check which keys a session reached
}

// memTouch is one call on the memFS: the operation and the bucket and key (or
// listing prefix) it named.
type memTouch struct{ op, bucket, key string }

func (m *memFS) touch(op, bucket, key string) {
	m.tmu.Lock()
	defer m.tmu.Unlock()
	m.touches = append(m.touches, memTouch{op, bucket, key})
}

// touched returns the calls made so far and forgets them.
func (m *memFS) touched() []memTouch {
	m.tmu.Lock()
	defer m.tmu.Unlock()
	t := m.touches
	m.touches = nil
	return t
}

type memObject struct {
	data   []byte
	mod    time.Time
	sha256 string
}

func newMemFS(buckets ...string) *memFS {
	m := &memFS{buckets: map[string]map[string]*memObject{}, clock: time.Now}
	for _, b := range buckets {
		m.buckets[b] = map[string]*memObject{}
	}
	return m
}

// put stores an object directly (a test fixture, as if written behind the
// gateway's back).
func (m *memFS) put(bucket, key, data string, mod time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.buckets[bucket][key] = &memObject{data: []byte(data), mod: mod}
}

// object returns an object's content and whether it exists.
func (m *memFS) object(bucket, key string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.buckets[bucket][key]
	if !ok {
		return "", false
	}
	return string(o.data), true
}

func notFound(bucket, key string) error {
	return fmt.Errorf("memfs %s/%s: %w", bucket, key, storage.ErrNotFound)
}

func (m *memFS) ListBuckets(context.Context) ([]storage.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []storage.Entry
	for b := range m.buckets {
		out = append(out, storage.Entry{Name: b, IsDir: true, ModTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (m *memFS) Stat(ctx context.Context, bucket, key string) (storage.Entry, error) {
	m.touch("Stat", bucket, key)
	if key == "" {
		return m.StatDir(ctx, bucket, "")
	}
	m.mu.Lock()
	objs, ok := m.buckets[bucket]
	if !ok {
		m.mu.Unlock()
		return storage.Entry{}, notFound(bucket, key)
	}
	if o, ok := objs[key]; ok {
		m.mu.Unlock()
		return storage.Entry{Name: baseOf(key), Size: int64(len(o.data)), ModTime: o.mod, SHA256: o.sha256}, nil
	}
	m.mu.Unlock()
	return m.StatDir(ctx, bucket, key)
}

func (m *memFS) StatDir(_ context.Context, bucket, key string) (storage.Entry, error) {
	m.touch("StatDir", bucket, key)
	m.mu.Lock()
	defer m.mu.Unlock()
	objs, ok := m.buckets[bucket]
	if !ok {
		return storage.Entry{}, notFound(bucket, key)
	}
	if key == "" {
		return storage.Entry{Name: bucket, IsDir: true, ModTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, nil
	}
	var newest time.Time
	found := false
	for k, o := range objs {
		if strings.HasPrefix(k, key+"/") {
			found = true
			if o.mod.After(newest) {
				newest = o.mod
			}
		}
	}
	if !found {
		return storage.Entry{}, notFound(bucket, key)
	}
	return storage.Entry{Name: baseOf(key), IsDir: true, ModTime: newest}, nil
}

func (m *memFS) List(_ context.Context, bucket, prefix string, fn func(storage.Entry) error) error {
	m.touch("List", bucket, prefix)
	m.mu.Lock()
	objs, ok := m.buckets[bucket]
	if !ok {
		m.mu.Unlock()
		return notFound(bucket, prefix)
	}
	byName := map[string]storage.Entry{}
	for k, o := range objs {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok || rest == "" {
			continue
		}
		if dir, _, isDir := strings.Cut(rest, "/"); isDir {
			if dir == "" {
				continue
			}
			e := byName[dir]
			if o.mod.After(e.ModTime) {
				e.ModTime = o.mod
			}
			e.Name, e.IsDir = dir, true
			byName[dir] = e
			continue
		}
		byName[rest] = storage.Entry{Name: rest, Size: int64(len(o.data)), ModTime: o.mod, SHA256: o.sha256}
	}
	m.mu.Unlock()
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := fn(byName[n]); err != nil {
			return err
		}
	}
	return nil
}

// read is the start of Open: the call is recorded and counted, and the
// object found; open counts a reader that Close will release.
func (m *memFS) read(op, bucket, key string, open bool) (*memObject, error) {
	m.touch(op, bucket, key)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	o, ok := m.buckets[bucket][key]
	if !ok {
		return nil, notFound(bucket, key)
	}
	if open {
		m.open++
	}
	return o, nil
}

func (m *memFS) Put(ctx context.Context, bucket, key string, r io.Reader, opts storage.PutOptions) (storage.Entry, error) {
	m.touch("Put", bucket, key)
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return storage.Entry{}, fmt.Errorf("memfs put: %w", err)
	}
	if opts.NewFile && opts.Offset == 0 && !opts.Append {
		if err := m.checkStoreTarget(ctx, bucket, key, opts.ParentExists); err != nil {
			return storage.Entry{}, err
		}
	}
	if opts.BeforeCommit != nil {
		if err := opts.BeforeCommit(); err != nil {
			return storage.Entry{}, err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.buckets[bucket]; !ok {
		return storage.Entry{}, notFound(bucket, key)
	}
	o := &memObject{data: buf.Bytes(), mod: m.clock()}
	m.buckets[bucket][key] = o
	return storage.Entry{Name: baseOf(key), Size: int64(len(o.data)), ModTime: o.mod}, nil
}

func (m *memFS) Delete(ctx context.Context, bucket, key string) error {
	m.touch("Delete", bucket, key)
	m.mu.Lock()
	_, ok := m.buckets[bucket][key]
	if ok {
		delete(m.buckets[bucket], key)
	}
	m.mu.Unlock()
	if ok {
		return nil
	}
	if _, err := m.StatDir(ctx, bucket, key); err == nil {
		return fmt.Errorf("memfs delete %s/%s: %w", bucket, key, storage.ErrIsDirectory)
	}
	return notFound(bucket, key)
}

func (m *memFS) Mkdir(ctx context.Context, bucket, key string) error {
	m.touch("Mkdir", bucket, key)
	if _, err := m.Stat(ctx, bucket, key); err == nil {
		return fmt.Errorf("memfs mkdir %s/%s: %w", bucket, key, storage.ErrExists)
	}
	m.put(bucket, key+"/", "", m.clock())
	return nil
}

func (m *memFS) Rmdir(_ context.Context, bucket, key string) error {
	m.touch("Rmdir", bucket, key)
	m.mu.Lock()
	defer m.mu.Unlock()
	objs := m.buckets[bucket]
	if _, ok := objs[key+"/"]; !ok {
		return notFound(bucket, key)
	}
	for k := range objs {
		if strings.HasPrefix(k, key+"/") && k != key+"/" {
			return fmt.Errorf("memfs rmdir %s/%s: %w", bucket, key, storage.ErrNotEmpty)
		}
	}
	delete(objs, key+"/")
	return nil
}

func baseOf(key string) string { return key[strings.LastIndexByte(key, '/')+1:] }

// Rename moves a file (the storage work adds it to FS; defined here so that the
// in-memory FS keeps satisfying the interface).
func (m *memFS) Rename(_ context.Context, srcBucket, srcKey, dstBucket, dstKey string) error {
	m.touch("Rename", srcBucket, srcKey)
	m.touch("Rename", dstBucket, dstKey)
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.buckets[srcBucket][srcKey]
	if !ok {
		return notFound(srcBucket, srcKey)
	}
	if _, ok := m.buckets[dstBucket]; !ok {
		return notFound(dstBucket, dstKey)
	}
	delete(m.buckets[srcBucket], srcKey)
	m.buckets[dstBucket][dstKey] = o
	return nil
}

// RenameDir moves every key under srcKey/ to dstKey/, which must not exist.
func (m *memFS) RenameDir(_ context.Context, srcBucket, srcKey, dstBucket, dstKey string) error {
	m.touch("RenameDir", srcBucket, srcKey)
	m.touch("RenameDir", dstBucket, dstKey)
	m.mu.Lock()
	defer m.mu.Unlock()
	dst, ok := m.buckets[dstBucket]
	if !ok {
		return notFound(dstBucket, dstKey)
	}
	for k := range dst {
		if k == dstKey || strings.HasPrefix(k, dstKey+"/") {
			return fmt.Errorf("memfs rename %s/%s: %w", dstBucket, dstKey, storage.ErrExists)
		}
	}
	moved := 0
	for k, o := range m.buckets[srcBucket] {
		if rest, ok := strings.CutPrefix(k, srcKey+"/"); ok {
			delete(m.buckets[srcBucket], k)
			dst[dstKey+"/"+rest] = o
			moved++
		}
	}
	if moved == 0 {
		return notFound(srcBucket, srcKey)
	}
	return nil
}

// Open reads the whole object at once; Send then writes it from offset.
func (m *memFS) Open(_ context.Context, bucket, key string, offset int64) (storage.ObjectReader, error) {
	o, err := m.read("Open", bucket, key, true)
	if err != nil {
		return nil, err
	}
	r := &memReader{m: m, entry: storage.Entry{Name: baseOf(key), Size: int64(len(o.data)), ModTime: o.mod, SHA256: o.sha256}}
	if offset < int64(len(o.data)) {
		r.data = o.data[offset:]
	}
	return r, nil
}

type memReader struct {
	m      *memFS
	closed bool
	entry  storage.Entry
	data   []byte
}

func (r *memReader) Entry() storage.Entry { return r.entry }

func (r *memReader) Send(_ context.Context, w io.Writer) (int64, error) {
	n, err := w.Write(r.data)
	return int64(n), err
}

func (r *memReader) Close() error {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if !r.closed {
		r.closed = true
		r.m.open--
	}
	return nil
}

// openReaders returns how many readers from Open are still open.
func (m *memFS) openReaders() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.open
}

// StoreTargetCached (session.StoreTargetKnower) knows nothing unless a test
// sets cachedTargets, so that the session's tests exercise the check Put makes
// while the data arrives.
func (m *memFS) StoreTargetCached(bucket, key string, parentExists bool) (bool, error) {
	if !m.cachedTargets {
		return false, nil
	}
	return true, m.checkStoreTarget(context.Background(), bucket, key, parentExists)
}

// checkStoreTarget is Put's check of a new file (PutOptions.NewFile).
func (m *memFS) checkStoreTarget(ctx context.Context, bucket, key string, parentExists bool) error {
	parent := ""
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		parent = key[:i]
	}
	if !parentExists {
		if _, err := m.StatDir(ctx, bucket, parent); err != nil {
			return err
		}
	}
	if e, err := m.Stat(ctx, bucket, key); err == nil && e.IsDir {
		return fmt.Errorf("memfs store %s/%s: %w", bucket, key, storage.ErrIsDirectory)
	}
	return nil
}

// snapshot returns every object as "bucket/key" → content and time, for tests
// that check a command left storage as it was.
func (m *memFS) snapshot() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for b, objs := range m.buckets {
		out[b+"/"] = "bucket"
		for k, o := range objs {
			out[b+"/"+k] = fmt.Sprintf("%d bytes, CRC-32 %08x, %s", len(o.data), crc32.ChecksumIEEE(o.data), o.mod.Format(time.RFC3339Nano))
		}
	}
	return out
}
