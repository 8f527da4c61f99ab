package storage

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// BenchmarkReadPartStreams reads 16 MiB parts with readPart from loopback TCP
// connections, streams at once, as an upload's data connections feed it, and
// reports the process CPU per GiB (sender included, the same in every case).
// It separates the kernel's share of W3's extra cost from the gateway's
// (bench/results/notes-perfw3.md): the same reads and CRC32, without the
// budget, HTTP or S3, already cost more per GiB with 8 streams than with 1.
func BenchmarkReadPartStreams(b *testing.B) {
	for _, streams := range []int{1, 8} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			benchReadPart(b, streams)
		})
	}
}

func benchReadPart(b *testing.B, streams int) {
	const part = 16 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	conns := make([]net.Conn, streams)
	var senders sync.WaitGroup
	for i := range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = s
		senders.Add(1)
		go func() {
			defer senders.Done()
			defer c.Close()
			chunk := make([]byte, 1<<20)
			for {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
	}
	b.SetBytes(part)
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	var wg sync.WaitGroup
	var recvNs atomic.Int64 // the readers' own CPU (each on its own thread)
	per := b.N/streams + 1
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var t0, t1 syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_THREAD, &t0)
			defer func() {
				_ = syscall.Getrusage(syscall.RUSAGE_THREAD, &t1)
				recvNs.Add(t1.Utime.Nano() + t1.Stime.Nano() - t0.Utime.Nano() - t0.Stime.Nano())
			}()
			bufs := [2][]byte{make([]byte, part), make([]byte, part)}
			for i := range per {
				if _, _, err := readPart(c, bufs[i%2]); err != nil && err != io.EOF {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := float64(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) / 1e9
	b.ReportMetric(cpu/(float64(per*streams*part)/(1<<30)), "cpu-s/GiB")
	b.ReportMetric(float64(recvNs.Load())/1e9/(float64(per*streams*part)/(1<<30)), "reader-s/GiB")
	b.ReportMetric(float64(ru1.Stime.Nano()-ru0.Stime.Nano())/1e9/(float64(per*streams*part)/(1<<30)), "sys-s/GiB")
	for _, c := range conns {
		c.Close()
	}
	senders.Wait()
}
