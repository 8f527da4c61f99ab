package integration

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftp2s3/ftp2s3/gateway"
	"github.com/ftp2s3/ftp2s3/storage"
)

// PROT P transfers large enough to go through every part of the TLS data path
// (session/tlsbatch.go gathers a large Write's records into fewer socket
// writes): the first 16 MiB range streamed from S3 in io.Copy's pieces, the
// read-ahead chunks in 256 KiB pieces, and a partial last chunk. Each must
// arrive byte for byte, in TLS 1.3 and 1.2 alike.

const perfTLSSize = 40<<20 + 12345

// TestPerfTLSCurlLarge: curl (OpenSSL) uploads and downloads 40 MiB over
// explicit FTPS with PROT P, in TLS 1.3 with session reuse required and in TLS
// 1.2 (which curl cannot resume with Go's server, so reuse is only enabled),
// and resumes a download from an offset.
func TestPerfTLSCurlLarge(t *testing.T) {
	t.Parallel()
	src, want := patternFile(t, perfTLSSize, 24)
	for _, tc := range []struct {
		name   string
		mutate func(*gateway.Config)
		extra  []string
	}{
		{"tls13-reuse-required", reuseRequired, []string{"--tlsv1.3"}},
		{"tls12", func(*gateway.Config) {}, []string{"--tls-max", "1.2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := startFTPS(t, "explicit", tc.mutate)
			base := fmt.Sprintf("ftp://%s:%s@%s/", userRW, pctPassword, g.Addr)
			args := append([]string{"-sS", "--fail", "--max-time", "120", "--ssl-reqd", "--cacert", g.Cert.CertFile}, tc.extra...)
			if out, err := runTool(t, "curl", append(args, "-T", src, base+"big.bin")...); err != nil {
				t.Fatalf("curl upload: %v\n%s", err, out)
			}
			if sum, n, err := g.object("big.bin"); err != nil || sum != want {
				t.Fatalf("object: sha %s (%d bytes), err %v; want %s", sum, n, err, want)
			}
			dst := filepath.Join(t.TempDir(), "dst.bin")
			if out, err := runTool(t, "curl", append(args, "-o", dst, base+"big.bin")...); err != nil {
				t.Fatalf("curl download: %v\n%s", err, out)
			}
			if sum, n := fileSHA(t, dst); sum != want {
				t.Fatalf("downloaded sha %s (%d bytes), want %s", sum, n, want)
			}
			// REST: from an offset that is not on a record or chunk boundary.
			const off = 17<<20 + 3
			part := filepath.Join(t.TempDir(), "part.bin")
			if out, err := runTool(t, "curl", append(args, "-C", fmt.Sprint(off), "-o", part, base+"big.bin")...); err != nil {
				t.Fatalf("curl download from %d: %v\n%s", off, err, out)
			}
			sum, n := fileSHA(t, part)
			if wantSum := patternSHA(t, perfTLSSize, 24, off); n != perfTLSSize-off || sum != wantSum {
				t.Fatalf("download from %d: %d bytes, sha %s; want %d bytes, sha %s", off, n, sum, perfTLSSize-off, wantSum)
			}
			if strings.Contains(g.Logs.String(), "not resumed") {
				t.Fatal("a data connection was refused for not resuming")
			}
		})
	}
}

