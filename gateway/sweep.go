package gateway

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/ftp2s3/ftp2s3/storage"
)

// FTP2S3_ABANDONED_UPLOAD_AGE: Serve runs storage's sweep of abandoned
// multipart uploads (storage/abandoned.go) over the places below.

// servedPlaces turns the homes users may write to into the places the
// abandoned-upload sweep covers: a multi-bucket home covers every bucket the
// gateway can list (within FTP2S3_BUCKETS when set); a prefix inside another
// is swept once.
func (g *Gateway) servedPlaces(ctx context.Context) ([]storage.Place, error) {
	byBucket := map[string][]string{}
	var err error
	for _, h := range g.homes {
		if h.Bucket != "" {
			p := ""
			if h.Prefix != "" {
				p = h.Prefix + "/"
			}
			byBucket[h.Bucket] = append(byBucket[h.Bucket], p)
			continue
		}
		var all []storage.Entry
		if all, err = g.Backend.ListBuckets(ctx); err != nil {
			continue
		}
		allowed := strings.FieldsFunc(g.Config.Buckets, func(r rune) bool { return r == ',' || r == ' ' })
		for _, b := range all {
			if len(allowed) == 0 || slices.Contains(allowed, b.Name) {
				byBucket[b.Name] = append(byBucket[b.Name], "")
			}
		}
	}
	var out []storage.Place
	for _, bucket := range slices.Sorted(maps.Keys(byBucket)) {
		ps := byBucket[bucket]
		slices.Sort(ps)
		kept := ""
		for i, p := range ps {
			if i > 0 && strings.HasPrefix(p, kept) {
				continue
			}
			kept = p
			out = append(out, storage.Place{Bucket: bucket, Prefix: p})
		}
	}
	return out, err
}
