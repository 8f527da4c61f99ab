package ops

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/ftp2s3/ftp2s3/internal/ratelog"
)

// FTP2S3_S3_EVENTS_LISTEN: several replicas behind a load balancer cache
// independently, so a file written through one (or straight to S3) would stay
// hidden from the others' listings for up to FTP2S3_CACHE_TTL. S3 can tell
// every replica: each one takes the bucket's event notifications on
// POST /events and forgets what it cached about the named keys and their
// directories (docs/storage.md "Object-storage semantics"). Invalidation is all an event
// can cause, so a forged one costs S3 requests, never a wrong answer; the
// token (FTP2S3_S3_EVENTS_TOKEN) keeps strangers from causing even that, and
// the bounds below cap what one request costs (docs/security.md).

const (
	// maxEventBody bounds one notification. MinIO sends one record per
	// request, AWS batches a few; 1 MiB is far above either.
	maxEventBody = 1 << 20
	// maxEventRecords bounds the records of one body: each costs up to three
	// cache removals per level of its key in every cache of the gateway.
	maxEventRecords = 100
	// S3's own limits: a key is at most 1,024 bytes, a bucket name 63.
	maxEventKey    = 1024
	maxEventBucket = 63
	// maxEventConns bounds the connections the listener serves at once; more
	// wait in the kernel's backlog. With the header and body caps it bounds
	// the memory the endpoint can hold; it is generous because a stranger who
	// keeps it full delays the notifications (the cache then falls back on
	// FTP2S3_CACHE_TTL): a refused connection is closed, so each of theirs
	// holds a slot for at most ReadHeaderTimeout.
	maxEventConns = 256
)

// EventsHandler turns S3 event notifications into cache invalidations.
type EventsHandler struct {
	// Invalidate forgets what is cached about bucket/key and its directories.
	Invalidate func(bucket, key string)
	Log        *slog.Logger
	// Token, when not empty, is what every request must present:
	// "Authorization: Bearer <token>" (MinIO's webhook auth_token, an
	// EventBridge API destination's header), or as the password of Basic
	// authentication (an SNS subscription to https://user:token@host/events).
	Token string

	unauthorized, refused ratelog.Limiter
}

// s3Object names one object an event is about.
type s3Object struct{ bucket, key string }

// errNoRecords: a JSON body that is none of the accepted shapes.
var errNoRecords = errors.New("no S3 event records in the body")

