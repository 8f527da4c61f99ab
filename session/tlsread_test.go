package session

import (
	"crypto/tls"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// BenchmarkTLSDataRead: a crypto/tls client sends 256 KiB Writes (one
// write(2) per record, as the bench's client does) over a loopback PROT P
// connection, and the server reads them into a 16 MiB buffer the way
// storage's readPart fills a part. It reports the CPU per GiB of the reading
// thread (the socket reads, decryption, the copies; user and system time
// apart) and of the process. A 128 or 256 KiB read-ahead buffer under the
// tls.Conn measured worse with it (bench/results/notes-perftls2.md).
func BenchmarkTLSDataRead(b *testing.B) {
	srv, _, client := tlsDataPair(&testing.T{}, tls.VersionTLS13)
	piece := make([]byte, 256<<10)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := client.Write(piece); err != nil {
				return
			}
		}
	}()
	part := make([]byte, 16<<20)
	fill := func() {
		for n := 0; n < len(part); {
			m, err := srv.Read(part[n:])
			if err != nil {
				b.Fatal(err)
			}
			n += m
		}
	}
	fill() // past the first records
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	proc0 := cpuTime(syscall.RUSAGE_SELF)
	user0, sys0 := threadCPU()
	b.SetBytes(int64(len(part)))
	for b.Loop() {
		fill()
	}
	gib := float64(b.N) * float64(len(part)) / (1 << 30)
	user, sys := threadCPU()
	b.ReportMetric((user-user0+sys-sys0).Seconds()/gib, "reader-cpu-s/GiB")
	b.ReportMetric((user-user0).Seconds()/gib, "reader-user-s/GiB")
	b.ReportMetric((sys-sys0).Seconds()/gib, "reader-sys-s/GiB")
	b.ReportMetric((cpuTime(syscall.RUSAGE_SELF)-proc0).Seconds()/gib, "cpu-s/GiB")
	close(stop)
	_ = srv.Close()
	_ = client.Close()
}

// threadCPU is the user and system CPU time of the calling thread.
func threadCPU() (user, sys time.Duration) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
