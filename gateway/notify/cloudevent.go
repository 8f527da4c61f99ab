// Package notify posts what FTP clients did to an HTTP endpoint
// (FTP2S3_NOTIFY_URL) as CloudEvents, asynchronously and at least once while
// the process lives. docs/events.md documents the schema for operators.
package notify

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"time"

	"github.com/ftp2s3/ftp2s3/session"
)

// TypePrefix goes before a session event's type ("upload.completed") to make
// the CloudEvents type.
const TypePrefix = "io.ftp2s3."

// ContentType is the structured CloudEvents JSON form.
const ContentType = "application/cloudevents+json; charset=utf-8"

// Source is the CloudEvents source of this process's events: the host it runs
// on, so that a receiver fed by several gateways tells them apart.
func Source() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return "/ftp2s3/" + host
}

// CloudEvent is one event in CloudEvents' structured JSON form (spec 1.0).
type CloudEvent struct {
	SpecVersion     string         `json:"specversion"`
	ID              string         `json:"id"`
	Source          string         `json:"source"`
	Type            string         `json:"type"`
	Subject         string         `json:"subject,omitempty"`
	Time            string         `json:"time"`
	DataContentType string         `json:"datacontenttype"`
	Data            map[string]any `json:"data"`
}

// NewCloudEvent wraps ev with a fresh id. Its data holds the fields that
// apply to ev's type, always with the same names (docs/events.md).
func NewCloudEvent(ev session.Event, source string) CloudEvent {
	var id [16]byte
	_, _ = rand.Read(id[:])
	subject := ""
	if ev.Bucket != "" {
		subject = ev.Bucket + "/" + ev.Key
	}
	t := ev.Time
	if t.IsZero() {
		t = time.Now().UTC()
	}
	return CloudEvent{
		SpecVersion: "1.0", ID: hex.EncodeToString(id[:]), Source: source, Type: TypePrefix + ev.Type,
		Subject: subject, Time: t.Format(time.RFC3339Nano), DataContentType: "application/json", Data: data(ev),
	}
}

// Marshal is the event's JSON body.
func (c CloudEvent) Marshal() ([]byte, error) { return json.Marshal(c) }

func data(ev session.Event) map[string]any {
	d := map[string]any{"session": ev.Session, "user": ev.User, "client": ev.Client}
	object := func() {
		d["bucket"], d["key"], d["path"] = ev.Bucket, ev.Key, ev.Path
	}
	transfer := func() {
		object()
		d["duration_seconds"] = ev.Duration.Seconds()
		d["resumed"] = ev.Resumed
	}
	switch ev.Type {
	case session.EventUploadCompleted:
		transfer()
		d["size"], d["etag"] = ev.Size, ev.ETag
		if ev.SHA256 != "" {
			d["sha256"] = ev.SHA256
		}
		if ev.Check != "" {
			d["check"] = ev.Check
		}
	case session.EventUploadFailed, session.EventUploadRejected:
		transfer()
		d["code"], d["reason"], d["bytes_received"] = ev.Code, ev.Reason, ev.Bytes
		// What the failure left in storage, as S3 answered; null when a
		// commit's answer was lost and nobody knows.
		if ev.ObjectLeft != nil {
			d["object_left"] = *ev.ObjectLeft
		} else {
			d["object_left"] = nil
		}
		d["multipart_left"], d["multipart_aborted"] = ev.MultipartLeft, ev.MultipartAborted
		if ev.Check != "" {
			d["check"] = ev.Check
		}
		if ev.ETag != "" {
			d["etag"] = ev.ETag
		}
	case session.EventDownloadCompleted:
		transfer()
		d["size"], d["etag"], d["bytes_sent"] = ev.Size, ev.ETag, ev.Bytes
		if ev.SHA256 != "" {
			d["sha256"] = ev.SHA256
		}
	case session.EventRename:
		object()
		d["to_bucket"], d["to_key"], d["to_path"], d["dir"] = ev.ToBucket, ev.ToKey, ev.ToPath, ev.Dir
	case session.EventLoginFailed:
		d["reason"] = ev.Reason
	default: // delete, mkdir, rmdir
		object()
	}
	return d
}