// patternSHA is the SHA-256 of newPattern(n, seed) from byte off.
func patternSHA(t *testing.T, n int64, seed uint64, off int64) string {
	t.Helper()
	r := newPattern(n, seed)
	if _, err := io.CopyN(io.Discard, r, off); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestPerfTLSGoLarge: jlaffaye/ftp with a TLS session cache stores and
// retrieves 40 MiB over PROT P with session reuse required; a client without a
// session cache is refused on its data connection there, and served where reuse
// is only enabled.
func TestPerfTLSGoLarge(t *testing.T) {
	t.Parallel()
	seedData := func(t *testing.T, g *ftpsGateway) {
		if _, err := g.Backend.Put(t.Context(), g.Bucket, "seed.bin", newPattern(perfTLSSize, 25), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	want := patternSHA(t, perfTLSSize, 25, 0)
	retrSHA := func(c *ftp.ServerConn, path string, off uint64) (string, int64, error) {
		r, err := c.RetrFrom(path, off)
		if err != nil {
			return "", 0, err
		}
		h := sha256.New()
		n, err := io.Copy(h, r)
		if cerr := r.Close(); err == nil {
			err = cerr
		}
		return hex.EncodeToString(h.Sum(nil)), n, err
	}
	dialTLS := func(t *testing.T, g *ftpsGateway, cache tls.ClientSessionCache) *ftp.ServerConn {
		conf := &tls.Config{RootCAs: g.Cert.Pool(), ServerName: "127.0.0.1", ClientSessionCache: cache}
		return g.dial(userRW, ftp.DialWithExplicitTLS(conf))
	}

	t.Run("reuse-required", func(t *testing.T) {
		t.Parallel()
		g := startFTPS(t, "explicit", reuseRequired)
		seedData(t, g)
		c := dialTLS(t, g, tls.NewLRUClientSessionCache(4))
		if sum, n, err := retrSHA(c, "/seed.bin", 0); err != nil || sum != want {
			t.Fatalf("RETR: %d bytes, sha %s, %v; want %s", n, sum, err, want)
		}
		if err := c.Stor("/up.bin", newPattern(perfTLSSize, 26)); err != nil {
			t.Fatalf("STOR: %v", err)
		}
		if sum, n, err := g.object("up.bin"); err != nil || sum != patternSHA(t, perfTLSSize, 26, 0) {
			t.Fatalf("stored object: %d bytes, sha %s, %v", n, sum, err)
		}
		const off = 16<<20 - 1 // the last byte of the first range, then the read-ahead chunks
		if sum, n, err := retrSHA(c, "/seed.bin", off); err != nil || sum != patternSHA(t, perfTLSSize, 25, off) {
			t.Fatalf("RETR from %d: %d bytes, sha %s, %v", off, n, sum, err)
		}
		st := g.GW.TLSStats
		if st.DataNotResumed.Load() != 0 || st.DataHandshakes.Load() != 3 {
			t.Fatalf("TLS stats: %d data handshakes, %d not resumed; want 3, 0", st.DataHandshakes.Load(), st.DataNotResumed.Load())
		}
		// Without a session cache the data connection cannot resume: refused.
		nc := dialTLS(t, g, nil)
		_, _, err := retrSHA(nc, "/seed.bin", 0)
		if code := ftpCode(err); code != 522 && code != 425 {
			t.Fatalf("RETR by a client that does not resume: %v, want 522", err)
		}
		if st.DataNotResumed.Load() != 1 {
			t.Fatalf("%d data connections refused for not resuming, want 1", st.DataNotResumed.Load())
		}
	})

	t.Run("reuse-enabled", func(t *testing.T) {
		t.Parallel()
		g := startFTPS(t, "explicit")
		seedData(t, g)
		c := dialTLS(t, g, nil) // never resumes: allowed here
		if sum, n, err := retrSHA(c, "/seed.bin", 0); err != nil || sum != want {
			t.Fatalf("RETR without resumption: %d bytes, sha %s, %v; want %s", n, sum, err, want)
		}
		if st := g.GW.TLSStats; st.DataHandshakes.Load() != 1 || st.DataNotResumed.Load() != 0 {
			t.Fatalf("TLS stats: %d data handshakes, %d refused; want 1, 0", st.DataHandshakes.Load(), st.DataNotResumed.Load())
		}
	})
}

// TestPerfTLSAbortDownload: ABOR in the middle of a PROT P download of a large
// object, while the gateway is writing gathered records: 426 for the transfer,
// 226 for the ABOR, the data connection closed, and the session goes on to
// download the object whole on a new data connection.
func TestPerfTLSAbortDownload(t *testing.T) {
	t.Parallel()
	g := startFTPS(t, "explicit", reuseRequired)
	if _, err := g.Backend.Put(t.Context(), g.Bucket, "big.bin", newPattern(perfTLSSize, 27), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	conf := &tls.Config{RootCAs: g.Cert.Pool(), ServerName: "127.0.0.1", ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	r := rawDial(t, g.Addr)
	r.expect(220)
	r.cmd(234, "AUTH TLS")
	r.startTLS(conf)
	r.login(userRW)
	r.cmd(200, "PBSZ 0")
	r.cmd(200, "PROT P")
	r.cmd(200, "TYPE I")

	openData := func() *tls.Conn {
		raw := r.data()
		r.cmd(150, "RETR big.bin")
		d := tls.Client(raw, conf)
		_ = d.SetDeadline(time.Now().Add(30 * time.Second))
		if err := d.Handshake(); err != nil {
			t.Fatalf("data connection handshake: %v", err)
		}
		if !d.ConnectionState().DidResume {
			t.Fatal("the data connection did not resume")
		}
		return d
	}

	d := openData()
	// Past the first range's start, into the gathered writes; the gateway
	// blocks on the full socket once the client stops reading.
	got := make([]byte, 1<<20)
	if _, err := io.ReadFull(d, got); err != nil {
		t.Fatal(err)
	}
	if want := make([]byte, len(got)); !fillPattern(t, want, 27) || !bytes.Equal(got, want) {
		t.Fatal("the first MiB before ABOR is not the object's")
	}
	if err := r.tp.PrintfLine("\xff\xf4\xff\xf2ABOR"); err != nil {
		t.Fatal(err)
	}
	r.expect(426)
	r.expect(226)
	// The gateway closed the data connection: the client reaches its end
	// (what was in flight, then EOF or a reset), well before the object's end.
	n, _ := io.Copy(io.Discard, d)
	if n >= perfTLSSize-int64(len(got)) {
		t.Fatalf("the whole object arrived after ABOR (%d more bytes)", n)
	}
	r.cmd(200, "NOOP")

	d = openData()
	h := sha256.New()
	n, err := io.Copy(h, d)
	if err != nil || n != perfTLSSize {
		t.Fatalf("RETR after ABOR: %d bytes, %v; want %d", n, err, perfTLSSize)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != patternSHA(t, perfTLSSize, 27, 0) {
		t.Fatal("RETR after ABOR: the bytes differ from the object's")
	}
	r.expect(226)
}

// fillPattern fills b with the first len(b) bytes of newPattern(seed).
func fillPattern(t *testing.T, b []byte, seed uint64) bool {
	t.Helper()
	_, err := io.ReadFull(newPattern(int64(len(b)), seed), b)
	return err == nil
}
