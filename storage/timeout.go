package storage

import (
	"errors"
	"net"
	"net/http"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// AttemptTimeout bounds how long one S3 request attempt may wait for the
// response's headers once the request has been sent (FTP2S3_S3_ATTEMPT_TIMEOUT):
// an S3 that accepts connections and never answers then fails the attempt, which
// is retried like a connection error (retry.go), instead of holding it forever.
// It is the transport's ResponseHeaderTimeout, so a long streaming GET or PUT is
// not cut: the clock stops at the headers, and starts only once a PUT's body
// has been sent. An HTTP client of another kind (a test's fault injector) is
// left as it is. Zero leaves the client unchanged.
func AttemptTimeout(d time.Duration) func(*s3.Options) {
	return func(o *s3.Options) {
		if d <= 0 {
			return
		}
		switch c := o.HTTPClient.(type) {
		case *awshttp.BuildableClient:
			o.HTTPClient = c.WithTransportOptions(func(t *http.Transport) { t.ResponseHeaderTimeout = d })
		case *http.Client:
			if t, ok := c.Transport.(*http.Transport); ok {
				t = t.Clone()
				t.ResponseHeaderTimeout = d
				cc := *c
				cc.Transport = t
				o.HTTPClient = &cc
			}
		}
	}
}

// headerTimeout is the AttemptTimeout a client carries, for the spliced
// downloads' own connections (splice.go), which read response heads themselves.
func headerTimeout(client *s3.Client) time.Duration {
	switch c := client.Options().HTTPClient.(type) {
	case *awshttp.BuildableClient:
		return c.GetTransport().ResponseHeaderTimeout
	case *http.Client:
		if t, ok := c.Transport.(*http.Transport); ok {
			return t.ResponseHeaderTimeout
		}
	}
	return 0
}

// IsTimeout reports whether err is an S3 request that got no answer in time:
// its connection or its response's headers timed out (AttemptTimeout), on its
// last attempt. The session answers it 451, not as the data connection's
// timeout it would otherwise look like (a context.DeadlineExceeded).
func IsTimeout(err error) bool {
	var send *smithyhttp.RequestSendError
	var ne net.Error
	return errors.As(err, &send) && errors.As(send.Err, &ne) && ne.Timeout()
}
