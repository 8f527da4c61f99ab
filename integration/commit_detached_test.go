package integration

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// slowCommits carries S3 requests whose commits (PutObject,
// CompleteMultipartUpload) reach MinIO and are applied as usual, but whose
// answers arrive answerDelay later, as from a busy S3. applied receives the
// operation's name as soon as MinIO has answered. A request whose context is
// cancelled while it waits for its answer fails like a cut connection would.
type slowCommits struct {
	base    http.RoundTripper
	applied chan<- string
}

func (s slowCommits) RoundTrip(r *http.Request) (*http.Response, error) {
	const answerDelay = 2 * time.Second
	resp, err := s.base.RoundTrip(r)
	op := s3Op(r)
	if err != nil || resp.StatusCode >= 300 || (op != "PutObject" && op != "CompleteMultipartUpload") {
		return resp, err
	}
	s.applied <- op
	select {
	case <-time.After(answerDelay):
		return resp, nil
	case <-r.Context().Done():
		resp.Body.Close()
		return nil, fmt.Errorf("answer lost: %w", r.Context().Err())
	}
}

// TestCommitOutlivesAborAndClosedControl: once the gateway has decided to
// commit, ABOR or a closed control connection cannot cancel the commit half-way
// (S3 may already have applied it). The client hears what S3 did (226 after a
// lost ABOR race) and the cache shows the object at once, where the old code
// answered 426 for an object that existed and kept "not found" cached.
func TestCommitOutlivesAborAndClosedControl(t *testing.T) {
	t.Parallel()
	applied := make(chan string, 4)
	g := startOpsGateway(t, minio, func(c *gateway.Config) {
		c.S3.HTTPClient = &http.Client{Transport: slowCommits{base: http.DefaultTransport, applied: applied}}
		c.PartSize = 5 << 20
		c.CacheTTL = time.Hour // only the gateway's own bookkeeping can make the new object visible
	}, nil)

	for _, tc := range []struct {
		name, op string
		size     int64
		abor     bool
	}{
		{"abor.bin", "CompleteMultipartUpload", 12 << 20, true},
		{"closed.bin", "PutObject", 1 << 20, false},
	} {
		// The name is cached as missing first.
		look := rawDial(t, g.Addr)
		look.expect(220)
		look.login(userRW)
		look.cmd(550, "SIZE %s", tc.name)

		up, data := startUpload(t, g.Addr, tc.name)
		if _, err := io.Copy(data, newPattern(tc.size, 7)); err != nil {
			t.Fatal(err)
		}
		_ = data.Close()
		select {
		case op := <-applied:
			if op != tc.op {
				t.Fatalf("%s: commit by %s, want %s", tc.name, op, tc.op)
			}
		case <-time.After(time.Minute):
			t.Fatalf("%s: no commit reached MinIO", tc.name)
		}
		// MinIO has stored the object; its answer is on the way.
		if tc.abor {
			if err := up.tp.PrintfLine("ABOR"); err != nil {
				t.Fatal(err)
			}
			if code, msg, err := up.reply(time.Minute); code != 226 {
				t.Errorf("%s: ABOR after the commit reached S3: reply %d %q (%v), want 226 (the object is stored)", tc.name, code, msg, err)
			}
			if code, msg, err := up.reply(10 * time.Second); code != 226 {
				t.Errorf("%s: the ABOR's own reply: %d %q (%v), want 226", tc.name, code, msg, err)
			}
		} else {
			_ = up.c.Close()
		}

		want, _ := sha256Of(newPattern(tc.size, 7))
		if sum, n, err := g.object(tc.name); err != nil || sum != want || n != tc.size {
			t.Errorf("%s: object %d bytes, %v; want the whole upload", tc.name, n, err)
		}
		// A session of the same gateway sees it at once, through its cache.
		waitUntil(t, tc.name+" committed", time.Minute, func() bool {
			return containsTransferEnd(g.Logs.String(), tc.name)
		})
		if msg := look.cmd(213, "SIZE %s", tc.name); msg != fmt.Sprint(tc.size) {
			t.Errorf("%s: SIZE %s after the commit, want %d", tc.name, msg, tc.size)
		}
	}
}

// containsTransferEnd reports whether the logs hold the final line of the
// transfer of name.
func containsTransferEnd(logs, name string) bool {
	return regexp.MustCompile(`msg=transfer .*vpath=/` + regexp.QuoteMeta(name) + ` `).MatchString(logs)
}
