package gateway

import (
	"reflect"
	"slices"
	"testing"
)

func TestKnownVariablesCoverConfig(t *testing.T) {
	known := KnownVariables()
	for _, want := range []string{"FTP2S3_PASSIVE_PORTS", "FTP2S3_CREATE_BUCKETS", "FTP2S3_STRICT_ENV", "FTP2S3_S3_PATH_STYLE"} {
		if !slices.Contains(known, want) {
			t.Errorf("%s is missing from %v", want, known)
		}
	}
	// Every tagged field is there, and nothing else.
	tagged := 0
	ct := reflect.TypeFor[Config]()
	for i := range ct.NumField() {
		if ct.Field(i).Tag.Get("env") != "" {
			tagged++
		}
	}
	if len(known) != tagged || !slices.IsSorted(known) || len(slices.Compact(slices.Clone(known))) != len(known) {
		t.Errorf("%d known names for %d tagged fields (sorted and unique expected): %v", len(known), tagged, known)
	}
}

func TestUnknownVariables(t *testing.T) {
	env := []string{
		"PATH=/usr/bin",
		"FTP2S3_PASIVE_PORTS=30000-30009",  // letter missing
		"FTP2S3_PASSIVE_PORTS=30000-30009", // known
		"FTP2S3_BUCKTE=incoming",           // letters swapped
		"FTP2S3_CREATE_BUCKET=true",        // plural missing
		"FTP2S3_LOGLEVEL=debug",            // underscore missing
		"AWS_REGION=us-east-1",             // the SDK's, not ours
		"FTP2S3_STRICT_ENV=false",
	}
	got := UnknownVariables(env)
	want := []UnknownVariable{
		{"FTP2S3_PASIVE_PORTS", "FTP2S3_PASSIVE_PORTS"},
		{"FTP2S3_BUCKTE", "FTP2S3_BUCKET"},
		{"FTP2S3_CREATE_BUCKET", "FTP2S3_CREATE_BUCKETS"},
		{"FTP2S3_LOGLEVEL", "FTP2S3_LOG_LEVEL"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	if msg := got[0].Error(); msg != "FTP2S3_PASIVE_PORTS is not a variable ftp2s3 reads (did you mean FTP2S3_PASSIVE_PORTS?)" {
		t.Errorf("message %q", msg)
	}
	if u := UnknownVariables([]string{"FTP2S3_LISTEN=:21", "HOME=/root"}); len(u) != 0 {
		t.Errorf("known variables reported: %v", u)
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "ab", 2}, {"kitten", "sitting", 3},
		{"FTP2S3_BUCKET", "FTP2S3_BUCKET", 0}, {"FTP2S3_BUCKTE", "FTP2S3_BUCKET", 2},
	} {
		if got := editDistance(c.a, c.b); got != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
		if got := editDistance(c.b, c.a); got != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d (symmetry)", c.b, c.a, got, c.d)
		}
	}
}
