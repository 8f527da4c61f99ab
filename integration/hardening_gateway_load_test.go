package integration

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/integration/miniotest"
)

// openFiles counts this process's open file descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// settle polls until the goroutines and open files of the process are within
// slack of the targets, or the limit passes; it returns the last counts.
func settle(t *testing.T, goroutines, files, slack int, limit time.Duration) (int, int, bool) {
	t.Helper()
	var g, f int
	ok := eventually(limit, func() bool {
		g, f = runtime.NumGoroutine(), openFiles(t)
		return g <= goroutines+slack && f <= files+slack
	})
	return g, f, ok
}

// steady returns the goroutine and open-file counts once two samples in a row
// agree (sessions that just ended may still be unwinding), within five seconds.
func steady(t *testing.T) (int, int) {
	t.Helper()
	g, f := runtime.NumGoroutine(), openFiles(t)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond) // the sampling interval of the stability test, not a wait for a state
		g2, f2 := runtime.NumGoroutine(), openFiles(t)
		if g2 == g && f2 == f {
			break
		}
		g, f = g2, f2
	}
	return g, f
}

// dropIdleS3 closes the idle keep-alive connections of the gateway's S3 client
// (the S3-key logins share its HTTP client). That pool is bounded by design
// (storage/backend.go) and belongs to no session; after 1,000 parallel uploads
// it holds a few hundred connections until the idle timeout, which would hide
// what the sessions themselves leave behind.
func dropIdleS3(t *testing.T, g *testGateway) {
	t.Helper()
	c, ok := g.Backend.Client().Options().HTTPClient.(interface{ CloseIdleConnections() })
	if !ok {
		t.Fatalf("the S3 client's HTTP client %T cannot drop idle connections", g.Backend.Client().Options().HTTPClient)
	}
	c.CloseIdleConnections()
}

// netDialerFrom dials from the loopback address src.
func netDialerFrom(src string) net.Dialer {
	return net.Dialer{Timeout: 60 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
}

// TestHardeningThousandSessions: 1,000 sessions from 100 loopback addresses are
// open at once, then each uploads one small file; at least 99.5 % succeed, and
// once they have ended the process is back within 20 goroutines and 20 open
// files of where it started: nothing a session held outlives it. Logins use S3
// keys (verified once, then remembered), so that the test measures sessions
// rather than 1,000 bcrypt checks.
//
// It counts the goroutines and open files of the whole test process, so it
// runs alone in a process of its own (inOwnProcess), in parallel with the
// other tests.
func TestHardeningThousandSessions(t *testing.T) {
	if !inOwnProcess(t) {
		return
	}
	const sessions, addrs = 1000, 100
	g := startGateway(t, s3AuthMode, func(c *gateway.Config) {
		c.MaxConnections = sessions + 50
		c.MaxConnectionsPerIP = sessions/addrs + 5
		c.DataTimeout = 60 * time.Second
	})
	src := func(i int) string { return fmt.Sprintf("127.0.1.%d", 1+i%addrs) }
	// run opens n sessions, holds them all logged in at once, then has each
	// upload one file; it returns how many uploads succeeded and the peak
	// counts seen while every session was open.
	run := func(n int, prefix string) (ok, peakG, peakF int) {
		clients := make([]*ftp.ServerConn, n)
		errs := make([]error, n)
		open := newBarrier(n, 120*time.Second)
		defer open.release()
		var wg sync.WaitGroup
		var good atomic.Int64
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := ftp.Dial(g.Addr, ftp.DialWithTimeout(60*time.Second),
					ftp.DialWithDialer(netDialerFrom(src(i))))
				if err == nil {
					if err = c.Login(miniotest.AccessKey, miniotest.SecretKey); err != nil {
						_ = c.Quit()
					}
				}
				if err != nil {
					errs[i] = fmt.Errorf("login: %w", err)
					open.fail()
					return
				}
				clients[i] = c
				defer c.Quit()
				if !open.arrive() {
					errs[i] = fmt.Errorf("barrier limit passed")
					return
				}
				body := fmt.Sprintf("file %d of %s\n", i, prefix)
				if errs[i] = c.Stor(fmt.Sprintf("%s-%04d.txt", prefix, i), strings.NewReader(body)); errs[i] == nil {
					good.Add(1)
				}
			}()
		}
		began := time.Now()
		open.wait(t)
		peakG, peakF = runtime.NumGoroutine(), openFiles(t)
		open.release()
		loggedIn := time.Since(began)
		wg.Wait()
		t.Logf("%s: %d sessions logged in after %s, uploads done after %s", prefix, n, loggedIn.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
		failures := map[string]int{}
		for _, err := range errs {
			if err != nil {
				failures[err.Error()]++
			}
		}
		if len(failures) > 0 {
			t.Logf("%s: failures %v", prefix, failures)
		}
		return int(good.Load()), peakG, peakF
	}
	waitIdle := func() {
		t.Helper()
		if !eventually(time.Minute, func() bool { return g.GW.Server.ActiveSessions() == 0 && g.GW.Data.Stats().Reservations == 0 }) {
			t.Fatalf("sessions %d and passive reservations %d still open a minute after the clients quit",
				g.GW.Server.ActiveSessions(), g.GW.Data.Stats().Reservations)
		}
	}

	// A warm-up fills what is meant to stay (the S3 clients' idle connection
	// pools, the login cache), so that the baseline holds it too.
	if ok, _, _ := run(40, "warmup"); ok != 40 {
		t.Fatalf("warm-up: %d of 40 uploads succeeded", ok)
	}
	waitIdle()
	dropIdleS3(t, g)
	baseG, baseF := steady(t)
	t.Logf("baseline: %d goroutines, %d open files", baseG, baseF)

	start := time.Now()
	ok, peakG, peakF := run(sessions, "load")
	elapsed := time.Since(start)
	t.Logf("%d of %d uploads succeeded in %s; %d goroutines and %d open files with every session open",
		ok, sessions, elapsed.Round(time.Millisecond), peakG, peakF)
	if ok*1000 < sessions*995 {
		t.Errorf("%d of %d uploads succeeded, want at least 99.5 %%", ok, sessions)
	}
	if peakG < sessions || peakF < sessions {
		t.Errorf("only %d goroutines and %d files at the peak: the %d sessions were not open at once", peakG, peakF, sessions)
	}
	ended := time.Now()
	waitIdle()
	dropIdleS3(t, g)
	afterG, afterF, back := settle(t, baseG, baseF, 20, 60*time.Second)
	t.Logf("back to the baseline %s after the last upload", time.Since(ended).Round(time.Millisecond))
	t.Logf("after: %d goroutines (baseline %d), %d open files (baseline %d)", afterG, baseG, afterF, baseF)
	if !back {
		buf := make([]byte, 1<<20)
		t.Logf("goroutines:\n%s", buf[:runtime.Stack(buf, true)])
		t.Fatalf("a minute after the sessions ended: %d goroutines (baseline %d), %d open files (baseline %d); want within 20",
			afterG, baseG, afterF, baseF)
	}
}
