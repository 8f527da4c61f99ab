package integration

import (
	"io"
	"strings"
	"testing"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// withPathEncoding sets FTP2S3_PATH_ENCODING.
func withPathEncoding(t *testing.T, name string) func(*gateway.Config) {
	return func(c *gateway.Config) {
		if err := c.PathEncoding.UnmarshalText([]byte(name)); err != nil {
			t.Fatal(err)
		}
	}
}

// rawList runs a listing verb and returns what came over the data connection.
func rawList(r *ftpRaw, verb string) string {
	addr := r.epsvAddr()
	r.send("%s", verb)
	dc := dialData(r.t, addr)
	r.expect(150)
	b, _ := io.ReadAll(dc)
	_ = dc.Close()
	r.expect(226)
	return string(b)
}

// TestPathEncodingWindows1252: an old Windows client sends "café.txt" as the
// Windows-1252 bytes it has (é = 0xE9), without OPTS UTF8. The key in S3 is
// UTF-8, listings and replies go back in Windows-1252 until OPTS UTF8 ON, and
// the same raw name downloads the file.
func TestPathEncodingWindows1252(t *testing.T) {
	t.Parallel()
	g := startGateway(t, withPathEncoding(t, "windows-1252"))
	g.putObject("日本.txt", "x")
	r := rawLogin(t, g.Addr, userRW)
	r.cmd(200, "TYPE I")

	addr := r.epsvAddr()
	r.send("STOR caf\xe9.txt")
	dc := dialData(t, addr)
	r.expect(150)
	_, _ = io.WriteString(dc, "une tasse")
	_ = dc.Close()
	r.expect(226)
	if _, size, err := g.object("café.txt"); err != nil || size != 9 {
		t.Fatalf("UTF-8 key café.txt: size %d, err %v", size, err)
	}

	// A character Windows-1252 lacks goes out as the code page's substitute
	// byte (SUB, 0x1A) rather than as bytes the client would misread.
	if got := rawList(r, "NLST"); !strings.Contains(got, "caf\xe9.txt\r\n") || !strings.Contains(got, "\x1a\x1a.txt\r\n") {
		t.Fatalf("NLST in Windows-1252: %q", got)
	}
	if msg := r.cmd(257, "MKD r\xe9sum\xe9"); !strings.Contains(msg, "\"/r\xe9sum\xe9\"") {
		t.Fatalf("MKD reply not in Windows-1252: %q", msg)
	}
	if _, _, err := g.object("résumé/"); err != nil {
		t.Fatalf("directory marker résumé/: %v", err)
	}

	addr = r.epsvAddr()
	r.send("RETR caf\xe9.txt")
	dc = dialData(t, addr)
	r.expect(150)
	body, _ := io.ReadAll(dc)
	_ = dc.Close()
	r.expect(226)
	if string(body) != "une tasse" {
		t.Fatalf("RETR by the raw name: %q", body)
	}

	r.cmd(200, "OPTS UTF8 ON")
	if got := rawList(r, "NLST"); !strings.Contains(got, "café.txt\r\n") || !strings.Contains(got, "日本.txt") {
		t.Fatalf("NLST after OPTS UTF8 ON: %q", got)
	}
	r.cmd(213, "SIZE café.txt")
}

// TestPathEncodingShiftJIS: a Japanese client's Shift_JIS name (日本 is
// 0x93FA 0x967B) becomes a UTF-8 key.
func TestPathEncodingShiftJIS(t *testing.T) {
	t.Parallel()
	g := startGateway(t, withPathEncoding(t, "shift_jis"))
	r := rawLogin(t, g.Addr, userRW)
	addr := r.epsvAddr()
	r.send("STOR \x93\xfa\x96\x7b.txt")
	dc := dialData(t, addr)
	r.expect(150)
	_, _ = io.WriteString(dc, "nihon")
	_ = dc.Close()
	r.expect(226)
	if _, _, err := g.object("日本.txt"); err != nil {
		t.Fatalf("UTF-8 key 日本.txt: %v", err)
	}
	if got := rawList(r, "LIST"); !strings.Contains(got, "\x93\xfa\x96\x7b.txt") {
		t.Fatalf("LIST in Shift_JIS: %q", got)
	}
}

// TestPathEncodingOffRefuses: without a code page a name that is not UTF-8 is
// refused, and nothing is stored.
func TestPathEncodingOffRefuses(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := rawLogin(t, g.Addr, userRW)
	if code, msg := r.ask("MKD caf\xe9"); code < 500 {
		t.Fatalf("MKD with a Windows-1252 name and no FTP2S3_PATH_ENCODING: %d %s", code, msg)
	}
	if keys := g.keys(""); len(keys) != 0 {
		t.Fatalf("keys written: %v", keys)
	}
}
