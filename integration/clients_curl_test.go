package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// curlArgs are passed to every curl run: quiet but with errors, fail on FTP
// errors, bounded in time.
var curlArgs = []string{"-sS", "--fail", "--max-time", "60"}

func curl(t *testing.T, args ...string) string {
	t.Helper()
	return runClient(t, t.TempDir(), "curl", append(append([]string{}, curlArgs...), args...)...)
}

// TestCurlDataModes uploads, lists and downloads with curl in each of its four
// data-connection modes and checks in the gateway's log that the mode was the
// one asked for.
func TestCurlDataModes(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name string
		args []string
		verb string
	}{
		{"EPSV", nil, "EPSV"},
		{"PASV", []string{"--disable-epsv"}, "PASV"},
		{"EPRT", []string{"-P", "127.0.0.1"}, "EPRT"},
		{"PORT", []string{"--disable-eprt", "-P", "127.0.0.1"}, "PORT"},
	} {
		t.Run(mode.name, func(t *testing.T) {
			g := startGateway(t)
			dir := t.TempDir()
			src := filepath.Join(dir, "report 2026.bin")
			body := strings.Repeat("curl data mode "+mode.name+"\n", 40000)
			if err := os.WriteFile(src, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			out := curl(t, append(mode.args, "-T", src, g.ftpURL(userRW, "/"))...)
			if sum, n, err := g.object("report 2026.bin"); err != nil || n != int64(len(body)) || sum != sha256String(body) {
				t.Fatalf("uploaded object: %d bytes, err %v\n%s", n, err, out)
			}
			list := curl(t, append(mode.args, g.ftpURL(userRW, "/"))...)
			if !strings.Contains(list, " report 2026.bin\r\n") && !strings.Contains(list, " report 2026.bin\n") {
				t.Fatalf("LIST lacks the file:\n%s", list)
			}
			dst := filepath.Join(dir, "back.bin")
			curl(t, append(mode.args, "-o", dst, g.ftpURL(userRW, "/report 2026.bin"))...)
			if got, err := os.ReadFile(dst); err != nil || string(got) != body {
				t.Fatalf("downloaded %d bytes, err %v; want %d", len(got), err, len(body))
			}
			if !g.usedCommand(mode.verb) {
				t.Fatalf("the gateway never saw %s: curl did not use the mode under test", mode.verb)
			}
		})
	}
}

// TestCurlCreateDirs uploads into a directory path that does not exist yet.
func TestCurlCreateDirs(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	src := filepath.Join(t.TempDir(), "scan.pdf")
	if err := os.WriteFile(src, []byte("%PDF-1.4 scan"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := curl(t, "--ftp-create-dirs", "-T", src, g.ftpURL(userRW, "/2026/11/ünï dir/"))
	if sum, n, err := g.object("2026/11/ünï dir/scan.pdf"); err != nil || n != 13 || sum != sha256String("%PDF-1.4 scan") {
		t.Fatalf("object: %d bytes, err %v\n%s", n, err, out)
	}
	for _, marker := range []string{"2026/", "2026/11/", "2026/11/ünï dir/"} {
		if _, _, err := g.object(marker); err != nil {
			t.Errorf("directory marker %q missing: %v", marker, err)
		}
	}
}

// TestCurlQuote runs commands before (-Q CMD) and after (-Q -CMD) a transfer,
// and expects curl to fail on a command the server refuses.
func TestCurlQuote(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	src := filepath.Join(t.TempDir(), "q.txt")
	if err := os.WriteFile(src, []byte("quoted"), 0o644); err != nil {
		t.Fatal(err)
	}
	curl(t, "-Q", "MKD quoted", "-Q", "-SITE CHMOD 644 quoted/q.txt", "-T", src, g.ftpURL(userRW, "/quoted/q.txt"))
	if _, n, err := g.object("quoted/q.txt"); err != nil || n != 6 {
		t.Fatalf("object after -Q MKD + upload: %d bytes, %v", n, err)
	}
	// "*" lets a quote command fail without failing curl (curl ≥ 7.68).
	curl(t, "-Q", "DELE quoted/q.txt", "-Q", "RMD quoted", "-Q", "*SITE BOGUS", "--list-only", g.ftpURL(userRW, "/"))
	if _, _, err := g.object("quoted/q.txt"); err == nil {
		t.Fatal("DELE through -Q did not delete the object")
	}
	if _, _, err := g.object("quoted/"); err == nil {
		t.Fatal("RMD through -Q did not remove the directory marker")
	}
	out, err := tryClient(t, t.TempDir(), "curl", append(append([]string{}, curlArgs...), "-Q", "SITE BOGUS", g.ftpURL(userRW, "/"))...)
	if err == nil || !strings.Contains(out, "504") && !strings.Contains(out, "(21)") {
		t.Fatalf("curl accepted a refused quote command: %v\n%s", err, out)
	}
}

// TestCurlListOnlyAndHead checks NLST (--list-only) and curl -I, which asks
// MDTM and SIZE and prints them as headers.
func TestCurlListOnlyAndHead(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.putObject("b.txt", "bbbb")
	g.putObject("a file.txt", "0123456789")
	g.putObject("sub/inner.txt", "x")
	names := curl(t, "--list-only", g.ftpURL(userRW, "/"))
	got := strings.Fields(strings.ReplaceAll(names, "\r", ""))
	if strings.Join(got, "|") != "a|file.txt|b.txt|sub" {
		t.Fatalf("--list-only = %q", names)
	}
	head := curl(t, "-I", g.ftpURL(userRW, "/a file.txt"))
	if !strings.Contains(head, "Content-Length: 10") || !strings.Contains(head, "Last-Modified: ") {
		t.Fatalf("curl -I:\n%s", head)
	}
	out, err := tryClient(t, t.TempDir(), "curl", append(append([]string{}, curlArgs...), "-I", g.ftpURL(userRW, "/missing.txt"))...)
	if err == nil {
		t.Fatalf("curl -I of a missing file succeeded:\n%s", out)
	}
}

// TestCurlDownloadResume continues a partial download with -C - (REST + RETR).
func TestCurlDownloadResume(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	body := strings.Repeat("0123456789abcdef", 1<<16)
	g.putObject("big.txt", body)
	dst := filepath.Join(t.TempDir(), "big.txt")
	if err := os.WriteFile(dst, []byte(body[:300000]), 0o644); err != nil {
		t.Fatal(err)
	}
	curl(t, "-C", "-", "-o", dst, g.ftpURL(userRW, "/big.txt"))
	if got, _ := os.ReadFile(dst); string(got) != body {
		t.Fatalf("resumed download: %d bytes, want %d (content equal: %v)", len(got), len(body), string(got) == body)
	}
	if !g.usedCommand("REST 300000") {
		t.Fatal("curl did not send REST 300000")
	}
}

func sha256String(s string) string {
	sum, _ := sha256Of(strings.NewReader(s))
	return sum
}
