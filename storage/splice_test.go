package storage

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ftp2s3/ftp2s3/internal/testkit"
)

type plainWriter struct{ bytes.Buffer }

type spliceWriter struct {
	plainWriter
	dest SpliceDest
	ok   bool
}

func (w *spliceWriter) SpliceDest() (SpliceDest, bool) { return w.dest, w.ok }

// TestSpliceFallbackChoice: a download is spliced only into a destination
// that offers a plain TCP socket, from a backend whose endpoint allows it;
// everything else takes the copying path.
func TestSpliceFallbackChoice(t *testing.T) {
	conn, _ := testkit.TCPPair(t)
	withPresign := &Backend{presign: s3.NewPresignClient(NewStaticClient("http://127.0.0.1:9000", "", "k", "s", true))}
	for _, c := range []struct {
		name string
		b    *Backend
		w    io.Writer
		want bool
	}{
		{"plain TCP data connection", withPresign, &spliceWriter{dest: SpliceDest{Conn: conn}, ok: true}, true},
		{"TLS data connection", withPresign, &spliceWriter{ok: false}, false},
		{"no socket", withPresign, &spliceWriter{ok: true}, false},
		{"ASCII or another transforming writer", withPresign, &plainWriter{}, false},
		{"endpoint that cannot be spliced", &Backend{}, &spliceWriter{dest: SpliceDest{Conn: conn}, ok: true}, false},
	} {
		d, ok := c.b.spliceDest(c.w)
		if want := c.want && spliceSupported; ok != want {
			t.Errorf("%s: spliced %v, want %v", c.name, ok, want)
		}
		if ok && (d.Moved == nil || d.Err == nil) {
			t.Errorf("%s: destination without defaults: %+v", c.name, d)
		}
	}
}

// TestSplicePresigner: only a plain-HTTP endpoint reached without a proxy
// through a transport the gateway knows is spliced.
func TestSplicePresigner(t *testing.T) {
	proxy, _ := url.Parse("http://proxy.invalid:3128")
	custom := roundTripper(func(*http.Request) (*http.Response, error) { return nil, errors.New("unused") })
	for _, c := range []struct {
		name     string
		endpoint string
		client   any
		want     bool
	}{
		{"plain HTTP", "http://127.0.0.1:9000", nil, true},
		{"plain HTTP, SDK's buildable client", "http://127.0.0.1:9000", awshttp.NewBuildableClient(), true},
		{"HTTPS", "https://127.0.0.1:9000", nil, false},
		{"through a proxy", "http://10.1.2.3:9000", &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}, false},
		{"a transport of its own", "http://127.0.0.1:9000", &http.Client{Transport: custom}, false},
	} {
		client := NewStaticClient(c.endpoint, "", "k", "s", true)
		if c.client != nil {
			client = s3.New(client.Options(), func(o *s3.Options) { o.HTTPClient = c.client.(s3.HTTPClient) })
		}
		if got := splicePresigner(client) != nil; got != c.want {
			t.Errorf("%s: presigner %v, want %v", c.name, got, c.want)
		}
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestParseContentRange(t *testing.T) {
	for _, c := range []struct {
		in                 string
		first, last, total int64
		ok                 bool
	}{
		{"bytes 0-99/1234", 0, 99, 1234, true},
		{"bytes 100-199/*", 100, 199, -1, true},
		{"bytes 9-3/10", 0, 0, 0, false},
		{"bytes */10", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	} {
		f, l, n, ok := parseContentRange(c.in)
		if ok != c.ok || (ok && (f != c.first || l != c.last || n != c.total)) {
			t.Errorf("%q: %d %d %d %v", c.in, f, l, n, ok)
		}
	}
}
