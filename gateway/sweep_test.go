package gateway

import (
	"context"
	"fmt"
	"testing"

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
