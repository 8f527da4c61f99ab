package session

import (
	"strings"
	"testing"
)

func TestSTATWithoutPath(t *testing.T) {
	c := startSession(t, goldenFS())
	text := c.expect("STAT", 211)
	if !strings.Contains(text, "Not logged in") {
		t.Errorf("STAT before login: %q", text)
	}
	c.expect("STAT /", 530)
	c.expect("USER alice", 331)
	c.expect("PASS pw", 230)
	c.expect("TYPE A", 200)
	text = c.expect("STAT", 211)
	for _, want := range []string{"Logged in as alice", "TYPE: ASCII", "No data connection", "End of status"} {
		if !strings.Contains(text, want) {
			t.Errorf("STAT lacks %q:\n%s", want, text)
		}
	}
	c.expect("STAT /missing", 550)
}

func TestSITE(t *testing.T) {
	c := loginSession(t, goldenFS(), "alice")
	if text := c.expect("SITE HELP", 214); !strings.Contains(text, "CHMOD") {
		t.Errorf("SITE HELP: %q", text)
	}
	c.expect("SITE CHMOD 644 recent.txt", 202)
	c.expect("SITE EXEC rm -rf /", 504)
	c.expect("SITE", 501)
}

func TestAcceptedNoOps(t *testing.T) {
	c := loginSession(t, goldenFS(), "alice")
	c.expect("ALLO 1000", 202)
	c.expect("ALLO 1000 R 80", 202)
	c.expect("ALLO lots", 501)
	c.expect("ALLO 10 X 5", 501)
	c.expect("ALLO 6000000000000", 552)
	c.expect("ACCT billing", 202)
	c.expect("SMNT /elsewhere", 502)
	c.expect("CLNT curl 8.0", 200)
	c.expect("MODE S", 200)
	c.expect("STRU F", 200)
	for _, refused := range []string{"MODE B", "MODE C", "STRU R", "STRU P"} {
		c.expect(refused, 504)
	}
	c.expect("HELP SITE", 214)
}

func TestOverLongLine(t *testing.T) {
	c := loginSession(t, goldenFS(), "alice")
	c.send("STOR " + strings.Repeat("a", 3*maxLineLength))
	if code, text := c.read(); code != 500 || !strings.Contains(text, "too long") {
		t.Fatalf("over-long line: %d %q", code, text)
	}
	c.expect("NOOP", 200)
}

func TestMultiLineReplyFormat(t *testing.T) {
	r := Reply{Code: 213, Lines: []string{"Status:", "213 looks like an end", "x\r\ny", "End"}}
	want := "213-Status:\r\n 213 looks like an end\r\n x  y\r\n213 End\r\n"
	if got := r.String(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
