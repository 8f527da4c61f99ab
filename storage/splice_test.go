package storage

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

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
	conn, _ := tcpPair(t)
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

// TestKernelPipeMove moves bytes between two loopback connections the way a
// spliced download does, and tells a failure of the source (S3: retried) from
// one of the destination (the client: not retried).
func TestKernelPipeMove(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("splice(2) is Linux only; other systems take the copying path (TestSpliceFallbackChoice)")
	}
	newMove := func(t *testing.T) (s3Side, src, dst, client *net.TCPConn, p *kernelPipe) {
		s3Side, src = tcpPair(t)
		dst, client = tcpPair(t)
		p, err := newKernelPipe(true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.close)
		return s3Side, src, dst, client, p
	}

	t.Run("bytes arrive intact and counted", func(t *testing.T) {
		s3Side, src, dst, client, p := newMove(t)
		data := make([]byte, 5<<20+17)
		for i := range data {
			data[i] = byte(i*7 + i>>11)
		}
		go func() { _, _ = s3Side.Write(data); _, _ = s3Side.Write([]byte("next response")) }()
		got := make(chan []byte, 1)
		go func() { b, _ := io.ReadAll(client); got <- b }()
		var counted, progressed int64
		n, err := p.move(src, SpliceDest{Conn: dst, Moved: func(n int64) { counted += n }, Err: func(e error) error { return e }},
			int64(len(data)), func(n int64) { progressed += n })
		if err != nil || n != int64(len(data)) || counted != n || progressed != n {
			t.Fatalf("moved %d (counted %d, progress %d), %v; want %d", n, counted, progressed, err, len(data))
		}
		_ = dst.Close()
		if b := <-got; !bytes.Equal(b, data) {
			t.Fatalf("client got %d bytes, not the %d sent", len(b), len(data))
		}
		// Nothing past the range was taken from the source.
		rest := make([]byte, 13)
		if _, err := io.ReadFull(src, rest); err != nil || string(rest) != "next response" {
			t.Fatalf("source after the range: %q, %v", rest, err)
		}
	})

	t.Run("source breaks off", func(t *testing.T) {
		s3Side, src, dst, client, p := newMove(t)
		go func() { _, _ = s3Side.Write(make([]byte, 100<<10)); _ = s3Side.Close() }()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		n, err := p.move(src, SpliceDest{Conn: dst, Moved: func(int64) {}, Err: func(e error) error { return e }}, 1<<20, func(int64) {})
		var be *bodyError
		if n != 100<<10 || !errors.As(err, &be) {
			t.Fatalf("moved %d, %v; want 102400 and a body error", n, err)
		}
	})

	t.Run("client stalls", func(t *testing.T) {
		s3Side, src, dst, _, p := newMove(t)
		go func() { _, _ = s3Side.Write(make([]byte, 64<<20)) }()
		tagged := errors.New("tagged")
		start := time.Now()
		_, err := p.move(src, SpliceDest{Conn: dst, Timeout: 300 * time.Millisecond, Moved: func(int64) {},
			Err: func(e error) error { return errors.Join(tagged, e) }}, 64<<20, func(int64) {})
		var se *sinkError
		if !errors.As(err, &se) || !errors.Is(err, tagged) || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("stalled client: %v; want a tagged sink error with the deadline", err)
		}
		if el := time.Since(start); el > 10*time.Second {
			t.Fatalf("stall noticed after %s", el)
		}
	})

	t.Run("client closed", func(t *testing.T) {
		s3Side, src, dst, client, p := newMove(t)
		go func() { _, _ = s3Side.Write(make([]byte, 8<<20)) }()
		_ = client.Close()
		_, err := p.move(src, SpliceDest{Conn: dst, Moved: func(int64) {}, Err: func(e error) error { return e }}, 8<<20, func(int64) {})
		var se *sinkError
		if !errors.As(err, &se) {
			t.Fatalf("closed client: %v; want a sink error", err)
		}
	})
}
