package gateway

import (
	"fmt"
	"net/netip"
	"path"
	"strings"

	"github.com/ftp2s3/ftp2s3/gateway/auth"
	"github.com/ftp2s3/ftp2s3/gateway/datachan"
	"github.com/ftp2s3/ftp2s3/session"
)

// Typed values of Config that parse themselves once, when the environment is
// read (encoding.TextUnmarshaler, as PortRange and Size): wiring uses them as
// they are, and Validate checks only how they combine.

// BucketName is one S3 bucket name (FTP2S3_BUCKET); empty means every bucket.
type BucketName string

// UnmarshalText checks the name. "/" is every bucket, as for a home.
func (b *BucketName) UnmarshalText(t []byte) error {
	h, err := session.ParseHome(string(t))
	if err != nil {
		return err
	}
	if h.Prefix != "" {
		return fmt.Errorf("%q is not a bucket name (a prefix goes in FTP2S3_PREFIX)", strings.TrimSpace(string(t)))
	}
	*b = BucketName(h.Bucket)
	return nil
}

// KeyPrefix is a key prefix inside the default bucket (FTP2S3_PREFIX), kept
// without leading or trailing slashes and with "." and ".." folded, as
// session.Home holds it.
type KeyPrefix string

// UnmarshalText cleans the prefix.
func (p *KeyPrefix) UnmarshalText(t []byte) error {
	s := strings.Trim(strings.TrimSpace(string(t)), "/")
	if s != "" {
		s = strings.Trim(path.Clean("/"+s), "/")
	}
	*p = KeyPrefix(s)
	return nil
}

// Home is a home set by a variable (FTP2S3_ANONYMOUS_HOME): bucket,
// bucket/prefix or "/" (every bucket). The zero value is unset, which is not
// "/".
type Home struct {
	session.Home
	Set bool
}

// HomeAt is h as a set Home (embedders and tests).
func HomeAt(h session.Home) Home { return Home{Home: h, Set: true} }

// UnmarshalText parses the home; blank leaves it unset.
func (h *Home) UnmarshalText(t []byte) error {
	if strings.TrimSpace(string(t)) == "" {
		*h = Home{}
		return nil
	}
	parsed, err := session.ParseHome(string(t))
	if err != nil {
		return err
	}
	*h = HomeAt(parsed)
	return nil
}

// BucketSet is a set of bucket names (FTP2S3_BUCKETS, comma-separated); empty
// (nil) means no restriction.
type BucketSet map[string]bool

// UnmarshalText parses the list.
func (s *BucketSet) UnmarshalText(t []byte) error {
	set, err := auth.ParseBucketList(string(t))
	if err != nil {
		return err
	}
	*s = set
	return nil
}

// Prefixes are networks (FTP2S3_PROXY_TRUSTED: comma-separated CIDRs or
// single addresses).
type Prefixes []netip.Prefix

// UnmarshalText parses the list (ParseTrusted).
func (p *Prefixes) UnmarshalText(t []byte) error {
	list, err := ParseTrusted(string(t))
	if err != nil {
		return err
	}
	*p = list
	return nil
}

// HostOverrides are the passive hosts advertised per client network
// (FTP2S3_PASSIVE_HOST_OVERRIDES: "cidr=host,cidr=host").
type HostOverrides []datachan.HostOverride

// UnmarshalText parses the list (datachan.ParseHostOverrides).
func (o *HostOverrides) UnmarshalText(t []byte) error {
	list, err := datachan.ParseHostOverrides(string(t))
	if err != nil {
		return err
	}
	*o = list
	return nil
}

// DefaultHome is FTP2S3_BUCKET/FTP2S3_PREFIX as a home: what a user whose
// record names no home sees as "/".
func (c *Config) DefaultHome() session.Home {
	if c.Bucket == "" {
		return session.Home{}
	}
	return session.Home{Bucket: string(c.Bucket), Prefix: string(c.Prefix)}
}
