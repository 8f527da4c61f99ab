package auth

import (
	"context"
	"fmt"
	"strings"

	"github.com/ftp2s3/ftp2s3/session"
)

// ParseBucketList reads FTP2S3_BUCKETS: bucket names separated by commas. An
// empty list means no restriction (nil).
func ParseBucketList(s string) (map[string]bool, error) {
	var allow map[string]bool
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if h, err := session.ParseHome(name); err != nil || h.Bucket != name || h.Prefix != "" {
			return nil, fmt.Errorf("%q is not a bucket name", name)
		}
		if allow == nil {
			allow = map[string]bool{}
		}
		allow[name] = true
	}
	return allow, nil
}

// AllowBuckets wraps next so that every user whose home is "/" (every bucket)
// reaches only the buckets of allow (ParseBucketList): the home carries the
// list (session.Home.Allowed), so the user's storage, the gateway's or their
// own, is used as it is. Users whose home names a bucket are left alone: the
// operator chose that bucket for them.
func AllowBuckets(next session.Authenticator, allow map[string]bool) session.Authenticator {
	names := make([]string, 0, len(allow))
	for n := range allow {
		names = append(names, n)
	}
	return bucketAllowAuth{next: next, allow: session.NewBucketSet(names...)}
}

type bucketAllowAuth struct {
	next  session.Authenticator
	allow *session.BucketSet
}

// Authenticate implements session.Authenticator.
func (a bucketAllowAuth) Authenticate(ctx context.Context, name, password string) (*session.User, error) {
	u, err := a.next.Authenticate(ctx, name, password)
	if err != nil || u.Home.Bucket != "" {
		return u, err
	}
	restricted := *u
	restricted.Home.Allowed = a.allow
	return &restricted, nil
}
