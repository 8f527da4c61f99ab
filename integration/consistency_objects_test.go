package integration

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestListControlCharacterKey (issue 13 §5): keys holding control characters
// (written by another S3 client) list under their own names, and can be read
// by them. Listings ask for URL-encoded keys: XML 1.0 cannot carry these bytes
// (AWS refuses such a listing; MinIO answers U+FFFD instead, so on main the
// listed name is one that does not exist).
func TestListControlCharacterKey(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	names := []string{"ctl\x01name.txt", "esc\x1b[1mbold.txt", "plus+and space.txt"}
	for _, n := range names {
		g.putObject("d/"+n, "body of "+n)
	}
	c := g.dial(userRW)
	listed, err := c.NameList("d")
	if err != nil {
		t.Fatalf("NLST of a directory with control characters in keys: %v", err)
	}
	for _, n := range names {
		if !slices.Contains(listed, "d/"+n) {
			t.Errorf("NLST lacks %q: %q", n, listed)
		}
		if size, err := c.FileSize("d/" + n); err != nil || size != int64(len("body of "+n)) {
			t.Errorf("SIZE %q: %d, %v", n, size, err)
		}
	}
	entries, err := c.List("d")
	if err != nil || len(entries) != len(names) {
		t.Fatalf("LIST: %d entries, %v", len(entries), err)
	}
}

// TestRmdRefusesMarkerWithData (issue 13 §5): S3 lets another client store
// bytes under "d/"; no listing shows them, and RMD d must not delete them
// unseen: 550, a log line, and the object stays.
func TestRmdRefusesMarkerWithData(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.putObject("d/", "these bytes are not a directory marker")
	c := g.dial(userRW)
	if err := c.RemoveDir("d"); ftpCode(err) != 550 {
		t.Fatalf("RMD of a directory whose marker holds data: %v, want 550", err)
	}
	if _, n, err := g.object("d/"); err != nil || n == 0 {
		t.Fatalf("the marker object is gone: %d bytes, %v", n, err)
	}
	if !strings.Contains(g.Logs.String(), "RMD refused") {
		t.Fatal("the refusal was not logged")
	}
	// An empty marker still goes.
	if _, err := g.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(g.Bucket), Key: aws.String("e/"), Body: strings.NewReader("")}); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveDir("e"); err != nil {
		t.Fatalf("RMD of an empty directory: %v", err)
	}
}
