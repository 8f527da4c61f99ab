package gateway

import (
	"strings"
	"testing"
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
	if c.Listen != ":2121" || c.PassivePorts != (PortRange{30000, 30099}) || !c.ActiveMode || c.PartSize != 16<<20 ||
		c.UploadConcurrency != 4 || c.CacheEntries != 10000 || c.CacheTTL.String() != "30s" || c.TLS != "off" ||
		c.MaxConnections != 500 || c.MaxConnectionsPerIP != 50 || c.Auth != "users" {
		t.Fatalf("defaults differ from SPEC §2: %+v", c)
	}
	if p := c.Validate(); len(p) != 0 {
		t.Fatalf("defaults do not validate: %v", p)
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	c := DefaultConfig()
	c.Auth = "ldap"
	c.UploadConcurrency = 0
	c.Prefix = "x"
	c.PassiveHostOverrides = "notacidr=1.2.3.4"
	problems := c.Validate()
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

func TestParseUserRecords(t *testing.T) {
	h, err := HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	u, problems := LoadStaticUsers("a:"+h+", b:"+h+":bkt/pre/fix:r, c:"+h+":/", "", sessionHome(t, "dflt"))
	if len(problems) != 0 {
		t.Fatal(problems)
	}
	ua, err := u.Authenticate(t.Context(), "a", "pw")
	if err != nil || ua.Home.Bucket != "dflt" || ua.ReadOnly {
		t.Fatalf("a: %+v %v", ua, err)
	}
	ub, _ := u.Authenticate(t.Context(), "b", "pw")
	if ub == nil || ub.Home.Bucket != "bkt" || ub.Home.Prefix != "pre/fix" || !ub.ReadOnly {
		t.Fatalf("b: %+v", ub)
	}
	uc, _ := u.Authenticate(t.Context(), "c", "pw")
	if uc == nil || uc.Home.Bucket != "" {
		t.Fatalf("c: %+v", uc)
	}
	if _, err := u.Authenticate(t.Context(), "a", "nope"); err == nil {
		t.Fatal("wrong password accepted")
	}
	_, problems = LoadStaticUsers("x:plaintext,y:"+h+":bkt:rwx", "", sessionHome(t, ""))
	if len(problems) != 2 {
		t.Fatalf("want 2 problems, got %v", problems)
	}
	for _, p := range problems {
		if strings.Contains(p.Error(), "plaintext") {
			t.Fatalf("an error message reveals the secret: %v", p)
		}
	}
}
