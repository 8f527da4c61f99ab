package session

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/internal/testkit"
)

// countingConn counts the writes that reach the socket and their sizes.
type countingConn struct {
	net.Conn
	writes  atomic.Int64
	largest atomic.Int64
	fail    atomic.Bool // fail every write from now on
}

var errTestWrite = errors.New("test: write refused")

func (c *countingConn) Write(p []byte) (int, error) {
	if c.fail.Load() {
		return 0, errTestWrite
	}
	c.writes.Add(1)
	if int64(len(p)) > c.largest.Load() {
		c.largest.Store(int64(len(p)))
	}
	return c.Conn.Write(p)
}

// tlsDataPair secures a loopback connection as secureData does for a PROT P
// data connection and returns the server side, the socket writes under it and
// the client side.
func tlsDataPair(t *testing.T, maxVersion uint16) (*tlsData, *countingConn, *tls.Conn) {
	t.Helper()
	cert := testkit.NewCert(t, 1)
	dialed, accepted := testkit.TCPPair(t)
	counted := &countingConn{Conn: accepted}
	conf := cert.ServerConfig()
	conf.MaxVersion = maxVersion
	s := &Session{cfg: &Config{DataTimeout: 5 * time.Second}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	client := tls.Client(dialed, &tls.Config{RootCAs: cert.Pool(), ServerName: "127.0.0.1"})
	hsErr := make(chan error, 1)
	go func() { hsErr <- client.Handshake() }()
	conn, refused := s.secureData(context.Background(), counted, conf)
	if refused != nil {
		t.Fatalf("secureData refused: %v", refused.Lines)
	}
	if err := <-hsErr; err != nil {
		t.Fatal(err)
	}
	return conn.(*tlsData), counted, client
}

func TestTLSDataBatchesRecordsOfALargeWrite(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			srv, counted, client := tlsDataPair(t, v)
			payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, 64 full records
			got := make(chan []byte, 1)
			go func() {
				b, _ := io.ReadAll(io.LimitReader(client, int64(2*len(payload))))
				got <- b
			}()
			// Past crypto/tls's small first records (it grows them over the
			// first 128 KiB), then count one large write.
			if _, err := srv.Write(payload); err != nil {
				t.Fatal(err)
			}
			before := counted.writes.Load()
			if n, err := srv.Write(payload); err != nil || n != len(payload) {
				t.Fatalf("Write = %d, %v", n, err)
			}
			writes := counted.writes.Load() - before
			// 64 records in sends of batchRecords; a few more where a record
			// does not fit the rest of the buffer.
			if want := int64(64/batchRecords + 2); writes > want {
				t.Errorf("1 MiB went out in %d socket writes, want at most %d", writes, want)
			}
			if max := counted.largest.Load(); max <= tlsRecordMax {
				t.Errorf("largest socket write %d bytes: no records were gathered", max)
			}
			if err := srv.Close(); err != nil {
				t.Fatal(err)
			}
			if b := <-got; !bytes.Equal(b, append(append([]byte(nil), payload...), payload...)) {
				t.Fatalf("client read %d bytes, not the %d written", len(b), 2*len(payload))
			}
		})
	}
}

// Nothing is held past a Write: the client receives all of it while the
// server does nothing more (no close, no further write).
func TestTLSDataWriteHoldsNothing(t *testing.T) {
	srv, _, client := tlsDataPair(t, tls.VersionTLS13)
	for _, size := range []int{1, 100, 16 << 10, 16<<10 + 1, 3*16<<10 + 7, 300 << 10} {
		payload := bytes.Repeat([]byte{byte(size)}, size)
		if _, err := srv.Write(payload); err != nil {
			t.Fatal(err)
		}
		_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
		b := make([]byte, size)
		if _, err := io.ReadFull(client, b); err != nil {
			t.Fatalf("after a Write of %d bytes the client read: %v", size, err)
		}
		if !bytes.Equal(b, payload) {
			t.Fatalf("Write of %d bytes arrived altered", size)
		}
	}
	if srv.batch.buf != nil {
		t.Error("the batch buffer is still held after the Writes returned")
	}
}

