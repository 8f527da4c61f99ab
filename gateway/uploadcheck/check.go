// Package uploadcheck asks an HTTP endpoint (FTP2S3_UPLOAD_CHECK_URL) whether
// an upload S3 has just committed may stay, before the FTP client hears 226.
// It implements session.UploadChecker; docs/events.md has the protocol.
package uploadcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ftp2s3/ftp2s3/gateway/notify"
	"github.com/ftp2s3/ftp2s3/session"
)

// MaxReason bounds the checker's reason as the FTP client sees it.
const MaxReason = 200

// maxBody bounds what is read of a checker's answer.
const maxBody = 4 << 10

// Checker posts the upload.completed event, with a presigned GET URL of the
// object in its data ("get_url"), and waits for the verdict.
type Checker struct {
	URL     string
	Token   string        // bearer token, "" for none
	Timeout time.Duration // the whole wait, connection included
	Source  string        // CloudEvents source; "" means notify.Source()
	Client  *http.Client  // nil: http.DefaultClient's transport, no redirects

	passed, rejected, unavailable atomic.Int64
}

// Stats counts the verdicts (metrics).
type Stats struct{ Passed, Rejected, Unavailable int64 }

// Stats returns the counters; safe for concurrent use.
func (c *Checker) Stats() Stats {
	return Stats{Passed: c.passed.Load(), Rejected: c.rejected.Load(), Unavailable: c.unavailable.Load()}
}

// CheckUpload implements session.UploadChecker: 2xx passes, 4xx rejects with
// the answer's one-line reason, anything else (5xx, a timeout, no answer) is
// unavailable, for the session's policy to decide.
func (c *Checker) CheckUpload(ctx context.Context, ev session.Event, getURL string) session.CheckResult {
	res := c.check(ctx, ev, getURL)
	switch res.Outcome {
	case session.CheckPassed:
		c.passed.Add(1)
	case session.CheckRejected:
		c.rejected.Add(1)
	default:
		c.unavailable.Add(1)
	}
	return res
}

func (c *Checker) check(ctx context.Context, ev session.Event, getURL string) session.CheckResult {
	source := c.Source
	if source == "" {
		source = notify.Source()
	}
	ce := notify.NewCloudEvent(ev, source)
	ce.Data["get_url"] = getURL
	ce.Data["get_url_expires"] = time.Now().Add(c.Timeout).UTC().Format(time.RFC3339)
	body, err := ce.Marshal()
	if err != nil {
		return unavailable(fmt.Errorf("encode the event: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return unavailable(err)
	}
	req.Header.Set("Content-Type", notify.ContentType)
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return unavailable(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody)) // a cut answer still has its first line
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return session.CheckResult{Outcome: session.CheckPassed}
	case code >= 400 && code < 500:
		return session.CheckResult{Outcome: session.CheckRejected, Reason: Reason(resp.Header.Get("Content-Type"), answer)}
	default:
		return unavailable(fmt.Errorf("checker answered HTTP %d", code))
	}
}

func unavailable(err error) session.CheckResult {
	return session.CheckResult{Outcome: session.CheckUnavailable, Err: err}
}

func (c *Checker) client() *http.Client {
	if c.Client != nil {
		return c.Client
	}
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Reason turns a checker's refusal body into the one line the FTP client
// reads: {"reason": "..."} when the body is JSON, else the body's first line;
// printable characters only, at most MaxReason bytes.
func Reason(contentType string, body []byte) string {
	text := string(body)
	if mt, _, _ := mime.ParseMediaType(contentType); strings.HasSuffix(mt, "json") {
		var v struct {
			Reason string `json:"reason"`
		}
		if json.Unmarshal(body, &v) == nil {
			text = v.Reason
		}
	}
	text, _, _ = strings.Cut(strings.TrimSpace(text), "\n")
	var b strings.Builder
	for _, r := range text {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			r = ' '
		}
		if b.Len()+utf8.RuneLen(r) > MaxReason {
			break
		}
		b.WriteRune(r)
	}
	if s := strings.TrimSpace(b.String()); s != "" {
		return s
	}
	return "refused by the upload check"
}
