package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ftp2s3/ftp2s3/session"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func cheapHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func writeUsers(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func from(addr string) context.Context {
	return session.WithLoginInfo(context.Background(), session.LoginInfo{Addr: netip.MustParseAddr(addr)})
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestReloadRevokesChangedRecordsOnly: a reload closes the Revoked channel
// of every record it removes or changes, and of no other; a file with errors
// changes nothing.
func TestReloadRevokesChangedRecordsOnly(t *testing.T) {
	h := cheapHash(t, "pw")
	path := filepath.Join(t.TempDir(), "users")
	writeUsers(t, path, "alice:"+h, "bob:"+h+":bkt1", "carol:"+h, "dave:"+h+"::r:10.0.0.0/8")
	u, problems := LoadStaticUsers("inline:"+h, path, session.Home{})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	revoked := map[string]<-chan struct{}{}
	for _, n := range []string{"alice", "bob", "carol", "dave", "inline"} {
		usr, err := u.Authenticate(from("10.1.2.3"), n, "pw")
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		revoked[n] = usr.Revoked
	}
	if err := u.Reload(quietLog()); err != nil {
		t.Fatalf("reload of the same file: %v", err)
	}
	for n, c := range revoked {
		if closed(c) {
			t.Fatalf("%s revoked by a reload that changed nothing", n)
		}
	}
	writeUsers(t, path, "alice:"+h, "bob:"+h+":bkt2", "dave:"+h+"::r:10.0.0.0/16", "erin:"+h)
	if err := u.Reload(quietLog()); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"alice": false, "bob": true, "carol": true, "dave": true, "inline": false}
	for n, w := range want {
		if closed(revoked[n]) != w {
			t.Errorf("%s revoked = %v, want %v", n, !w, w)
		}
	}
	if _, err := u.Authenticate(from("10.1.2.3"), "erin", "pw"); err != nil {
		t.Errorf("erin, added: %v", err)
	}
	if _, err := u.Authenticate(from("10.1.2.3"), "carol", "pw"); !errors.Is(err, session.ErrAuthFailed) {
		t.Errorf("carol, removed: %v", err)
	}
	if _, err := u.Authenticate(from("10.1.2.3"), "dave", "pw"); !errors.Is(err, session.ErrAuthFailed) {
		t.Errorf("dave from outside his new network: %v", err)
	}

	writeUsers(t, path, "alice:"+h, "zed:not-a-hash")
	if err := u.Reload(quietLog()); err == nil {
		t.Fatal("a file with errors reloaded")
	}
	if st := u.ReloadStats(); st.LastOK || st.Failures != 1 || st.Reloads != 2 || st.Users != 5 {
		t.Fatalf("stats after a bad file: %+v", st)
	}
	if _, err := u.Authenticate(from("10.1.2.3"), "erin", "pw"); err != nil {
		t.Errorf("erin after a bad file: %v", err)
	}
}

// TestWatchFollowsTheFile: Watch reloads when a new file is renamed over the
// old one, and returns when its context ends.
func TestWatchFollowsTheFile(t *testing.T) {
	h := cheapHash(t, "pw")
	path := filepath.Join(t.TempDir(), "users")
	writeUsers(t, path, "alice:"+h)
	u, problems := LoadStaticUsers("", path, session.Home{})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); u.Watch(ctx, 5*time.Millisecond, quietLog()) }()
	writeUsers(t, path, "alice:"+h, "bob:"+h)
	deadline := time.Now().Add(10 * time.Second)
	for u.ReloadStats().Reloads < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the change was not seen")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if u.Len() != 2 {
		t.Fatalf("%d users after the reload", u.Len())
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after its context ended")
	}
}

func TestParseNetworks(t *testing.T) {
	n, err := ParseNetworks([]string{"10.0.0.0/8", " 192.0.2.7 ", "2001:db8::/32", "::ffff:198.51.100.0/120", ""})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"10.9.8.7": true, "192.0.2.7": true, "192.0.2.8": false, "2001:db8::1": true, "2001:db9::1": false,
		"198.51.100.200": true, "::ffff:10.1.1.1": true, "11.0.0.1": false,
	} {
		if got := n.Allows(netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s allowed = %v, want %v", addr, got, want)
		}
	}
	if !Networks(nil).Allows(netip.MustParseAddr("203.0.113.1")) {
		t.Error("no networks must allow every address")
	}
	for _, bad := range []string{"10.0.0.0/33", "tenth floor", "fe80::1%eth0", "::ffff:1.2.3.4/90"} {
		if _, err := ParseNetworks([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
