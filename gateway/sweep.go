package gateway

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ftp2s3/ftp2s3/storage"
)

// FTP2S3_ABANDONED_UPLOAD_AGE: Serve runs storage's sweep of abandoned
// multipart uploads (storage/abandoned.go) over the places below
// (docs/uploads-and-names.md).

// sweepInterval is how often the sweep runs after the one at start-up: hourly,
// or every age when that is shorter, so an upload abandoned for age is gone
// within about twice that.
func sweepInterval(age time.Duration) time.Duration {
	return min(time.Hour, max(age, time.Second))
}

// servedPlaces turns the homes users may write to into the places the
// abandoned-upload sweep covers. Only buckets the configuration names are
// swept: a bucket home, and for a multi-bucket home ("/") the buckets of
// FTP2S3_BUCKETS; never every bucket the credentials can list, which may hold
// other applications' uploads. A prefix inside another is swept once.
func (g *Gateway) servedPlaces(context.Context) ([]storage.Place, error) {
	byBucket := map[string][]string{}
	homes := g.homes
	if g.users != nil {
		homes = g.users.WriteHomes() // as reloaded since start
	}
	for _, h := range homes {
		if h.Bucket != "" {
			p := ""
			if h.Prefix != "" {
				p = h.Prefix + "/"
			}
			byBucket[h.Bucket] = append(byBucket[h.Bucket], p)
			continue
		}
		for b := range g.Config.Buckets {
			byBucket[b] = append(byBucket[b], "")
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
	return out, nil
}

// warnUnswept says at start-up when a multi-bucket home is left out of the
// sweep for want of FTP2S3_BUCKETS, so an operator is not surprised.
func (g *Gateway) warnUnswept() {
	if len(g.Config.Buckets) > 0 {
		return
	}
	for _, h := range g.homes {
		if h.Bucket == "" {
			g.Log.Info("abandoned multipart uploads: homes of every bucket (\"/\") are not swept without FTP2S3_BUCKETS")
			return
		}
	}
}
