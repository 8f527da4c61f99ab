package integration

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jlaffaye/ftp"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/gateway/auth"
)

// FTP2S3_USERS_FILE reloaded without a restart (docs/identity.md): each test
// has its own users file in t.TempDir() and a gateway run as the binary runs
// it (Gateway.Serve, which watches the file), polling every 50ms.

var (
	otherHashOnce sync.Once
	otherHash     string
)

// otherPassword's hash: a changed password in a record.
const otherPassword = "n3w pass"

func otherPasswordHash(t *testing.T) string {
	otherHashOnce.Do(func() {
		h, err := auth.HashPassword(otherPassword)
		if err != nil {
			panic(err)
		}
		otherHash = h
	})
	return otherHash
}

// writeAtomically writes lines as path the way a careful tool does: a new
// file renamed over the old one.
func writeAtomically(t *testing.T, path string, lines ...string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// usersFileGateway serves the users of a file of its own (first written with
// lines); mutate adjusts the rest.
func usersFileGateway(t *testing.T, mutate func(*gateway.Config), lines ...string) (*opsGateway, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users")
	writeAtomically(t, path, lines...)
	g := startOpsGateway(t, minio, func(c *gateway.Config) {
		c.Users, c.UsersFile, c.UsersFilePoll = "", path, 50*time.Millisecond
		if mutate != nil {
			mutate(c)
		}
	}, nil)
	return g, path
}

// waitReloads waits until ftp2s3_users_reloads_total reaches n.
func waitReloads(t *testing.T, g *opsGateway, n float64) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("%v users reloads", n), 20*time.Second, func() bool {
		return scrape(t, g)["ftp2s3_users_reloads_total"] >= n
	})
}

// loginCode connects from 127.0.0.1 and returns PASS's reply code.
func loginCode(t *testing.T, addr, user, password string) int {
	t.Helper()
	r := rawDial(t, addr)
	r.expect(220)
	code, _ := passLogin(r, user, password)
	r.send("QUIT")
	return code
}

// TestUsersFileReloadOnChange: a new file renamed over the old takes effect
// for the next login; a user it removed is refused, and that user's idle
// session ends with 421 at once; an unchanged user's session goes on.
func TestUsersFileReloadOnChange(t *testing.T) {
	t.Parallel()
	h := passwordHash(t)
	g, path := usersFileGateway(t, nil, "alice:"+h, "dave:"+h)
	if code := loginCode(t, g.Addr, "bob", testPassword); code != 530 {
		t.Fatalf("bob before the change: %d, want 530", code)
	}
	alice := rawLogin(t, g.Addr, "alice")
	dave := rawLogin(t, g.Addr, "dave")

	writeAtomically(t, path, "# alice left", "bob:"+h, "dave:"+h)
	if code, msg, err := alice.reply(20 * time.Second); code != 421 {
		t.Fatalf("alice's idle session after her record was removed: %d %q %v, want 421", code, msg, err)
	}
	if closed, _ := alice.closedWithin(3 * time.Second); !closed {
		t.Fatal("alice's session stayed open after 421")
	}
	waitReloads(t, g, 1)
	if code := loginCode(t, g.Addr, "bob", testPassword); code != 230 {
		t.Fatalf("bob after the change: %d, want 230", code)
	}
	if code := loginCode(t, g.Addr, "alice", testPassword); code != 530 {
		t.Fatalf("alice after removal: %d, want 530", code)
	}
	dave.cmd(200, "NOOP")
	m := scrape(t, g)
	if m["ftp2s3_users"] != 2 || m["ftp2s3_users_reload_ok"] != 1 {
		t.Fatalf("users %v reload_ok %v, want 2 and 1", m["ftp2s3_users"], m["ftp2s3_users_reload_ok"])
	}
	g.waitLog("users reloaded", "added=1", "removed=1", "unchanged=1")
}

