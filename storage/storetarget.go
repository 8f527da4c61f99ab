package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// A new file may be stored as bucket/key when its directory exists and no
// directory has its name (unless a file of that name exists too: a file wins, as
// in Stat). StoreTargetCached answers from the metadata cache, which knows the
// answer for a directory the gateway has just created, listed or written to;
// checkStoreTarget asks S3 the rest, and Put (PutOptions.NewFile) runs it while
// the data arrives (docs/storage.md "Performance: small files").

// knowledge is what the cache knows about a yes/no question.
type knowledge int8

const (
	unknown knowledge = iota
	yes
	no
)

func knownAs(found bool) knowledge {
	if found {
		return yes
	}
	return no
}

// maxListedParent is the page size of the one listing checkStoreTarget makes of
// an unknown directory: a directory that fits is then cached and answers every
// later upload into it; a bigger one is remembered as such and asked about name
// by name.
const maxListedParent = 1000

// bigDirKey marks a directory whose listing did not fit in maxListedParent.
func bigDirKey(bucket, prefix string) string { return "t\x00" + bucket + "\x00" + prefix }

// StoreTargetCached reports whether the metadata cache alone can tell if a new
// file may be stored as bucket/key, and if so the answer: nil, ErrNotFound (no
// such directory) or ErrIsDirectory.
func (b *Backend) StoreTargetCached(bucket, key string, parentExists bool) (known bool, err error) {
	parent, name := parentPrefix(key), baseName(key)
	dir := yes
	if !parentExists {
		dir = b.dirCached(bucket, parent)
	}
	if dir == no {
		return true, fmt.Errorf("store %s/%s: directory %s: %w", bucket, key, parent, ErrNotFound)
	}
	isDir, isFile := b.nameCached(bucket, parent, name)
	if isDir == yes && isFile != yes {
		if isFile == no {
			return true, fmt.Errorf("store %s/%s: %w", bucket, key, ErrIsDirectory)
		}
		return false, nil
	}
	if dir == unknown || isDir == unknown {
		return false, nil
	}
	return true, nil
}

// dirCached says what the cache knows about the directory prefix ("" for the
// bucket, else "a/b/"): its own stat, or a cached listing that holds anything.
func (b *Backend) dirCached(bucket, prefix string) knowledge {
	if r, ok := b.cache.stat(bucket, prefix); ok {
		return knownAs(r.found)
	}
	if l, ok := b.cache.listing(bucket, prefix); ok && len(l) > 0 {
		return yes
	}
	return unknown
}

// nameCached says what the cache knows about name in the directory prefix: is
// it a directory, is it a file.
func (b *Backend) nameCached(bucket, prefix, name string) (isDir, isFile knowledge) {
	if l, ok := b.cache.listing(bucket, prefix); ok {
		isDir, isFile = no, no
		for _, e := range l {
			if e.Name == name {
				if e.IsDir {
					isDir = yes
				} else {
					isFile = yes
				}
			}
		}
		return isDir, isFile
	}
	if r, ok := b.cache.stat(bucket, prefix+name+"/"); ok {
		isDir = knownAs(r.found)
	}
	if r, ok := b.cache.stat(bucket, prefix+name); ok {
		isFile = knownAs(r.found)
	}
	return isDir, isFile
}

// checkStoreTarget answers StoreTargetCached's question in full, asking S3 what
// the cache does not know. An unknown directory is listed once (one page): that
// answers both questions and, when the directory fits in the page, caches its
// listing for the uploads that follow.
func (b *Backend) checkStoreTarget(ctx context.Context, bucket, key string, parentExists bool) error {
	if known, err := b.StoreTargetCached(bucket, key, parentExists); known {
		return err
	}
	parent, name := parentPrefix(key), baseName(key)
	isDir, isFile := b.nameCached(bucket, parent, name)
	if isDir == unknown {
		if _, big := b.cache.lru.Peek(bigDirKey(bucket, parent)); !big {
			if err := b.listParent(ctx, bucket, parent); err != nil {
				return fmt.Errorf("store %s/%s: %w", bucket, key, err)
			}
			if known, err := b.StoreTargetCached(bucket, key, parentExists); known {
				return err
			}
			isDir, isFile = b.nameCached(bucket, parent, name)
		}
	}
	// What is still unknown: the directory (a big one holding only its
	// marker), or the name in a big directory. The questions go out together.
	var checks []func() error
	if !parentExists && b.dirCached(bucket, parent) == unknown {
		checks = append(checks, func() error {
			_, err := b.StatDir(ctx, bucket, strings.TrimSuffix(parent, "/"))
			return err
		})
	}
	if isDir == unknown {
		checks = append(checks, func() error {
			_, err := b.StatDir(ctx, bucket, key)
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			if err == nil {
				return ErrIsDirectory // refined below: a file of that name wins
			}
			return err
		})
	}
	if err := runAll(checks); err != nil {
		if !errors.Is(err, ErrIsDirectory) || isFile == no {
			return fmt.Errorf("store %s/%s: %w", bucket, key, err)
		}
		if _, serr := b.stat(ctx, bucket, key); serr != nil {
			if errors.Is(serr, ErrNotFound) {
				return fmt.Errorf("store %s/%s: %w", bucket, key, err)
			}
			return fmt.Errorf("store %s/%s: %w", bucket, key, serr)
		}
	}
	return nil
}

