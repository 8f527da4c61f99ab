package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway/auth"
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

// TestServedPlacesFollowReloads: the sweep asks for the places on every run,
// so a home a reload of FTP2S3_USERS_FILE adds is swept from the next run on,
// not from the next start.
func TestServedPlacesFollowReloads(t *testing.T) {
	h, err := auth.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(file, []byte("alice:"+h+":one/in:rw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	users, problems := auth.LoadStaticUsers("", file, session.Home{Bucket: "def"})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	g := &Gateway{users: users, homes: users.WriteHomes()}
	if got, _ := g.servedPlaces(context.Background()); fmt.Sprint(got) != "[{one in/}]" {
		t.Fatalf("before the reload: %v", got)
	}
	if err := os.WriteFile(file, []byte("alice:"+h+":one/in:rw\nbob:"+h+":two:rw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := users.Reload(slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if got, _ := g.servedPlaces(context.Background()); fmt.Sprint(got) != "[{one in/} {two }]" {
		t.Fatalf("after the reload added bob: %v, want his bucket swept too", got)
	}
}

// TestServedPlacesHTTPAuth: under FTP2S3_AUTH=http the sweep covers the
// default home and, when set, the buckets of FTP2S3_BUCKETS (the only ones
// the identity service may give homes in); without them, nothing more.
func TestServedPlacesHTTPAuth(t *testing.T) {
	for _, c := range []struct {
		bucket  string
		buckets BucketSet
		want    string
	}{
		{"def", nil, "[{def }]"},
		{"def", BucketSet{"x": true, "y": true}, "[{def } {x } {y }]"},
		{"", BucketSet{"x": true}, "[{x }]"},
		{"", nil, "[]"},
	} {
		cfg := Config{Bucket: BucketName(c.bucket), Buckets: c.buckets}
		g := &Gateway{Config: cfg, homes: httpAuthSwept(&cfg, session.Home{Bucket: c.bucket})}
		if got, _ := g.servedPlaces(context.Background()); fmt.Sprint(got) != c.want {
			t.Errorf("FTP2S3_BUCKET=%q FTP2S3_BUCKETS=%v: places %v, want %s", c.bucket, c.buckets, got, c.want)
		}
	}
}
