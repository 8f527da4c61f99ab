package storage

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestPageEntriesSideBySide: S3 can hold a file "a" and keys under "a/"; both
// are listed, in name order, and the directory gets a real time.
func TestPageEntriesSideBySide(t *testing.T) {
	mt := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	page := &s3.ListObjectsV2Output{
		Contents: []types.Object{
			{Key: aws.String("d/"), LastModified: aws.Time(mt.Add(-time.Hour))}, // the directory's own marker
			{Key: aws.String("d/a"), Size: aws.Int64(3), LastModified: aws.Time(mt)},
			{Key: aws.String("d/b"), Size: aws.Int64(4), LastModified: aws.Time(mt.Add(-2 * time.Hour))},
		},
		CommonPrefixes: []types.CommonPrefix{{Prefix: aws.String("d/a/")}, {Prefix: aws.String("d/c/")}, {Prefix: aws.String("d//")}},
	}
	got := pageEntries("d/", page)
	want := []struct {
		name string
		dir  bool
	}{{"a", false}, {"a", true}, {"b", false}, {"c", true}}
	if len(got) != len(want) {
		t.Fatalf("got %d entries %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		if got[i].Name != w.name || got[i].IsDir != w.dir {
			t.Fatalf("entry %d = %+v, want %s dir=%v", i, got[i], w.name, w.dir)
		}
		if got[i].IsDir && !got[i].ModTime.Equal(mt) {
			t.Fatalf("directory %s dated %s, want the newest time on the page %s", got[i].Name, got[i].ModTime, mt)
		}
	}
}

func TestPageEntriesOnlyPrefixesNeverZeroTime(t *testing.T) {
	page := &s3.ListObjectsV2Output{CommonPrefixes: []types.CommonPrefix{{Prefix: aws.String("x/")}}}
	got := pageEntries("", page)
	if len(got) != 1 || got[0].ModTime.Year() < 2000 {
		t.Fatalf("got %+v; want one directory with a real time", got)
	}
}

// TestDecodeListing: keys asked for with EncodingType=url come back as S3
// wrote them: "+" is a space, "%2B" a plus, control characters escaped.
func TestDecodeListing(t *testing.T) {
	page := &s3.ListObjectsV2Output{
		Prefix:         aws.String("d%2Fx+y/"),
		Contents:       []types.Object{{Key: aws.String("d/x+y/a%01b%1B.txt")}, {Key: aws.String("d/x+y/1%2B1%3D2")}},
		CommonPrefixes: []types.CommonPrefix{{Prefix: aws.String("d/x+y/%E2%82%AC/")}},
	}
	if err := decodeListing(page); err != nil {
		t.Fatal(err)
	}
	got := []string{aws.ToString(page.Prefix), aws.ToString(page.Contents[0].Key), aws.ToString(page.Contents[1].Key), aws.ToString(page.CommonPrefixes[0].Prefix)}
	want := []string{"d/x y/", "d/x y/a\x01b\x1b.txt", "d/x y/1+1=2", "d/x y/€/"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("decoded %q, want %q", got[i], want[i])
		}
	}
	bad := &s3.ListObjectsV2Output{Contents: []types.Object{{Key: aws.String("%zz")}}}
	if err := decodeListing(bad); err == nil {
		t.Error("an undecodable key was accepted")
	}
}
