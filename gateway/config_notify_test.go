package gateway

import (
	"strings"
	"testing"
)

func TestEventsConfigParsing(t *testing.T) {
	d := DefaultConfig()
	if d.ObjectMetadata != (MetadataFields{User: true, Client: true}) || d.NotifyQueue != 10000 ||
		d.UploadCheckTimeout.String() != "30s" || d.UploadCheckFailure != CheckFailureReject || d.NotifyURL.Set() {
		t.Fatalf("defaults: %+v %d %s %s %v", d.ObjectMetadata, d.NotifyQueue, d.UploadCheckTimeout, d.UploadCheckFailure, d.NotifyURL)
	}
	for in, want := range map[string]MetadataFields{
		"user": {User: true}, " client ": {Client: true}, "User,Client": {User: true, Client: true}, "none": {}, "": {},
	} {
		var m MetadataFields
		if err := m.UnmarshalText([]byte(in)); err != nil || m != want {
			t.Errorf("FTP2S3_OBJECT_METADATA=%q: %+v, %v", in, m, err)
		}
	}
	var m MetadataFields
	if err := m.UnmarshalText([]byte("user,ip")); err == nil {
		t.Error(`"user,ip" accepted`)
	}
	var u EndpointURL
	for _, bad := range []string{"ftp://x/", "localhost:8080", "http://"} {
		if err := u.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("URL %q accepted", bad)
		}
	}
	var f CheckFailure
	if err := f.UnmarshalText([]byte("maybe")); err == nil {
		t.Error(`FTP2S3_UPLOAD_CHECK_FAILURE=maybe accepted`)
	}
}

// TestObjectMetadataEmptyIsOff: the environment library gives an empty
// variable its default; FTP2S3_OBJECT_METADATA= must still mean none.
func TestObjectMetadataEmptyIsOff(t *testing.T) {
	t.Setenv("FTP2S3_OBJECT_METADATA", "")
	c, _ := LoadConfig()
	if c.ObjectMetadata != (MetadataFields{}) {
		t.Fatalf("FTP2S3_OBJECT_METADATA= gives %+v, want none", c.ObjectMetadata)
	}
}

func TestValidateEventsSettings(t *testing.T) {
	c := DefaultConfig()
	c.Users = ""
	c.NotifyQueue = 0
	c.NotifyToken = "t"
	c.UploadCheckToken = "t"
	c.UploadCheckTimeout = 0
	got := ""
	for _, p := range c.Validate() {
		got += p.Error() + "\n"
	}
	for _, name := range []string{"FTP2S3_NOTIFY_QUEUE:", "FTP2S3_NOTIFY_TOKEN: needs FTP2S3_NOTIFY_URL",
		"FTP2S3_UPLOAD_CHECK_TOKEN: needs", "FTP2S3_UPLOAD_CHECK_TIMEOUT:"} {
		if !strings.Contains(got, name) {
			t.Errorf("no problem named %q in:\n%s", name, got)
		}
	}
}
