package gateway

import (
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/ftp2s3/ftp2s3/session"
)

// Types and checks of the events-out and upload-check variables
// (docs/events.md); their fields are in Config.

// MetadataFields is FTP2S3_OBJECT_METADATA: which who-sent-it metadata every
// written object carries, a comma-separated subset of "user" and "client";
// "none" (or empty) for none.
type MetadataFields session.ObjectMetadata

// UnmarshalText parses "user,client".
func (m *MetadataFields) UnmarshalText(b []byte) error {
	*m = MetadataFields{}
	for _, f := range strings.Split(string(b), ",") {
		switch strings.ToLower(strings.TrimSpace(f)) {
		case "user":
			m.User = true
		case "client":
			m.Client = true
		case "", "none":
		default:
			return fmt.Errorf("%q is not one of user, client (or none)", strings.TrimSpace(f))
		}
	}
	return nil
}

// metadataOffWhenEmpty applies FTP2S3_OBJECT_METADATA set to the empty
// string, which turns the metadata off: the environment library gives an
// empty variable its default, so it is looked at once more here.
func (c *Config) metadataOffWhenEmpty() {
	if v, ok := os.LookupEnv("FTP2S3_OBJECT_METADATA"); ok && strings.TrimSpace(v) == "" {
		c.ObjectMetadata = MetadataFields{}
	}
}

// EndpointURL is an http or https URL the gateway posts to (the identity
// service, the events receiver, the upload checker); empty means off.
type EndpointURL struct{ URL *url.URL }

// UnmarshalText parses and checks the URL.
func (e *EndpointURL) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "" {
		*e = EndpointURL{}
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL", s)
	}
	e.URL = u
	return nil
}

// String is the URL, or "" when unset.
func (e EndpointURL) String() string {
	if e.URL == nil {
		return ""
	}
	return e.URL.String()
}

// Set reports whether a URL was given.
func (e EndpointURL) Set() bool { return e.URL != nil }

// CheckFailure is FTP2S3_UPLOAD_CHECK_FAILURE: what an upload becomes when the
// checker gives no verdict (timeout, 5xx).
type CheckFailure string

// The values of CheckFailure.
const (
	CheckFailureReject CheckFailure = "reject"
	CheckFailureAccept CheckFailure = "accept"
)

// UnmarshalText accepts reject or accept.
func (f *CheckFailure) UnmarshalText(b []byte) error {
	switch v := CheckFailure(strings.ToLower(strings.TrimSpace(string(b)))); v {
	case CheckFailureReject, CheckFailureAccept:
		*f = v
		return nil
	}
	return fmt.Errorf("%q is not one of reject, accept", string(b))
}

// validateEvents checks the events-out and upload-check variables together.
func (c *Config) validateEvents() []error {
	var p []error
	bad := func(name, format string, args ...any) {
		p = append(p, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	if c.NotifyQueue <= 0 {
		bad("FTP2S3_NOTIFY_QUEUE", "must be a positive number of events, got %d", c.NotifyQueue)
	}
	if c.NotifyToken != "" && !c.NotifyURL.Set() {
		bad("FTP2S3_NOTIFY_TOKEN", "needs FTP2S3_NOTIFY_URL")
	}
	if c.UploadCheckToken != "" && !c.UploadCheckURL.Set() {
		bad("FTP2S3_UPLOAD_CHECK_TOKEN", "needs FTP2S3_UPLOAD_CHECK_URL")
	}
	if c.UploadCheckTimeout <= 0 {
		bad("FTP2S3_UPLOAD_CHECK_TIMEOUT", "must be a positive duration, got %s", c.UploadCheckTimeout)
	}
	return p
}
