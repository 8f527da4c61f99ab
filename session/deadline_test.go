package session

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/storage"
)

// stalledFS is a memFS whose metadata requests and first GETs wait until their
// context ends, like an S3 that accepts requests and never answers.
type stalledFS struct{ *memFS }

func (stalledFS) Stat(ctx context.Context, _, _ string) (storage.Entry, error) {
	<-ctx.Done()
	return storage.Entry{}, ctx.Err()
}

func (stalledFS) StatDir(ctx context.Context, _, _ string) (storage.Entry, error) {
	<-ctx.Done()
	return storage.Entry{}, ctx.Err()
}

func (stalledFS) Open(ctx context.Context, _, _ string, _ int64) (storage.ObjectReader, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// openCtxFS is a memFS whose downloads fail once the context their first GET
// was made on has ended, as a real GET's body does.
type openCtxFS struct{ *memFS }

func (f openCtxFS) Open(ctx context.Context, bucket, key string, offset int64) (storage.ObjectReader, error) {
	r, err := f.memFS.Open(ctx, bucket, key, offset)
	if err != nil {
		return nil, err
	}
	return ctxReader{r, ctx}, nil
}

type ctxReader struct {
	storage.ObjectReader
	open context.Context
}

func (r ctxReader) Send(ctx context.Context, w io.Writer) (int64, error) {
	return r.ObjectReader.Send(ctx, writerFunc(func(p []byte) (int, error) {
		if err := r.open.Err(); err != nil {
			return 0, err
		}
		return w.Write(p)
	}))
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestCommandDeadline: a command whose storage never answers gets 451 once
// Config.CommandTimeout has passed, and the session goes on answering.
func TestCommandDeadline(t *testing.T) {
	const limit = 300 * time.Millisecond
	c := startSession(t, stalledFS{newMemFS("b")}, func(cfg *Config) { cfg.CommandTimeout = limit })
	c.expect("USER alice", 331)
	c.expect("PASS pw", 230)
	for _, cmd := range []string{"SIZE f", "CWD d", "MDTM f"} {
		start := time.Now()
		code, text := c.cmd(cmd)
		waited := time.Since(start)
		if code != 451 || !strings.Contains(text, "did not answer in time") {
			t.Fatalf("%s with storage stalled: %d %q, want 451", cmd, code, text)
		}
		if waited < limit || waited > limit+5*time.Second {
			t.Fatalf("%s answered after %s; the deadline is %s", cmd, waited, limit)
		}
	}
	d := c.pasv()
	defer d.Close()
	if code, text := c.cmd("RETR f"); code != 451 {
		t.Fatalf("RETR with storage stalled: %d %q, want 451", code, text)
	}
	c.expect("NOOP", 200)
}

// TestTransferOutlivesCommandDeadline: a download that runs far longer than the
// command deadline is not cut by it: its first GET is made on a context the
// deadline stops reaching once the command is over.
func TestTransferOutlivesCommandDeadline(t *testing.T) {
	const limit = 200 * time.Millisecond
	fs := newMemFS("b")
	fs.put("b", "big", strings.Repeat("x", 4<<20), time.Now())
	c := startSession(t, openCtxFS{fs}, func(cfg *Config) { cfg.CommandTimeout = limit })
	c.expect("USER alice", 331)
	c.expect("PASS pw", 230)
	d := c.pasv()
	defer d.Close()
	if code, text := c.cmd("RETR big"); code != 150 {
		t.Fatalf("RETR: %d %q", code, text)
	}
	// Read slowly enough that the download lasts several deadlines.
	var n int64
	buf := make([]byte, 256<<10)
	start := time.Now()
	for {
		m, err := d.Read(buf)
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(limit / 4) // the slow reader is the case under test
	}
	elapsed := time.Since(start)
	if code, text := c.read(); code != 226 || n != 4<<20 {
		t.Fatalf("after %d bytes in %s: %d %q, want 226 after %d", n, elapsed, code, text, 4<<20)
	}
	if elapsed < 2*limit {
		t.Fatalf("the download took %s, not longer than the deadline %s: the test proves nothing", elapsed, limit)
	}
}

// slowRenameFS is a memFS whose directory renames take a while, as copying many
// keys does, and fail if their context ends first.
type slowRenameFS struct {
	*memFS
	takes time.Duration
}

func (f slowRenameFS) RenameDir(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) error {
	t := time.NewTimer(f.takes)
	defer t.Stop()
	select {
	case <-t.C: // the copies, done
	case <-ctx.Done():
		return ctx.Err()
	}
	return f.memFS.RenameDir(ctx, srcBucket, srcKey, dstBucket, dstKey)
}

// TestRenameDirHasNoCommandDeadline: RNTO's row says it runs long, so a
// directory rename that takes several command deadlines completes.
func TestRenameDirHasNoCommandDeadline(t *testing.T) {
	const limit = 100 * time.Millisecond
	fs := newMemFS("b")
	fs.put("b", "dir/a", "a", time.Now())
	c := startSession(t, slowRenameFS{fs, 5 * limit}, func(cfg *Config) { cfg.CommandTimeout = limit })
	c.expect("USER alice", 331)
	c.expect("PASS pw", 230)
	c.expect("RNFR dir", 350)
	if code, text := c.cmd("RNTO moved"); code != 250 {
		t.Fatalf("RNTO of a directory that takes 5 command deadlines: %d %q, want 250", code, text)
	}
	if got, ok := fs.object("b", "moved/a"); !ok || got != "a" {
		t.Fatalf("after the rename: %q %v", got, ok)
	}
}
