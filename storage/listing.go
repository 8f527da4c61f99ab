package storage

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// List calls fn for every entry of the directory at prefix ("" for the bucket's
// root, else "dir/"), in name order within each page of S3's answer. Entries
// stream as pages arrive, so a directory of any size lists in constant memory;
// directories small enough are remembered by the metadata cache. An error from fn
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
	var keep []Entry
	keeping := true
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{
		Bucket:    aws.String(bucket),
		Prefix:    aws.String(prefix),
		Delimiter: aws.String("/"),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return mapErr("list", bucket, prefix, err)
		}
		for _, e := range pageEntries(prefix, page) {
			if keeping {
				if len(keep) < maxCachedListing {
					keep = append(keep, e)
				} else {
					keeping, keep = false, nil
				}
			}
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	if keeping {
		if keep == nil {
			keep = []Entry{}
		}
		b.cache.putListing(bucket, prefix, keep)
	}
	return nil
}

// pageEntries merges one page's files and common prefixes into one name-ordered
// slice. A common prefix has no time of its own in S3; it is given the newest
// modification time seen on the page (or now), never the zero time.
func pageEntries(prefix string, page *s3.ListObjectsV2Output) []Entry {
	newest := time.Time{}
	files := make([]Entry, 0, len(page.Contents))
	for _, o := range page.Contents {
		key := aws.ToString(o.Key)
		mt := aws.ToTime(o.LastModified)
		if mt.After(newest) {
			newest = mt
		}
		name := strings.TrimPrefix(key, prefix)
		if name == "" || strings.Contains(name, "/") {
			continue // the directory's own marker
		}
		files = append(files, Entry{Name: name, Size: aws.ToInt64(o.Size), ModTime: mt, ETag: unquoteETag(o.ETag)})
	}
	if newest.IsZero() {
		newest = time.Now().UTC()
	}
	dirs := make([]Entry, 0, len(page.CommonPrefixes))
	for _, cp := range page.CommonPrefixes {
		name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), prefix), "/")
		if name == "" {
			continue // "dir//": an empty path element cannot be addressed over FTP
		}
		dirs = append(dirs, Entry{Name: name, IsDir: true, ModTime: newest})
	}
	out := make([]Entry, 0, len(files)+len(dirs))
	i, j := 0, 0
	for i < len(files) || j < len(dirs) {
		if j == len(dirs) || (i < len(files) && files[i].Name <= dirs[j].Name) {
			out = append(out, files[i])
			i++
		} else {
			out = append(out, dirs[j])
			j++
		}
	}
	return out
}

// ListBuckets returns the buckets the gateway's credentials can see.
func (b *Backend) ListBuckets(ctx context.Context) ([]Entry, error) {
	if v, ok := b.cache.get(bucketsKey); ok {
		return v.([]Entry), nil
	}
	out, err := b.client.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		return nil, mapErr("list buckets", "", "", err)
	}
	entries := make([]Entry, 0, len(out.Buckets))
	for _, bk := range out.Buckets {
		entries = append(entries, bucketEntry(bk))
	}
	b.cache.lru.Add(bucketsKey, entries)
	return entries, nil
}

func bucketEntry(bk types.Bucket) Entry {
	t := aws.ToTime(bk.CreationDate)
	if t.IsZero() {
		t = time.Now().UTC()
	}
	return Entry{Name: aws.ToString(bk.Name), IsDir: true, ModTime: t}
}
