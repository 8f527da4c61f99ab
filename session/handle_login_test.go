package session

import (
	"strings"
	"testing"
)

func TestREIN(t *testing.T) {
	c := loginSession(t, goldenFS(), "alice")
	c.expect("CWD dir", 250)
	c.expect("TYPE A", 200)
	c.expect("REIN", 220)
	c.expect("PWD", 530)
	c.expect("USER alice", 331)
	c.expect("PASS pw", 230)
	if text := c.expect("PWD", 257); !strings.HasPrefix(text, `"/"`) {
		t.Errorf("PWD after REIN: %q", text)
	}
	if text := c.expect("STAT", 211); !strings.Contains(text, "TYPE: BINARY") {
		t.Errorf("TYPE not reset by REIN: %q", text)
	}
}

func TestHOST(t *testing.T) {
	c := startSession(t, goldenFS())
	c.expect("HOST a b", 501)
	c.expect("HOST "+strings.Repeat("h", maxHostLength+1), 501)
	c.expect("HOST ftp.example.com", 220)
	// RFC 7151: one HOST per login; REIN starts over.
	c.expect("HOST other.example.com", 503)
	c.expect("REIN", 220)
	c.expect("HOST [::1]", 220)
	c.expect("USER alice", 331)
	c.expect("HOST late.example.com", 503)
	c.expect("PASS pw", 230)
	c.expect("HOST late.example.com", 503)
}

func TestALLOKeepsSizeHint(t *testing.T) {
	s := newBareSession(t, goldenFS(), &User{Name: "alice", Home: Home{Bucket: "b"}})
	if r := s.handleALLO("123456789"); r.Code != 202 || s.allocHint != 123456789 {
		t.Fatalf("ALLO: %d %q, hint %d", r.Code, r.Text(), s.allocHint)
	}
	s.dispatch("REIN", "") // REIN's row ends the hint
	if s.allocHint != 0 || s.user != nil {
		t.Fatalf("REIN kept state: hint %d, user %v", s.allocHint, s.user)
	}
}
