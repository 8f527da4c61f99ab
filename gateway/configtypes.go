package gateway

import (
	"fmt"
	"log/slog"
	"net/netip"
	"path"
	"slices"
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

// The enumerations: each refuses a value outside its list when it is read.

// AuthMode is who logs in (FTP2S3_AUTH): users, s3 or http.
type AuthMode string

// UnmarshalText checks the mode.
func (m *AuthMode) UnmarshalText(t []byte) error { return setOneOf(m, t, "users", "s3", "http") }

// TLSMode is FTP2S3_TLS: off, explicit, required or implicit.
type TLSMode string

// UnmarshalText checks the mode.
func (m *TLSMode) UnmarshalText(t []byte) error {
	return setOneOf(m, t, "off", "explicit", "required", "implicit")
}

// LogFormat is FTP2S3_LOG_FORMAT: text or json.
type LogFormat string

// UnmarshalText checks the format.
func (f *LogFormat) UnmarshalText(t []byte) error { return setOneOf(f, t, "text", "json") }

// SetStatMode is FTP2S3_SETSTAT: store or ignore.
type SetStatMode string

// UnmarshalText checks the mode.
func (m *SetStatMode) UnmarshalText(t []byte) error { return setOneOf(m, t, "store", "ignore") }

// ProxyMode is FTP2S3_PROXY_PROTOCOL: off, optional or required.
type ProxyMode string

// UnmarshalText checks the mode.
func (m *ProxyMode) UnmarshalText(t []byte) error {
	return setOneOf(m, t, "off", "optional", "required")
}

func setOneOf[T ~string](v *T, t []byte, allowed ...string) error {
	if !slices.Contains(allowed, string(t)) {
		return fmt.Errorf("%q is not one of %s", t, strings.Join(allowed, ", "))
	}
	*v = T(t)
	return nil
}

// LogLevel is FTP2S3_LOG_LEVEL: debug, info, warn or error.
type LogLevel slog.Level

// UnmarshalText parses the level.
func (l *LogLevel) UnmarshalText(t []byte) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText(t); err != nil {
		return fmt.Errorf("%q is not one of debug, info, warn, error", t)
	}
	*l = LogLevel(lvl)
	return nil
}
