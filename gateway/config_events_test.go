package gateway

import (
	"strings"
	"testing"

	"github.com/caarlos0/env/v11"
)

// TestValidateEventsListener (issue 20 §1): the events endpoint on an address
// the network reaches needs FTP2S3_S3_EVENTS_TOKEN or the explicit opt-in; on
// loopback it needs neither. One line, naming the variable.
func TestValidateEventsListener(t *testing.T) {
	for _, tc := range []struct {
		listen, token string
		insecure      bool
		want          string // the problem's first words, or "" for none
	}{
		{listen: ""},
		{listen: "127.0.0.1:9200"},
		{listen: "[::1]:9200"},
		{listen: "localhost:9200"},
		{listen: ":9200", want: "FTP2S3_S3_EVENTS_LISTEN: \":9200\" is reachable from the network"},
		{listen: "0.0.0.0:9200", want: "FTP2S3_S3_EVENTS_LISTEN:"},
		{listen: "[::]:9200", want: "FTP2S3_S3_EVENTS_LISTEN:"},
		{listen: "10.1.2.3:9200", want: "FTP2S3_S3_EVENTS_LISTEN:"},
		{listen: "ftp2s3-a:9200", want: "FTP2S3_S3_EVENTS_LISTEN:"},
		{listen: ":9200", token: "0123456789abcdef"},
		{listen: ":9200", insecure: true},
	} {
		c := DefaultConfig()
		c.S3EventsListen, c.S3EventsToken, c.S3EventsInsecure = tc.listen, Secret(tc.token), tc.insecure
		var got []string
		for _, p := range c.Validate() {
			got = append(got, p.Error())
		}
		joined := strings.Join(got, "\n")
		switch {
		case tc.want == "" && len(got) > 0:
			t.Errorf("%+v: unexpected problems %s", tc, joined)
		case tc.want != "" && (len(got) != 1 || !strings.HasPrefix(joined, tc.want)):
			t.Errorf("%+v: problems %q, want one line starting with %s", tc, joined, tc.want)
		}
	}
}

// TestEventsTokenParsesOnce: the token is checked when read (it goes in an
// HTTP header) and never printed.
func TestEventsTokenParsesOnce(t *testing.T) {
	var c Config
	err := env.ParseWithOptions(&c, env.Options{Environment: map[string]string{"FTP2S3_S3_EVENTS_TOKEN": "has space"}})
	if err == nil {
		t.Fatal("a token with a space was accepted")
	}
	c = Config{}
	if err := env.ParseWithOptions(&c, env.Options{Environment: map[string]string{
		"FTP2S3_S3_EVENTS_TOKEN": "s3cr3t-t0ken", "FTP2S3_S3_EVENTS_INSECURE": "true"}}); err != nil {
		t.Fatal(err)
	}
	if c.S3EventsToken != "s3cr3t-t0ken" || !c.S3EventsInsecure {
		t.Fatalf("parsed %q, %v", string(c.S3EventsToken), c.S3EventsInsecure)
	}
	if s := c.S3EventsToken.String(); strings.Contains(s, "s3cr3t") {
		t.Fatalf("the token prints as %q", s)
	}
}
