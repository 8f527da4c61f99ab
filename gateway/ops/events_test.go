package ops

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// Sample notifications, written for these tests after the documented shapes.
const (
	// MinIO's webhook target: the S3 event message plus EventName and Key.
	minioWebhookPut = `{"EventName":"s3:ObjectCreated:Put","Key":"photos/2026/a b.jpg",
	  "Records":[{"eventVersion":"2.0","eventSource":"minio:s3","awsRegion":"","eventTime":"2026-11-29T10:00:00.000Z",
	  "eventName":"s3:ObjectCreated:Put","userIdentity":{"principalId":"ftp2s3admin"},
	  "s3":{"s3SchemaVersion":"1.0","configurationId":"Config","bucket":{"name":"photos","arn":"arn:aws:s3:::photos"},
	  "object":{"key":"2026%2Fa+b.jpg","size":12,"eTag":"abc","sequencer":"1"}}}]}`
	// AWS S3 to SQS/Lambda: several records in one message.
	awsRecords = `{"Records":[
	  {"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put",
	   "s3":{"bucket":{"name":"b1"},"object":{"key":"dir/1%2B1%3D2.txt","size":3}}},
	  {"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectRemoved:Delete",
	   "s3":{"bucket":{"name":"b2"},"object":{"key":"plain.txt"}}}]}`
	// AWS S3 to SNS: the message is a JSON string inside the envelope.
	snsEnvelope = `{"Type":"Notification","MessageId":"m-1","TopicArn":"arn:aws:sns:eu-west-1:1:ftp2s3",
	  "Subject":"Amazon S3 Notification",
	  "Message":"{\"Records\":[{\"eventSource\":\"aws:s3\",\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"b3\"},\"object\":{\"key\":\"in/x.csv\"}}}]}",
	  "Timestamp":"2026-11-29T10:00:00.000Z","SignatureVersion":"1"}`
	snsConfirm = `{"Type":"SubscriptionConfirmation","MessageId":"m-2","TopicArn":"arn:aws:sns:eu-west-1:1:ftp2s3",
	  "SubscribeURL":"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t","Token":"t"}`
	eventBridge = `{"version":"0","id":"e-1","detail-type":"Object Created","source":"aws.s3","account":"1",
	  "time":"2026-11-29T10:00:00Z","region":"eu-west-1","resources":["arn:aws:s3:::b4"],
	  "detail":{"version":"0","bucket":{"name":"b4"},"object":{"key":"reports/q4.pdf","size":5},"reason":"PutObject"}}`
	s3TestEvent = `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-29T10:00:00Z","Bucket":"b5"}`
)

func post(t *testing.T, h http.Handler, method, path, body string) (int, []string) {
	t.Helper()
	var got []string
	h.(*EventsHandler).Invalidate = func(b, k string) { got = append(got, b+"|"+k) }
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader(body)))
	return w.Code, got
}

func TestEventsHandlerShapes(t *testing.T) {
	h := &EventsHandler{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, tc := range []struct {
		name, body string
		want       []string // invalidated bucket|key, in order
	}{
		{"minio webhook", minioWebhookPut, []string{"photos|2026/a b.jpg", "photos|2026%2Fa+b.jpg"}},
		{"aws records", awsRecords, []string{"b1|dir/1+1=2.txt", "b1|dir/1%2B1%3D2.txt", "b2|plain.txt"}},
		{"sns envelope", snsEnvelope, []string{"b3|in/x.csv"}},
		{"eventbridge", eventBridge, []string{"b4|reports/q4.pdf"}},
		{"s3 test event", s3TestEvent, nil},
		{"sns subscription", snsConfirm, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, got := post(t, h, http.MethodPost, "/events", tc.body)
			if code != http.StatusNoContent {
				t.Fatalf("HTTP %d, want 204", code)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("invalidated %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEventsHandlerRefusals(t *testing.T) {
	h := &EventsHandler{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"not JSON", http.MethodPost, "/events", "Records=1", http.StatusBadRequest},
		{"JSON of another kind", http.MethodPost, "/events", `{"hello":"world"}`, http.StatusBadRequest},
		{"record without a key", http.MethodPost, "/events", `{"Records":[{"s3":{"bucket":{"name":"b"},"object":{}}}]}`, http.StatusBadRequest},
		{"SNS inside SNS", http.MethodPost, "/events", `{"Type":"Notification","Message":` + jsonString(snsEnvelope) + `}`, http.StatusBadRequest},
		{"too large", http.MethodPost, "/events", `{"Records":[` + strings.Repeat(" ", maxEventBody) + `]}`, http.StatusRequestEntityTooLarge},
		{"GET", http.MethodGet, "/events", "", http.StatusMethodNotAllowed},
		{"other path", http.MethodPost, "/metrics", awsRecords, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, got := post(t, h, tc.method, tc.path, tc.body)
			if code != tc.want || len(got) != 0 {
				t.Fatalf("HTTP %d with %q invalidated, want %d and nothing", code, got, tc.want)
			}
		})
	}
}

func jsonString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}
