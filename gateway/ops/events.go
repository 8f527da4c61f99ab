package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"
)

// FTP2S3_S3_EVENTS_LISTEN: several replicas behind a load balancer cache
// independently, so a file written through one (or straight to S3) would stay
// hidden from the others' listings for up to FTP2S3_CACHE_TTL. S3 can tell
// every replica: each one takes the bucket's event notifications on
// POST /events and forgets what it cached about the named keys and their
// directories (docs/storage.md "Object-storage semantics"). Invalidation is all an event
// can cause, so a forged one costs at most a few S3 requests; still, bind the
// address to a private network.

// maxEventBody bounds one notification. MinIO sends one record per request,
// AWS batches a few; 1 MiB is far above either.
const maxEventBody = 1 << 20

// EventsHandler turns S3 event notifications into cache invalidations.
type EventsHandler struct {
	// Invalidate forgets what is cached about bucket/key and its directories.
	Invalidate func(bucket, key string)
	Log        *slog.Logger
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.Log.Warn("S3 event notification refused: body too large", "remote", r.RemoteAddr, "limit", maxEventBody)
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read the body", http.StatusBadRequest)
		return
	}
	ev, err := parseEvents(body, 0)
	if err != nil {
		h.Log.Warn("S3 event notification refused", "remote", r.RemoteAddr, "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if ev.subscribeURL != "" {
		// Fetching URLs named by a request body is not this endpoint's job: the
		// operator confirms the subscription once (docs/storage.md).
		h.Log.Warn("SNS subscription confirmation received: open SubscribeURL once to confirm it",
			"topic", ev.topic, "subscribe_url", ev.subscribeURL)
	}
	for _, o := range ev.objects {
		h.Invalidate(o.bucket, o.key)
	}
	h.Log.Debug("S3 event notification", "remote", r.RemoteAddr, "objects", len(ev.objects))
	w.WriteHeader(http.StatusNoContent)
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
		ev.subscribeURL, ev.topic = n.SubscribeURL, n.TopicArn
	case n.Detail != nil && n.Source == "aws.s3":
		ev.objects = objectKeys(ev.objects, n.Detail.Bucket.Name, n.Detail.Object.Key)
	case len(n.Records) > 0:
		for _, r := range n.Records {
			ev.objects = objectKeys(ev.objects, r.S3.Bucket.Name, r.S3.Object.Key)
		}
	case n.Event == "s3:TestEvent":
	default:
		return events{}, errNoRecords
	}
	for _, o := range ev.objects {
		if o.bucket == "" || o.key == "" {
			return events{}, fmt.Errorf("an event record without bucket or key")
		}
	}
	return ev, nil
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
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("FTP2S3_S3_EVENTS_LISTEN: %w", err)
	}
	return nil
}