// TestUsersFileReloadKubernetesSymlinkSwap: a Kubernetes Secret volume
// publishes a new version by pointing the ..data symlink at a new directory;
// the users file, a symlink through ..data, never changes as a link.
func TestUsersFileReloadKubernetesSymlinkSwap(t *testing.T) {
	t.Parallel()
	h := passwordHash(t)
	dir := t.TempDir()
	version := func(name string, lines ...string) {
		if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
			t.Fatal(err)
		}
		writeAtomically(t, filepath.Join(dir, name, "users"), lines...)
	}
	version("..2026_12_06_01", "alice:"+h)
	if err := os.Symlink("..2026_12_06_01", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/users", filepath.Join(dir, "users")); err != nil {
		t.Fatal(err)
	}
	g := startOpsGateway(t, minio, func(c *gateway.Config) {
		c.Users, c.UsersFile, c.UsersFilePoll = "", filepath.Join(dir, "users"), 50*time.Millisecond
	}, nil)
	if code := loginCode(t, g.Addr, "erin", testPassword); code != 530 {
		t.Fatalf("erin before the update: %d, want 530", code)
	}
	// The kubelet's swap: a new directory, a new link, renamed over ..data.
	version("..2026_12_06_02", "alice:"+h, "erin:"+h)
	if err := os.Symlink("..2026_12_06_02", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "..2026_12_06_01")); err != nil {
		t.Fatal(err)
	}
	waitReloads(t, g, 1)
	if code := loginCode(t, g.Addr, "erin", testPassword); code != 230 {
		t.Fatalf("erin after the update: %d, want 230", code)
	}
}

// TestUsersFileBadReloadKeepsUsers: a file with errors changes nothing:
// every problem line is logged, the metrics say so, the users in force log in
// and their sessions go on; the next good file is taken.
func TestUsersFileBadReloadKeepsUsers(t *testing.T) {
	t.Parallel()
	h := passwordHash(t)
	g, path := usersFileGateway(t, nil, "alice:"+h)
	alice := rawLogin(t, g.Addr, "alice")
	writeAtomically(t, path, "bob:"+h, "carol:plaintext-password", "dave:"+h+":"+g.Bucket+":rwx", "erin:"+h+"::r:not-a-network")
	waitUntil(t, "a refused reload", 20*time.Second, func() bool {
		m := scrape(t, g)
		return m["ftp2s3_users_reload_failures_total"] >= 1 && m["ftp2s3_users_reload_ok"] == 0
	})
	for _, line := range []string{"line 2", "line 3", "line 4"} {
		g.waitLog("users file not reloaded", line)
	}
	if strings.Contains(g.Logs.String(), "plaintext-password") {
		t.Fatal("a record's password field appears in the logs")
	}
	if code := loginCode(t, g.Addr, "alice", testPassword); code != 230 {
		t.Fatalf("alice after a bad file: %d, want 230 (users kept)", code)
	}
	if code := loginCode(t, g.Addr, "bob", testPassword); code != 530 {
		t.Fatalf("bob from a bad file: %d, want 530", code)
	}
	alice.cmd(200, "NOOP")
	writeAtomically(t, path, "alice:"+h, "bob:"+h)
	waitReloads(t, g, 1)
	if m := scrape(t, g); m["ftp2s3_users_reload_ok"] != 1 {
		t.Fatal("reload_ok stayed 0 after a good file")
	}
	if code := loginCode(t, g.Addr, "bob", testPassword); code != 230 {
		t.Fatalf("bob after the good file: %d, want 230", code)
	}
}

// TestUsersFileReloadEndsBusySession: a user whose password changes while an
// upload runs hears 226 for it (the file is stored), then 421; the new
// password logs in.
func TestUsersFileReloadEndsBusySession(t *testing.T) {
	t.Parallel()
	h := passwordHash(t)
	g, path := usersFileGateway(t, nil, "carol:"+h, "alice:"+h)
	carol := rawLogin(t, g.Addr, "carol")
	d := carol.data()
	carol.cmd(150, "STOR during-reload.bin")
	if _, err := io.CopyN(d, newPattern(1<<20, 7), 1<<20); err != nil {
		t.Fatal(err)
	}
	writeAtomically(t, path, "carol:"+otherPasswordHash(t), "alice:"+h)
	waitReloads(t, g, 1)
	if _, err := io.CopyN(d, newPattern(1<<20, 8), 1<<20); err != nil {
		t.Fatal(err)
	}
	_ = d.Close()
	carol.expect(226)
	if code, msg, err := carol.reply(10 * time.Second); code != 421 {
		t.Fatalf("after the transfer: %d %q %v, want 421", code, msg, err)
	}
	if _, size, err := g.object("during-reload.bin"); err != nil || size != 2<<20 {
		t.Fatalf("the upload that ran during the reload: size %d, %v", size, err)
	}
	if code := loginCode(t, g.Addr, "carol", testPassword); code != 530 {
		t.Fatalf("carol's old password: %d, want 530", code)
	}
	if code := loginCode(t, g.Addr, "carol", otherPassword); code != 230 {
		t.Fatalf("carol's new password: %d, want 230", code)
	}
}

