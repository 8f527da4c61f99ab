package integration

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// slowAnswers delays S3's answers to the operations it names, after MinIO has
// produced them: the answer reflects the bucket at request time and arrives
// later, as from a busy S3. It widens the window in which a listing read before
// a write can reach the cache after the write.
type slowAnswers struct {
	base http.RoundTripper
	ops  map[string]bool
	max  time.Duration
}

func (s slowAnswers) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.base.RoundTrip(r)
	if err == nil && s.ops[s3Op(r)] {
		time.Sleep(rand.N(s.max)) // the injected slowness is the fault under test
	}
	return resp, err
}

// TestConsistencyConcurrentWritersAndListers (issue 13 §1): writers and
// listers share one directory through one gateway with a one-hour cache; each
// writer, right after every 226, must see its file in NLST, with its size in
// SIZE and MLST, and a time in MDTM. Listings and stats are slowed down by up
// to 40 ms so that reads straddle writes; on the old cache a listing read
// before a write was stored after the write's invalidation, and some writer
// failed to see its own file in every run.
func TestConsistencyConcurrentWritersAndListers(t *testing.T) {
	t.Parallel()
	const writers, listers, files, rounds = 12, 6, 5, 3
	slow := slowAnswers{base: http.DefaultTransport, max: 40 * time.Millisecond,
		ops: map[string]bool{"ListObjectsV2": true, "HeadObject": true}}
	g := startOpsGateway(t, minio, func(c *gateway.Config) {
		c.S3.HTTPClient = &http.Client{Transport: slow}
		c.CacheTTL = time.Hour
		c.MaxConnectionsPerIP = 100
	}, nil)

	var (
		mu       sync.Mutex
		failures []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	conns := make([]*ftp.ServerConn, writers+listers)
	for i := range conns {
		conns[i] = g.dial(userRW)
	}
	for round := range rounds {
		dir := fmt.Sprintf("/r%d", round)
		if err := conns[0].MakeDir(dir); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		var lw sync.WaitGroup
		for l := range listers {
			lw.Add(1)
			go func(c *ftp.ServerConn) {
				defer lw.Done()
				for {
					select {
					case <-done:
						return
					default:
					}
					if _, err := c.NameList(dir); err != nil {
						fail("lister NLST %s: %v", dir, err)
						return
					}
					// Stat names before their writers store them: negative
					// answers race the writes too.
					_, _ = c.FileSize(fmt.Sprintf("%s/w%d-%d.txt", dir, rand.N(writers), rand.N(files)))
				}
			}(conns[writers+l])
		}
		var ww sync.WaitGroup
		for w := range writers {
			ww.Add(1)
			go func(c *ftp.ServerConn) {
				defer ww.Done()
				for f := range files {
					name := fmt.Sprintf("%s/w%d-%d.txt", dir, w, f)
					body := strings.Repeat("x", 1+w*files+f)
					if err := c.Stor(name, strings.NewReader(body)); err != nil {
						fail("STOR %s: %v", name, err)
						return
					}
					names, err := c.NameList(dir)
					if err != nil || !slices.Contains(names, name) {
						fail("NLST %s right after 226 of %s: %d names, err %v; own file missing", dir, name, len(names), err)
					}
					if n, err := c.FileSize(name); err != nil || n != int64(len(body)) {
						fail("SIZE %s right after 226: %d, %v; want %d", name, n, err, len(body))
					}
					if _, err := c.GetTime(name); err != nil {
						fail("MDTM %s right after 226: %v", name, err)
					}
					if e, err := c.GetEntry(name); err != nil || e.Size != uint64(len(body)) {
						fail("MLST %s right after 226: %+v, %v; want size %d", name, e, err, len(body))
					}
				}
			}(conns[w])
		}
		ww.Wait()
		close(done)
		lw.Wait()
		// Every session ends seeing every file.
		names, err := conns[0].NameList(dir)
		if err != nil || len(names) != writers*files {
			fail("round %d: final NLST has %d names (%v), want %d", round, len(names), err, writers*files)
		}
	}
	if len(failures) > 0 {
		t.Fatalf("%d read-your-writes failures, first ones:\n%s", len(failures), strings.Join(failures[:min(10, len(failures))], "\n"))
	}
}
