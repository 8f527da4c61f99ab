package storage

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// List calls fn for every entry of the directory at prefix ("" for the bucket's
// root, else "dir/"), in name order within each page of S3's answer. Entries
// stream as pages arrive, so a directory of any size lists in constant memory;
// directories small enough are remembered by the metadata cache. S3's next page
// is requested while fn handles the current one (see listPagesAhead). An error from fn
// stops the listing and is returned.
func (b *Backend) List(ctx context.Context, bucket, prefix string, fn func(Entry) error) error {
	if cached, ok := b.cache.listing(bucket, prefix); ok {
		for _, e := range cached {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}
	// Registered before the first request: a change to the directory while the
	// pages arrive keeps this answer out of the cache (see metaCache).
	f := b.cache.startFill(listKey(bucket, prefix))
	stored := false
	defer func() {
		if !stored {
			b.cache.dropFill(f)
		}
	}()
	keep := []Entry{}
	keeping := true
	err := b.listPagesAhead(ctx, &s3.ListObjectsV2Input{
		Bucket:    aws.String(bucket),
		Prefix:    aws.String(prefix),
		Delimiter: aws.String("/"),
	}, func(page *listPage) error {
		return page.eachEntry(prefix, func(e Entry) error {
			if keeping {
				if len(keep) < maxCachedListing {
					keep = append(keep, e)
				} else {
					keeping, keep = false, nil
				}
			}
			return fn(e)
		})
	})
	if err != nil {
		return err
	}
	if keeping {
		stored = true
		b.cache.finishFill(f, keep)
	}
	return nil
}

// listPages runs a paginated ListObjectsV2 and calls fn with every page, keys
// already decoded (see listObjects). An error from fn stops it and is returned.
func (b *Backend) listPages(ctx context.Context, in *s3.ListObjectsV2Input, fn func(*s3.ListObjectsV2Output) error) error {
	for {
		page, err := b.listObjects(ctx, in)
		if err != nil {
			return err
		}
		if err := fn(page); err != nil {
			return err
		}
		if !aws.ToBool(page.IsTruncated) || aws.ToString(page.NextContinuationToken) == "" {
			return nil
		}
		next := *in
		next.ContinuationToken = page.NextContinuationToken
		in = &next
	}
}

// listObjects is one ListObjectsV2 request with URL-encoded keys. S3 answers in
// XML 1.0, which cannot carry most control characters: one key holding such a
// byte would otherwise make its whole directory unlistable on AWS (a test puts
// "\x01" in a key: TestListControlCharacterKey). Keys and prefixes of the
// answer come back decoded, as if no encoding had been asked for.
func (b *Backend) listObjects(ctx context.Context, in *s3.ListObjectsV2Input) (*s3.ListObjectsV2Output, error) {
	req := *in
	req.EncodingType = types.EncodingTypeUrl
	out, err := b.client.ListObjectsV2(ctx, &req)
	if err != nil {
		return nil, mapErr("list", aws.ToString(in.Bucket), aws.ToString(in.Prefix), err)
	}
	if err := decodeListing(out); err != nil {
		return nil, fmt.Errorf("list %s/%s: %w", aws.ToString(in.Bucket), aws.ToString(in.Prefix), err)
	}
	return out, nil
}

// decodeListing undoes EncodingType=url in place: S3 encodes keys, prefixes,
// the delimiter and StartAfter as a query string would ("+" for a space).
func decodeListing(out *s3.ListObjectsV2Output) error {
	var bad error
	dec := func(s *string) *string {
		if s == nil {
			return nil
		}
		v, err := url.QueryUnescape(*s)
		if err != nil {
			bad = fmt.Errorf("undecodable key %q in the listing: %w", *s, err)
			return s
		}
		return &v
	}
	out.Prefix, out.Delimiter, out.StartAfter = dec(out.Prefix), dec(out.Delimiter), dec(out.StartAfter)
	for i := range out.Contents {
		out.Contents[i].Key = dec(out.Contents[i].Key)
	}
	for i := range out.CommonPrefixes {
		out.CommonPrefixes[i].Prefix = dec(out.CommonPrefixes[i].Prefix)
	}
	return bad
}

// decodeUploads undoes EncodingType=url in a ListMultipartUploads answer.
func decodeUploads(out *s3.ListMultipartUploadsOutput) error {
	var bad error
	for i := range out.Uploads {
		k := aws.ToString(out.Uploads[i].Key)
		v, err := url.QueryUnescape(k)
		if err != nil {
			bad = fmt.Errorf("undecodable key %q in the upload listing: %w", k, err)
			continue
		}
		out.Uploads[i].Key = &v
	}
	for _, s := range []**string{&out.NextKeyMarker, &out.Prefix, &out.KeyMarker} {
		if *s != nil {
			if v, err := url.QueryUnescape(**s); err == nil {
				*s = &v
			}
		}
	}
	return bad
}

// pageEntries is eachEntry's entries of an SDK answer, in one slice.
func pageEntries(prefix string, page *s3.ListObjectsV2Output) []Entry {
	var p listPage
	sdkPage(page, &p)
	out := make([]Entry, 0, len(p.objects)+len(p.prefixes))
	_ = p.eachEntry(prefix, func(e Entry) error {
		out = append(out, e)
		return nil
	})
	return out
}

// eachEntry calls fn with the page's files and common prefixes merged in name
// order (each list comes sorted by key), without a slice of its own: a large
// listing allocates per key only its name and ETag (listxml.go). A common
// prefix has no time of its own in S3; it is given the newest modification
// time seen on the page (or now), never the zero time. An error from fn stops
// it and is returned.
func (p *listPage) eachEntry(prefix string, fn func(Entry) error) error {
	newest := time.Time{}
	for i := range p.objects {
		if mt := p.objects[i].modTime; mt.After(newest) {
			newest = mt
		}
	}
	if newest.IsZero() && len(p.prefixes) > 0 {
		newest = time.Now().UTC()
	}
	// file returns the entry of object i, or false for the directory's own
	// marker and keys below it (not S3's answer to a delimited listing).
	file := func(i int) (Entry, bool) {
		o := &p.objects[i]
		name := strings.TrimPrefix(o.key, prefix)
		if name == "" || strings.Contains(name, "/") {
			return Entry{}, false
		}
		return Entry{Name: name, Size: o.size, ModTime: o.modTime, ETag: o.etag}, true
	}
	dir := func(j int) (Entry, bool) {
		name := strings.TrimSuffix(strings.TrimPrefix(p.prefixes[j], prefix), "/")
		if name == "" {
			return Entry{}, false // "dir//": an empty path element cannot be addressed over FTP
		}
		return Entry{Name: name, IsDir: true, ModTime: newest}, true
	}
	i, j := 0, 0
	var f, d Entry
	fok, dok := false, false
	for {
		for !fok && i < len(p.objects) {
			f, fok = file(i)
			i++
		}
		for !dok && j < len(p.prefixes) {
			d, dok = dir(j)
			j++
		}
		var e Entry
		switch {
		case fok && (!dok || f.Name <= d.Name):
			e, fok = f, false
		case dok:
			e, dok = d, false
		default:
			return nil
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// ListBuckets returns the buckets the gateway's credentials can see.
func (b *Backend) ListBuckets(ctx context.Context) ([]Entry, error) {
	if v, ok := b.cache.get(bucketsKey); ok {
		return v.([]Entry), nil
	}
	f := b.cache.startFill(bucketsKey)
	out, err := b.client.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		b.cache.dropFill(f)
		return nil, mapErr("list buckets", "", "", err)
	}
	entries := make([]Entry, 0, len(out.Buckets))
	for _, bk := range out.Buckets {
		entries = append(entries, bucketEntry(bk))
	}
	b.cache.finishFill(f, entries)
	return entries, nil
}

func bucketEntry(bk types.Bucket) Entry {
	t := aws.ToTime(bk.CreationDate)
	if t.IsZero() {
		t = time.Now().UTC()
	}
	return Entry{Name: aws.ToString(bk.Name), IsDir: true, ModTime: t}
}