// TestUsersFileNetworks: a record's fifth field limits where it may log in
// from; a login from elsewhere is a wrong password, and counts as one.
func TestUsersFileNetworks(t *testing.T) {
	t.Parallel()
	h := passwordHash(t)
	g, _ := usersFileGateway(t, func(c *gateway.Config) { c.BanAfter, c.BanFor = 2, time.Minute },
		"scanner:"+h+"::rw:127.0.0.2/32;2001:db8::/32", "office:"+h+":::192.0.2.0/24")
	loginsOutsideNetworks(t, g.Addr, "scanner", "office")
	if st := g.GW.Bans.Stats(); st.FailedLogins != 2 || st.Bans != 1 {
		t.Fatalf("ban stats %+v, want 2 failures and a ban", st)
	}
	g.waitLog("login failed", "user=scanner", "outside the user's networks")
}

// TestUsersFileSIGHUP: the binary reloads the users file on SIGHUP. The file
// is rewritten in place to the same size, and its modification time put back,
// so that only the signal can explain the reload.
func TestUsersFileSIGHUP(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	bucket := bucketName(t)
	if err := minio.CreateBucket(t.Context(), bucket); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "users")
	old, updated := "alice:"+passwordHash(t)+"\n", "alice:"+otherPasswordHash(t)+"\n"
	if len(old) != len(updated) {
		t.Fatal("the two records differ in length")
	}
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	env, addr := serveEnv(t, bucket)
	cmd, logs, _ := startBinary(t, bin, append(env, "FTP2S3_USERS=", "FTP2S3_USERS_FILE="+path))
	waitUntil(t, "the binary to listen", 30*time.Second, func() bool { return strings.Contains(logs.String(), "ftp2s3 listening") })
	if code := loginCode(t, addr, "alice", testPassword); code != 230 {
		t.Fatalf("before: %d, want 230", code)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(updated), 0); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the reload log line", 20*time.Second, func() bool { return strings.Contains(logs.String(), "users reloaded") })
	if code := loginCode(t, addr, "alice", otherPassword); code != 230 {
		t.Fatalf("new password after SIGHUP: %d, want 230", code)
	}
	if code := loginCode(t, addr, "alice", testPassword); code != 530 {
		t.Fatalf("old password after SIGHUP: %d, want 530", code)
	}
}

// TestUsersFileReloadCreatesNewBuckets: with FTP2S3_CREATE_BUCKETS, a user
// whose home is in a bucket no one had is served by the next login after a
// reload: the reload creates the bucket (and logs it), as Run does at start,
// and does not create again the buckets it already made.
func TestUsersFileReloadCreatesNewBuckets(t *testing.T) {
	t.Parallel()
	h := passwordHash(t)
	fresh := bucketName(t) + "-new"
	if bucketExists(t, fresh) {
		t.Fatalf("bucket %s exists before the test", fresh)
	}
	path := filepath.Join(t.TempDir(), "users")
	writeAtomically(t, path, "alice:"+h)
	logs, done := runGateway(t, func(c *gateway.Config) {
		c.Users, c.UsersFile, c.UsersFilePoll = "", path, 50*time.Millisecond
		c.CreateBuckets = true
	})
	waitListening(t, logs, done)
	m := regexp.MustCompile(`msg="ftp2s3 listening" addr=(\S+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no listening address in the log:\n%s", logs)
	}
	addr := m[1]

	writeAtomically(t, path, "alice:"+h, "carol:"+h+":"+fresh+"/drop:rw")
	waitUntil(t, "the reload to create carol's bucket", 20*time.Second, func() bool {
		return strings.Contains(logs.String(), `msg="created bucket" bucket=`+fresh)
	})
	if !bucketExists(t, fresh) {
		t.Fatalf("bucket %s missing after the reload logged it", fresh)
	}
	c, err := ftp.Dial(addr, ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("carol", testPassword); err != nil {
		t.Fatalf("carol after the reload: %v", err)
	}
	if err := c.Stor("first.txt", strings.NewReader("into a bucket made by a reload")); err != nil {
		t.Fatalf("STOR into the new bucket: %v", err)
	}
	_ = c.Quit()
	if _, err := minio.Client().HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(fresh), Key: aws.String("drop/first.txt")}); err != nil {
		t.Fatalf("the upload is not in %s/drop/: %v", fresh, err)
	}
	// A second reload that adds no bucket creates nothing again.
	writeAtomically(t, path, "alice:"+h, "carol:"+h+":"+fresh+"/drop:rw", "dave:"+h)
	waitUntil(t, "the second reload", 20*time.Second, func() bool {
		return strings.Count(logs.String(), `msg="users reloaded"`) >= 2
	})
	if n := strings.Count(logs.String(), `msg="created bucket"`); n != 1 {
		t.Fatalf("%d buckets created in all, want only carol's:\n%s", n, logs)
	}
}
