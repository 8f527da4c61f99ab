package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jlaffaye/ftp"
)

// Small files (issue 14 §1): W4 and W6 over one session, W7 and W8 over
// concSessions at once against as many parallel direct streams. Every file's
// latency is recorded, for the p50/p99 columns.

// concSessions is the number of sessions (and of direct streams) of W7 and W8.
const concSessions = 16

// perSession is the number of files each session of W7/W8 moves: the same total
// per repetition as 2 × W4.
func (o options) perSession() int { return max(1, 2*o.files/concSessions) }

// latencies collects the per-file latencies of the row being measured.
type latencies struct {
	mu   sync.Mutex
	row  *row
	peer *peerSide // set while a peer's repetition runs (peers.go)
}

// addPhases records the phases of one file through the gateway.
func (l *latencies) addPhases(ph phaseTimes) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.row != nil {
		l.row.phases = append(l.row.phases, ph)
	}
}

// addCeiling records one file against the null endpoint (nullftp.go).
func (l *latencies) addCeiling(d time.Duration, ph phaseTimes) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.row != nil {
		l.row.ceilLat = append(l.row.ceilLat, d)
		l.row.ceilPhases = append(l.row.ceilPhases, ph)
	}
}

// addNoops records NOOP round trips of a phase-timed session.
func (l *latencies) addNoops(ds []time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.row != nil {
		l.row.noops = append(l.row.noops, ds...)
	}
}

// phaseSession logs a phase-timed session in for W4 or W6 and measures its
// NOOP round trips first, outside the timed part.
func (b *bench) phaseSession() (*phaseConn, error) {
	c, err := dialPhaseConn(b.gw.addr, b.user, b.password)
	if err != nil {
		return nil, err
	}
	ds, err := c.noops(noopsPerRep)
	if err != nil {
		c.quit()
		return nil, err
	}
	b.lat.addNoops(ds)
	return c, nil
}

// noopsPerRep is the number of NOOPs each W4/W6 repetition measures.
const noopsPerRep = 200

// add records one file's latency on the gateway side or the direct side.
func (l *latencies) add(direct bool, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.row == nil {
		return
	}
	if direct {
		l.row.directLat = append(l.row.directLat, d)
	} else {
		l.row.gwLat = append(l.row.gwLat, d)
	}
}

// timedFile runs one file's operation and records its latency.
func (b *bench) timedFile(direct bool, fn func() error) error {
	t0 := time.Now()
	err := fn()
	b.lat.add(direct, time.Since(t0))
	return err
}

// percentile returns the p-th percentile (0 < p ≤ 1) of ds by the nearest-rank
// method.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func (b *bench) storSmall(c *ftp.ServerConn, path string, i int) error {
	return b.timedFile(false, func() error { return c.Stor(path, bytes.NewReader(smallFile(smallSize, i))) })
}

// storPhased is storSmall over a phaseConn (W4): the same exchange, with the
// phases recorded.
func (b *bench) storPhased(c *phaseConn, path string, i int) error {
	body := smallFile(smallSize, i)
	t0 := time.Now()
	ph, err := c.stor(path, body)
	if err != nil {
		return err
	}
	b.lat.add(false, time.Since(t0))
	b.lat.addPhases(ph)
	return nil
}

// retrPhased is retrSmall over a phaseConn (W6).
func (b *bench) retrPhased(c *phaseConn, path string, buf []byte) error {
	t0 := time.Now()
	n, ph, err := c.retr(path, buf)
	if err != nil {
		return err
	}
	b.lat.add(false, time.Since(t0))
	if n != smallSize {
		return fmt.Errorf("RETR %s gave %d bytes", path, n)
	}
	b.lat.addPhases(ph)
	return nil
}

func (b *bench) putSmall(key string, i int) error {
	return b.timedFile(true, func() error {
		_, err := b.s3.PutObject(b.ctx, &s3.PutObjectInput{Bucket: &b.bucket, Key: aws.String(key),
			Body: bytes.NewReader(smallFile(smallSize, i)), ContentLength: aws.Int64(smallSize), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		return err
	})
}

func (b *bench) retrSmall(c *ftp.ServerConn, path string) error {
	return b.timedFile(false, func() error {
		resp, err := c.Retr(path)
		if err != nil {
			return fmt.Errorf("RETR %s: %w", path, err)
		}
		data, err := io.ReadAll(resp)
		if err := errors.Join(err, resp.Close()); err != nil {
			return fmt.Errorf("RETR %s: %w", path, err)
		}
		if len(data) != smallSize {
			return fmt.Errorf("RETR %s gave %d bytes", path, len(data))
		}
		return nil
	})
}

func (b *bench) getSmall(key string) error {
	return b.timedFile(true, func() error {
		out, err := b.s3.GetObject(b.ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: aws.String(key)})
		if err != nil {
			return err
		}
		data, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || len(data) != smallSize {
			return fmt.Errorf("direct GET %s: %d bytes, %v", key, len(data), err)
		}
		return nil
	})
}

// --- W7: 16 sessions uploading small files at once ---

func (b *bench) w7Gateway(rep int) (time.Duration, error) {
	n := b.opts.perSession()
	dir := fmt.Sprintf("w7/gw-%d/", rep)
	if err := b.mkdirs("/w7", "/"+dir); err != nil {
		return 0, err
	}
	conns, err := b.dialSessions(concSessions)
	if err != nil {
		return 0, err
	}
	defer quitAll(conns)
	d, err := timed(func() error {
		return parallel(concSessions, func(s int) error {
			for i := range n {
				if err := b.storSmall(conns[s], fmt.Sprintf("/%ss%02d-%05d", dir, s, i), i); err != nil {
					return fmt.Errorf("session %d STOR file %d: %w", s, i, err)
				}
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	if err := b.countKeys(dir, concSessions*n); err != nil {
		return 0, err
	}
	return d, b.deletePrefix(dir)
}

func (b *bench) w7Direct(rep int) (time.Duration, error) {
	n := b.opts.perSession()
	dir := fmt.Sprintf("w7/direct-%d/", rep)
	d, err := timed(func() error {
		return parallel(concSessions, func(s int) error {
			for i := range n {
				if err := b.putSmall(fmt.Sprintf("%ss%02d-%05d", dir, s, i), i); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	if err := b.countKeys(dir, concSessions*n); err != nil {
		return 0, err
	}
	return d, b.deletePrefix(dir)
}

// --- W8: 16 sessions downloading small files at once (W6's files) ---

// w8File is the index of the i-th file session s downloads: the sessions start
// at different places of W6's set.
func (b *bench) w8File(s, i int) int { return (s*b.opts.perSession() + i) % b.opts.files }

func (b *bench) w8Gateway(int) (time.Duration, error) {
	n := b.opts.perSession()
	conns, err := b.dialSessions(concSessions)
	if err != nil {
		return 0, err
	}
	defer quitAll(conns)
	return timed(func() error {
		return parallel(concSessions, func(s int) error {
			for i := range n {
				if err := b.retrSmall(conns[s], fmt.Sprintf("/%s%05d", w6Dir, b.w8File(s, i))); err != nil {
					return fmt.Errorf("session %d: %w", s, err)
				}
			}
			return nil
		})
	})
}

func (b *bench) w8Direct(int) (time.Duration, error) {
	n := b.opts.perSession()
	return timed(func() error {
		return parallel(concSessions, func(s int) error {
			for i := range n {
				if err := b.getSmall(fmt.Sprintf("%s%05d", w6Dir, b.w8File(s, i))); err != nil {
					return err
				}
			}
			return nil
		})
	})
}