func (h *EventsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/events" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST S3 event notifications here", http.StatusMethodNotAllowed)
		return
	}
	// Before the body is read: a stranger costs one header, never a parse.
	if !h.authorized(r) {
		if ok, left := h.unauthorized.Allow(time.Now()); ok {
			h.Log.Warn("S3 event notification refused: no valid token (FTP2S3_S3_EVENTS_TOKEN)",
				"remote", r.RemoteAddr, "refusals_not_logged", left)
		}
		// SNS sends the URL's user and password only when challenged with
		// Basic; MinIO sends its Bearer token from the start.
		w.Header().Add("WWW-Authenticate", `Bearer realm="ftp2s3 events"`)
		w.Header().Add("WWW-Authenticate", `Basic realm="ftp2s3 events"`)
		w.Header().Set("Connection", "close") // no idle keep-alive for strangers
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.logRefusal(r, "body too large", "limit", maxEventBody)
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read the body", http.StatusBadRequest)
		return
	}
	ev, err := parseEvents(body, 0)
	if err != nil {
		h.logRefusal(r, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if ev.subscribeURL != "" {
		// Fetching URLs named by a request body is not this endpoint's job: the
		// operator confirms the subscription once (docs/security.md). Only an
		// SNS URL is logged, so the line cannot be used to show operators a
		// link of a stranger's choosing.
		h.Log.Warn("SNS subscription confirmation received: open SubscribeURL once to confirm it",
			"topic", ev.topic, "subscribe_url", ev.subscribeURL)
	}
	for _, o := range ev.objects {
		h.Invalidate(o.bucket, o.key)
	}
	h.Log.Debug("S3 event notification", "remote", r.RemoteAddr, "objects", len(ev.objects))
	w.WriteHeader(http.StatusNoContent)
}

// authorized reports whether r carries the token, when one is required. Both
// sides are hashed first so that the comparison takes the same time whatever
// the length of what was sent.
func (h *EventsHandler) authorized(r *http.Request) bool {
	if h.Token == "" {
		return true
	}
	got, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		_, got, ok = r.BasicAuth()
	}
	if !ok {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(h.Token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// bearerToken returns the token of an "Authorization: Bearer <token>" value
// (the scheme's case does not matter).
func bearerToken(v string) (string, bool) {
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// logRefusal logs a refused request within the rate limit.
func (h *EventsHandler) logRefusal(r *http.Request, reason string, attrs ...any) {
	if ok, left := h.refused.Allow(time.Now()); ok {
		h.Log.Warn("S3 event notification refused: "+reason,
			append([]any{"remote", r.RemoteAddr, "refusals_not_logged", left}, attrs...)...)
	}
}

// events is what one notification body says.
type events struct {
	objects      []s3Object
	subscribeURL string // an SNS subscription to confirm
	topic        string
}

// notification covers the accepted shapes at once: the S3 event message
// ("Records", sent by AWS to SNS/SQS/Lambda and by MinIO's webhook target,
// which adds "EventName" and "Key"), an SNS envelope whose "Message" holds
// one, an EventBridge event ("detail"), and S3's test event.
type notification struct {
	Records []struct {
		S3 eventObject `json:"s3"`
	} `json:"Records"`

	Type         string `json:"Type"` // SNS: Notification, SubscriptionConfirmation
	Message      string `json:"Message"`
	SubscribeURL string `json:"SubscribeURL"`
	TopicArn     string `json:"TopicArn"`

	Source string       `json:"source"` // EventBridge: aws.s3
	Detail *eventObject `json:"detail"`

	Event string `json:"Event"` // s3:TestEvent
}

// eventObject names the bucket and key of one event: the same shape in S3
// event records ("s3") and EventBridge events ("detail").
type eventObject struct {
	Bucket struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object struct {
		Key string `json:"key"`
	} `json:"object"`
}

// parseEvents reads one notification body; depth counts SNS envelopes.
func parseEvents(body []byte, depth int) (events, error) {
	var n notification
	if err := json.Unmarshal(body, &n); err != nil {
		return events{}, fmt.Errorf("not JSON: %w", err)
	}
	var ev events
	switch {
	case n.Type == "Notification" && n.Message != "" && depth == 0:
		return parseEvents([]byte(n.Message), depth+1)
	case n.Type == "SubscriptionConfirmation" || n.Type == "UnsubscribeConfirmation":
		if err := checkSubscribeURL(n.SubscribeURL); err != nil {
			return events{}, err
		}
		ev.subscribeURL, ev.topic = n.SubscribeURL, n.TopicArn
	case n.Detail != nil && n.Source == "aws.s3":
		ev.objects = objectKeys(ev.objects, n.Detail.Bucket.Name, n.Detail.Object.Key)
	case len(n.Records) > maxEventRecords:
		return events{}, fmt.Errorf("%d records in one body, at most %d are taken", len(n.Records), maxEventRecords)
	case len(n.Records) > 0:
		for _, r := range n.Records {
			ev.objects = objectKeys(ev.objects, r.S3.Bucket.Name, r.S3.Object.Key)
		}
	case n.Event == "s3:TestEvent":
	default:
		return events{}, errNoRecords
	}
	for _, o := range ev.objects {
		if err := checkObject(o); err != nil {
			return events{}, err
		}
	}
	return ev, nil
}

// checkObject refuses a record S3 could not have sent: empty names, or longer
// than S3 allows (and a long key costs work in every cache, storage/cache.go).
// The undecoded reading of a key may be up to three times longer than the key
// (objectKeys), so it is measured by its decoding.
func checkObject(o s3Object) error {
	switch {
	case o.bucket == "" || o.key == "":
		return errors.New("an event record without bucket or key")
	case len(o.bucket) > maxEventBucket:
		return fmt.Errorf("a bucket name of %d bytes (S3 allows %d)", len(o.bucket), maxEventBucket)
	}
	key := o.key
	if dec, err := url.QueryUnescape(key); err == nil {
		key = dec
	}
	if len(key) > maxEventKey {
		return fmt.Errorf("a key of %d bytes (S3 allows %d)", len(key), maxEventKey)
	}
	return nil
}

// snsHost is the host of an SNS endpoint: sns.<region>.amazonaws.com, the
// region written as AWS writes them (eu-west-1, us-gov-west-1).
var snsHost = regexp.MustCompile(`^sns\.[a-z]{2}(-[a-z]+)+-[0-9]+\.amazonaws\.com$`)

// checkSubscribeURL accepts only an https URL of an SNS endpoint: the URL is
// shown to the operator to open, so a body must not be able to choose it.
func checkSubscribeURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Opaque != "" || u.Host != u.Hostname() ||
		!snsHost.MatchString(u.Host) {
		return fmt.Errorf("SubscribeURL %q is not an https://sns.<region>.amazonaws.com/ URL", truncate(s, 200))
	}
	return nil
}

// truncate shortens s for a log line or a reply.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// objectKeys adds bucket/key to out. S3 notifications carry keys URL-encoded
// as in a query string ("+" for a space); where a source might not, both
// readings are invalidated — forgetting one entry too many is harmless.
func objectKeys(out []s3Object, bucket, key string) []s3Object {
	out = append(out, s3Object{bucket, key})
	if dec, err := url.QueryUnescape(key); err == nil && dec != key {
		out[len(out)-1].key = dec
		out = append(out, s3Object{bucket, key})
	}
	return out
}

// ServeEvents serves h on l, the FTP2S3_S3_EVENTS_LISTEN listener, until ctx
// is done.
func ServeEvents(ctx context.Context, l net.Listener, h *EventsHandler) error {
	l = limitListener(l, maxEventConns)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(h.Log.Handler(), slog.LevelDebug),
	}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("FTP2S3_S3_EVENTS_LISTEN: %w", err)
	}
	return nil
}