// A send that fails is reported by the Write that gathered it, and by every
// later one: crypto/tls never saw it fail.
func TestTLSDataBatchedSendFailure(t *testing.T) {
	srv, counted, client := tlsDataPair(t, tls.VersionTLS13)
	go func() { _, _ = io.Copy(io.Discard, client) }()
	counted.fail.Store(true)
	n, err := srv.Write(make([]byte, 200<<10))
	if !errors.Is(err, errTestWrite) || n != 0 {
		t.Fatalf("Write = %d, %v; want 0 and the socket's error", n, err)
	}
	if _, err := srv.Write(make([]byte, 10)); err == nil {
		t.Fatal("a Write after a failed send succeeded")
	}
}

// Writes from another goroutine (crypto/tls's alerts, Close) while a large
// Write is gathering keep the stream whole.
func TestTLSDataConcurrentSmallWrites(t *testing.T) {
	srv, _, client := tlsDataPair(t, tls.VersionTLS13)
	var wg sync.WaitGroup
	total := 0
	for i := range 8 {
		size := 1 << 10
		if i%2 == 0 {
			size = 200 << 10
		}
		total += size
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := srv.Write(make([]byte, size)); err != nil {
				t.Error(err)
			}
		}()
	}
	got := make(chan int64, 1)
	go func() { n, _ := io.Copy(io.Discard, client); got <- n }()
	wg.Wait()
	_ = srv.Close()
	if n := <-got; n != int64(total) {
		t.Fatalf("client read %d bytes, want %d", n, total)
	}
}

// BenchmarkTLSDataWrite sends 256 KiB Writes (readAhead's sendPiece) over a
// PROT P data connection to a TLS client that reads them in 1 MiB buffers, as
// the bench's client does, with the records sent one by one (batch=1: crypto/tls
// alone) and gathered. It reports the CPU per GiB of the writing thread
// (encryption, the socket writes and, on loopback, the delivery into the
// reader's socket) and of the whole process, and the socket writes per GiB.
func BenchmarkTLSDataWrite(b *testing.B) {
	for _, records := range []int{1, 2, 4, 8, 16} {
		b.Run(fmt.Sprintf("batch=%d", records), func(b *testing.B) {
			oldRecords, oldMin := batchRecords, batchMin
			batchRecords = records
			if records == 1 {
				batchMin = math.MaxInt
			}
			batchPool = sync.Pool{New: func() any { b := make([]byte, 0, batchRecords*tlsRecordMax); return &b }}
			defer func() { batchRecords, batchMin = oldRecords, oldMin }()
			srv, counted, client := tlsDataPair(&testing.T{}, tls.VersionTLS13)
			go func() { _, _ = io.CopyBuffer(io.Discard, struct{ io.Reader }{client}, make([]byte, 1<<20)) }()
			piece := make([]byte, 256<<10)
			for range 8 { // past the small first records
				_, _ = srv.Write(piece)
			}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			w0, proc0, thr0 := counted.writes.Load(), cpuTime(syscall.RUSAGE_SELF), cpuTime(1 /* RUSAGE_THREAD */)
			b.SetBytes(int64(len(piece)))
			for b.Loop() {
				if _, err := srv.Write(piece); err != nil {
					b.Fatal(err)
				}
			}
			gib := float64(b.N) * float64(len(piece)) / (1 << 30)
			b.ReportMetric((cpuTime(1)-thr0).Seconds()/gib, "writer-cpu-s/GiB")
			b.ReportMetric((cpuTime(syscall.RUSAGE_SELF)-proc0).Seconds()/gib, "cpu-s/GiB")
			b.ReportMetric(float64(counted.writes.Load()-w0)/gib, "writes/GiB")
			_ = srv.Close()
		})
	}
}

func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
