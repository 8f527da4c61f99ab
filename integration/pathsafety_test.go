package integration

import (
	"strings"
	"testing"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// TestPathsConfinedToHome: a user whose home is bucket/jail can neither read,
// write, delete nor list anything outside it, whatever the path says.
func TestPathsConfinedToHome(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *gateway.Config) {
		c.Users += ",jail:" + passwordHash(t) + ":" + string(c.Bucket) + "/jail:rw"
	})
	g.putObject("secret.txt", "outside the jail")
	g.putObject("jail/inside.txt", "inside")
	r := rawDial(t, g.Addr)
	r.read()
	r.cmd(331, "USER jail")
	r.cmd(230, "PASS %s", testPassword)

	escapes := []string{
		"../secret.txt", "/../secret.txt", "../../secret.txt", `..\secret.txt`, `\..\secret.txt`,
		"/./../secret.txt", "jail/../../secret.txt", "%2e%2e/secret.txt", "/" + g.Bucket + "/secret.txt",
	}
	for _, p := range escapes {
		if code, msg := r.ask("SIZE %s", p); code != 550 && code != 553 {
			t.Errorf("SIZE %s: %d %q, want 550", p, code, msg)
		}
		if code, msg := r.ask("MDTM %s", p); code != 550 && code != 553 {
			t.Errorf("MDTM %s: %d %q, want 550", p, code, msg)
		}
		if code, msg := r.ask("DELE %s", p); code != 550 && code != 553 {
			t.Errorf("DELE %s: %d %q, want 550", p, code, msg)
		}
	}
	if _, _, err := g.object("secret.txt"); err != nil {
		t.Fatal("a DELE outside the home removed the object")
	}
	// NUL and line-break bytes never reach S3.
	for _, p := range []string{"inside.txt\x00.jpg", "a\x00b"} {
		if code, msg := r.ask("SIZE %s", p); code != 553 && code != 550 {
			t.Errorf("SIZE with a NUL byte: %d %q, want 553", code, msg)
		}
	}
	// Climbing above the root stops at the root, which is the home.
	r.cmd(250, "CWD ../../..")
	if _, msg := r.ask("PWD"); !strings.Contains(msg, `"/"`) {
		t.Fatalf("PWD after climbing: %q", msg)
	}
	r.cmd(213, "SIZE ../inside.txt")
	// Writes land inside the home however the path is spelled.
	r.cmd(257, "MKD ../../made")
	if _, _, err := g.object("jail/made/"); err != nil {
		t.Fatalf("MKD ../../made did not create jail/made/: %v", err)
	}
	if _, _, err := g.object("made/"); err == nil {
		t.Fatal("MKD escaped the home")
	}
	c := g.dial("jail")
	if err := c.Stor("../../escaped.txt", strings.NewReader("confined")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.object("jail/escaped.txt"); err != nil {
		t.Fatalf("STOR ../../escaped.txt did not land in the home: %v", err)
	}
	if _, _, err := g.object("escaped.txt"); err == nil {
		t.Fatal("STOR escaped the home")
	}
	names, err := c.NameList("/..")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.Contains(n, "secret") {
			t.Fatalf("listing /.. shows %v", names)
		}
	}
	if rc, err := c.Retr("../secret.txt"); err == nil {
		rc.Close()
		t.Fatal("RETR ../secret.txt succeeded")
	}
}
