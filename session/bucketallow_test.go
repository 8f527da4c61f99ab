package session

import (
	"strings"
	"testing"
)

// TestAllowedBucketsHome: a home limited to some buckets (FTP2S3_BUCKETS)
// lists only those, and every command naming another bucket answers exactly
// as for a bucket that does not exist, without storage being asked about it.
func TestAllowedBucketsHome(t *testing.T) {
	fs := goldenFS()
	fs.buckets["secret"] = map[string]*memObject{}
	fs.put("secret", "s.txt", "secret", goldenNow)
	fs.put("secret", "d/x", "x", goldenNow)
	c := loginSession(t, fs, "boxed")
	if names := c.downloadOK("NLST /"); strings.Contains(names, "secret") || !strings.Contains(names, "b") {
		t.Errorf("NLST / = %q, want b and not secret", names)
	}
	if lines := c.expect("STAT /", 213); strings.Contains(lines, "secret") {
		t.Errorf("STAT / shows the bucket outside the list: %q", lines)
	}
	// Each command, once on the denied bucket and once on "gone", which is
	// allowed but does not exist: the replies must not tell them apart.
	type answer struct {
		code int
		text string
	}
	try := func(bucket string) []answer {
		var out []answer
		add := func(code int, text string) {
			out = append(out, answer{code, strings.ReplaceAll(text, bucket, "BUCKET")})
		}
		add(c.cmd("CWD /" + bucket))
		add(c.cmd("CWD /" + bucket + "/d"))
		_, code, text := c.download("LIST /" + bucket)
		add(code, text)
		_, code, text = c.download("MLSD /" + bucket + "/d")
		add(code, text)
		_, code, text = c.download("NLST /" + bucket + "/d/*")
		add(code, text)
		add(c.cmd("STAT /" + bucket + "/d"))
		add(c.cmd("STAT /" + bucket + "/s.txt"))
		add(c.cmd("MLST /" + bucket + "/s.txt"))
		_, code, text = c.download("RETR /" + bucket + "/s.txt")
		add(code, text)
		add(c.cmd("SIZE /" + bucket + "/s.txt"))
		add(c.cmd("MDTM /" + bucket + "/s.txt"))
		add(c.cmd("MFMT 20200101000000 /" + bucket + "/s.txt"))
		add(c.cmd("XSHA256 /" + bucket + "/s.txt"))
		_, code, text = c.upload("STOR /"+bucket+"/new.txt", "data")
		add(code, text)
		_, code, text = c.upload("APPE /"+bucket+"/s.txt", "data")
		add(code, text)
		add(c.cmd("MKD /" + bucket + "/dir"))
		add(c.cmd("RMD /" + bucket + "/d"))
		add(c.cmd("DELE /" + bucket + "/s.txt"))
		add(c.cmd("RNFR /" + bucket + "/s.txt"))
		if code, text := c.cmd("RNFR /b/recent.txt"); code != 350 {
			t.Fatalf("RNFR /b/recent.txt: %d %q", code, text)
		}
		add(c.cmd("RNTO /" + bucket + "/moved.txt"))
		return out
	}
	denied, gone := try("secret"), try("gone")
	for i := range denied {
		if denied[i].code < 500 {
			t.Errorf("command %d on the denied bucket: %d %q", i, denied[i].code, denied[i].text)
		}
		if denied[i] != gone[i] {
			t.Errorf("command %d: denied bucket %d %q, missing bucket %d %q", i, denied[i].code, denied[i].text, gone[i].code, gone[i].text)
		}
	}
	for _, tc := range fs.touched() {
		if tc.bucket == "secret" {
			t.Errorf("storage was asked about the denied bucket: %+v", tc)
		}
	}
	if got, _ := fs.object("secret", "s.txt"); got != "secret" {
		t.Errorf("secret/s.txt now holds %q", got)
	}
	if _, ok := fs.object("b", "recent.txt"); !ok {
		t.Error("the refused rename lost its source")
	}
}
