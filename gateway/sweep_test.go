package gateway

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/session"
)

// TestServedPlaces: every home users write to is swept once; a prefix inside a
// swept prefix (or a whole bucket) is not swept again.
func TestServedPlaces(t *testing.T) {
	g := &Gateway{homes: []session.Home{
		{Bucket: "b", Prefix: "users/alice"},
		{Bucket: "a"},
		{Bucket: "b", Prefix: "users"},
		{Bucket: "a", Prefix: "x"},
		{Bucket: "c", Prefix: "in"},
		{Bucket: "c", Prefix: "inbox"}, // "inbox/" is not inside "in/"
	}}
	got, err := g.servedPlaces(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := "[{a } {b users/} {c in/} {c inbox/}]"
	if s := fmt.Sprint(got); s != want {
		t.Fatalf("places %s, want %s", s, want)
	}
}

// TestServedPlacesMultiBucket: a multi-bucket home ("/", every user under
// FTP2S3_AUTH=s3 without FTP2S3_BUCKET) is swept only over the buckets
// FTP2S3_BUCKETS names, never over whatever the credentials can list: the
// gateway has no Backend here, so a listing would panic.
func TestServedPlacesMultiBucket(t *testing.T) {
	g := &Gateway{homes: []session.Home{{}, {Bucket: "own", Prefix: "in"}}}
	got, err := g.servedPlaces(context.Background())
	if err != nil || fmt.Sprint(got) != "[{own in/}]" {
		t.Fatalf("without FTP2S3_BUCKETS: places %v, %v; want [{own in/}]", got, err)
	}
	g.Config.Buckets = BucketSet{"xyz": true, "own": true}
	got, err = g.servedPlaces(context.Background())
	if err != nil || fmt.Sprint(got) != "[{own } {xyz }]" {
		t.Fatalf("FTP2S3_BUCKETS=xyz,own: places %v, %v; want [{own } {xyz }]", got, err)
	}
}

func TestSweepInterval(t *testing.T) {
	for age, want := range map[time.Duration]time.Duration{
		24 * time.Hour: time.Hour, 2 * time.Second: 2 * time.Second, time.Millisecond: time.Second,
	} {
		if got := sweepInterval(age); got != want {
			t.Errorf("sweepInterval(%s) = %s, want %s", age, got, want)
		}
	}
}