// putNewFile is Put of a new file (PutOptions.NewFile): the target is checked
// from the cache when it knows, else while the data arrives, and the upload
// commits only if the check passes. A failed check cancels the upload at once
// (a large file stops streaming parts, its multipart upload is aborted) and is
// the error. Either way a small file into a directory the gateway knows costs
// one request, its PutObject.
func (b *Backend) putNewFile(ctx context.Context, bucket, key string, r io.Reader, opts PutOptions) (Entry, error) {
	if known, err := b.StoreTargetCached(bucket, key, opts.ParentExists); known {
		if err != nil {
			return Entry{}, err
		}
		return b.putSmallFirst(ctx, bucket, key, r, opts)
	}
	pctx, cancel := context.WithCancelCause(ctx)
	result := make(chan error, 1)
	go func() {
		err := b.checkStoreTarget(pctx, bucket, key, opts.ParentExists)
		if err != nil {
			cancel(err)
		}
		result <- err
	}()
	checked := sync.OnceValue(func() error { return <-result })
	defer func() { cancel(nil); _ = checked() }() // no check outlives the upload
	before := opts.BeforeCommit
	opts.BeforeCommit = func() error {
		if err := checked(); err != nil {
			return err
		}
		if before != nil {
			return before()
		}
		return nil
	}
	e, err := b.putSmallFirst(pctx, bucket, key, r, opts)
	if err != nil {
		if cerr := checked(); cerr != nil {
			return Entry{}, cerr
		}
	}
	return e, err
}

// listParent lists the directory prefix with one request of at most
// maxListedParent entries, caching the listing when that is all of it and, in
// either case, what it proves about the directory itself.
func (b *Backend) listParent(ctx context.Context, bucket, prefix string) error {
	// Both answers are fills: a write into the directory while the request is
	// in flight voids them (cache.go).
	lf, sf := b.cache.startFill(listKey(bucket, prefix)), b.cache.startFill(statKey(bucket, prefix))
	page, err := b.listObjects(ctx, &s3.ListObjectsV2Input{
		Bucket:    aws.String(bucket),
		Prefix:    aws.String(prefix),
		Delimiter: aws.String("/"),
		MaxKeys:   aws.Int32(maxListedParent),
	})
	if err != nil {
		b.cache.dropFill(lf)
		b.cache.dropFill(sf)
		return err
	}
	entries := pageEntries(prefix, page)
	if aws.ToBool(page.IsTruncated) {
		b.cache.dropFill(lf)
		b.cache.add(bigDirKey(bucket, prefix), true) // a hint only: it makes later checks ask name by name
	} else {
		b.cache.finishFill(lf, entries)
	}
	switch {
	case prefix == "":
		b.cache.finishFill(sf, statResult{found: true, entry: Entry{Name: bucket, IsDir: true, ModTime: time.Now().UTC()}})
	case len(page.Contents)+len(page.CommonPrefixes) > 0:
		// Anything under the prefix, its marker included, makes it a directory.
		b.cache.finishFill(sf, statResult{found: true, entry: Entry{Name: baseName(prefix), IsDir: true,
			ModTime: firstModTime(page)}})
	default:
		b.cache.finishFill(sf, statResult{})
	}
	return nil
}

func firstModTime(page *s3.ListObjectsV2Output) (t time.Time) {
	if len(page.Contents) > 0 {
		return aws.ToTime(page.Contents[0].LastModified)
	}
	return time.Now().UTC()
}

// runAll runs the checks at once and returns the first error in their order.
func runAll(checks []func() error) error {
	errs := make([]chan error, len(checks))
	for i, c := range checks {
		errs[i] = make(chan error, 1)
		go func() { errs[i] <- c() }()
	}
	var first error
	for _, ch := range errs {
		if err := <-ch; err != nil && first == nil {
			first = err
		}
	}
	return first
}
