package storage

// Linux only: other systems have no splice(2) and take the copying path
// (TestSpliceFallbackChoice).

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/internal/testkit"
)

// TestKernelPipeMove moves bytes between two loopback connections the way a
// spliced download does, and tells a failure of the source (S3: retried) from
// one of the destination (the client: not retried).
func TestKernelPipeMove(t *testing.T) {
	newMove := func(t *testing.T) (s3Side, src, dst, client *net.TCPConn, p *kernelPipe) {
		s3Side, src = testkit.TCPPair(t)
		dst, client = testkit.TCPPair(t)
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

// BenchmarkKernelPipeMove splices 16 MiB ranges from one loopback connection
// to another, as a spliced download does, and reports the process's CPU (both
// ends' copies included) and the bytes each splice moved:
//
//	go test -run '^$' -bench BenchmarkKernelPipeMove -benchtime 64x -count 3 ./storage/
//
// Marking the splices into the data connection SPLICE_F_MORE (MSG_MORE) was
// measured with it and changed nothing: each splice already moves about
// 1 MiB in and 0.7 MiB out (bench/results/notes-perfget.md).
func BenchmarkKernelPipeMove(b *testing.B) {
	const chunk = 16 << 20
	s3Side, src := testkit.TCPPair(b)
	dst, client := testkit.TCPPair(b)
	p, err := newKernelPipe(true)
	if err != nil {
		b.Fatal(err)
	}
	defer p.close()
	data := make([]byte, chunk)
	go func() {
		for range b.N {
			if _, err := s3Side.Write(data); err != nil {
				return
			}
		}
	}()
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, client); close(done) }()
	b.SetBytes(chunk)
	stop := reportCPU(b)
	for range b.N {
		if _, err := p.move(src, SpliceDest{Conn: dst, Moved: func(int64) {}, Err: func(e error) error { return e }}, chunk, func(int64) {}); err != nil {
			b.Fatal(err)
		}
	}
	_ = dst.Close()
	<-done
	stop()
	b.ReportMetric(float64(b.N)*chunk/float64(p.ins), "B/splice-in")
	b.ReportMetric(float64(b.N)*chunk/float64(p.outs), "B/splice-out")
}
