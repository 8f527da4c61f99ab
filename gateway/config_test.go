package gateway

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestSizeParsing(t *testing.T) {
	cases := map[string]int64{"0": 0, "5242880": 5 << 20, "5MiB": 5 << 20, "16mib": 16 << 20, "1GiB": 1 << 30, "10MB": 10e6, "64KiB": 64 << 10, " 2 GiB ": 2 << 30}
	for in, want := range cases {
		var s Size
		if err := s.UnmarshalText([]byte(in)); err != nil || int64(s) != want {
			t.Errorf("Size(%q) = %d, %v; want %d", in, s, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "5XB", "MiB", "1.5GiB", "99999999999999999GiB"} {
		var s Size
		if err := s.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("Size(%q) accepted as %d", bad, s)
		}
	}
}

func TestPortRangeParsing(t *testing.T) {
	var p PortRange
	if err := p.UnmarshalText([]byte("30000-30099")); err != nil || p.Lo != 30000 || p.Hi != 30099 {
		t.Fatalf("got %+v, %v", p, err)
	}
	for _, bad := range []string{"30099-30000", "80-90", "1024-70000", "a-b", ""} {
		if err := p.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDefaultsMatchSpec(t *testing.T) {
	c := DefaultConfig()
	if c.Listen != ":2121" || c.PassivePorts != (PortRange{Lo: 30000, Hi: 30099}) || !c.ActiveMode || c.PartSize != 16<<20 ||
		c.UploadConcurrency != 4 || c.CacheEntries != 10000 || c.CacheTTL.String() != "30s" || c.TLS != "off" ||
		c.MaxConnections != 500 || c.MaxConnectionsPerIP != 50 || c.Auth != "users" {
		t.Fatalf("defaults differ from docs/configuration.md: %+v", c)
	}
	if p := c.Validate(); len(p) != 0 {
		t.Fatalf("defaults do not validate: %v", p)
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	_, problems := loadConfig(map[string]string{"FTP2S3_AUTH": "ldap", "FTP2S3_UPLOAD_CONCURRENCY": "0",
		"FTP2S3_PREFIX": "x", "FTP2S3_PASSIVE_HOST_OVERRIDES": "notacidr=1.2.3.4"})
	var all []string
	for _, p := range problems {
		all = append(all, p.Error())
	}
	joined := strings.Join(all, "\n")
	for _, name := range []string{"FTP2S3_AUTH", "FTP2S3_UPLOAD_CONCURRENCY", "FTP2S3_PREFIX", "FTP2S3_PASSIVE_HOST_OVERRIDES"} {
		if !strings.Contains(joined, name) {
			t.Errorf("no problem names %s:\n%s", name, joined)
		}
	}
}

func TestValidateAnonymousAndBuckets(t *testing.T) {
	cases := []struct {
		home    string
		all     bool
		buckets string
		want    string // substring of the problem, "" for none
	}{
		{"/", false, "", "FTP2S3_ANONYMOUS_HOME"},
		{" / ", false, "", "FTP2S3_ANONYMOUS_HOME"},
		{"/", true, "", ""},
		{"pub", false, "", ""},
		{"pub/x", true, "", "FTP2S3_ANONYMOUS_ALL_BUCKETS"},
		{"", true, "", "FTP2S3_ANONYMOUS_ALL_BUCKETS"},
		{"", false, "a-b, c.d ,efg", ""},
		{"", false, "ok1,Bad_Name", "FTP2S3_BUCKETS"},
		{"", false, "ok1,x/y", "FTP2S3_BUCKETS"},
		{"Not_A_Bucket", false, "", "FTP2S3_ANONYMOUS_HOME"},
	}
	for _, c := range cases {
		_, problems := loadConfig(map[string]string{"FTP2S3_ANONYMOUS_HOME": c.home,
			"FTP2S3_ANONYMOUS_ALL_BUCKETS": fmt.Sprint(c.all), "FTP2S3_BUCKETS": c.buckets})
		var got []string
		for _, p := range problems {
			got = append(got, p.Error())
		}
		joined := strings.Join(got, "\n")
		switch {
		case c.want == "" && len(got) > 0:
			t.Errorf("%+v: unexpected problems %s", c, joined)
		case c.want != "" && (len(got) != 1 || !strings.HasPrefix(joined, c.want)):
			t.Errorf("%+v: problems %q, want one line starting with %s", c, joined, c.want)
		}
	}
}

// TestValidateConsistencySettings: the settings of docs/storage.md "Object-storage
// semantics" are checked at start-up and named in the error.
func TestValidateConsistencySettings(t *testing.T) {
	c := DefaultConfig()
	if c.AbandonedUploadAge.String() != "24h0m0s" || c.TLSStrictEOF || c.S3EventsListen != "" {
		t.Fatalf("defaults differ from docs/configuration.md: age %s, strict %v, events %q", c.AbandonedUploadAge, c.TLSStrictEOF, c.S3EventsListen)
	}
	c.AbandonedUploadAge = -time.Second
	c.S3EventsListen = "9200"
	var all []string
	for _, p := range c.Validate() {
		all = append(all, p.Error())
	}
	joined := strings.Join(all, "\n")
	for _, name := range []string{"FTP2S3_ABANDONED_UPLOAD_AGE", "FTP2S3_S3_EVENTS_LISTEN"} {
		if !strings.Contains(joined, name) {
			t.Errorf("no problem names %s:\n%s", name, joined)
		}
	}
	c.AbandonedUploadAge, c.S3EventsListen = 0, "127.0.0.1:9200"
	if p := c.Validate(); len(p) != 0 {
		t.Fatalf("age 0 (off) and a host:port refused: %v", p)
	}
}

// TestValidatePassiveHosts: a URL or host:port where a host belongs is refused
// at start-up, naming the variable.
func TestValidatePassiveHosts(t *testing.T) {
	_, problems := loadConfig(map[string]string{"FTP2S3_PUBLIC_HOST": "ftp://ftp.example.com",
		"FTP2S3_PASSIVE_HOST_OVERRIDES": "10.0.0.0/8=10.0.0.1:30000"})
	joined := fmt.Sprint(problems)
	for _, name := range []string{"FTP2S3_PUBLIC_HOST", "FTP2S3_PASSIVE_HOST_OVERRIDES"} {
		if !strings.Contains(joined, name) {
			t.Errorf("no problem names %s: %s", name, joined)
		}
	}
}

// TestValidateHomesAndUsers: the default home and the user records are
// checked with everything else, so that one run lists every problem.
func TestValidateHomesAndUsers(t *testing.T) {
	_, problems := loadConfig(map[string]string{"FTP2S3_BUCKET": "Bad_Bucket", "FTP2S3_USERS": "alice:plaintext"})
	joined := fmt.Sprint(problems)
	for _, want := range []string{"FTP2S3_BUCKET: ", "FTP2S3_USERS", "not a bcrypt hash"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no problem mentions %s: %s", want, joined)
		}
	}
	if strings.Contains(joined, "plaintext") {
		t.Errorf("a problem reveals the password: %s", joined)
	}
	// The records are ignored under s3 (with a warning at start).
	if _, p := loadConfig(map[string]string{"FTP2S3_AUTH": "s3", "FTP2S3_BUCKET": "good-bucket", "FTP2S3_USERS": "alice:plaintext"}); len(p) != 0 {
		t.Errorf("s3 auth with a good bucket: %v", p)
	}
}
