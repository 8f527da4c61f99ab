package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/jlaffaye/ftp"
)

// FTPS rows (issue 24 §4): the same transfers over explicit FTPS (AUTH TLS,
// PBSZ 0, PROT P) and over plain FTP, both through the gateway and with the
// same client (jlaffaye/ftp), interleaved in the same run. The row's "direct"
// column holds plain FTP, so its ratio is FTPS / plain. The client keeps a TLS
// session cache, as FTPS clients do, so every data connection may resume the
// control connection's session; tlsStats counts how many did.

// tlsStats counts the client's TLS handshakes and those that resumed a session.
type tlsStats struct{ handshakes, resumed atomic.Int64 }

// writeTestCert writes a self-signed ECDSA P-256 certificate for 127.0.0.1 into
// dir and returns the files' paths and a pool that trusts it.
func writeTestCert(dir string) (certPath, keyPath string, pool *x509.CertPool, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ftp2s3 bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", nil, err
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", nil, err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return "", "", nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return "", "", nil, err
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool, nil
}

// clientTLS is the FTPS client's configuration: the bench's certificate
// trusted, and a session cache so that data connections resume.
func clientTLS(pool *x509.CertPool, st *tlsStats) *tls.Config {
	return &tls.Config{
		RootCAs: pool, ServerName: "127.0.0.1",
		ClientSessionCache: tls.NewLRUClientSessionCache(64),
		VerifyConnection: func(cs tls.ConnectionState) error {
			st.handshakes.Add(1)
			if cs.DidResume {
				st.resumed.Add(1)
			}
			return nil
		},
	}
}

func (b *bench) dialTLS() (*ftp.ServerConn, error) {
	if b.tlsConf == nil {
		return nil, errors.New("FTPS not configured")
	}
	c, err := ftp.Dial(b.gw.addr, ftp.DialWithTimeout(60*time.Second), ftp.DialWithExplicitTLS(b.tlsConf))
	if err != nil {
		return nil, fmt.Errorf("dial ftp2s3 (FTPS): %w", err)
	}
	if err := b.login(c); err != nil {
		_ = c.Quit()
		return nil, fmt.Errorf("login (FTPS): %w", err)
	}
	return c, nil
}

type dialFunc func() (*ftp.ServerConn, error)

// --- W1s: 1 GiB upload, FTPS against plain ---

func (b *bench) w1Over(dial dialFunc, tag string) repFunc {
	return func(rep int) (time.Duration, error) {
		size := b.opts.bigSize()
		c, err := dial()
		if err != nil {
			return 0, err
		}
		defer c.Quit()
		key := fmt.Sprintf("w1/%s-%d.bin", tag, rep)
		d, err := timed(func() error { return c.Stor("/"+key, newPayload(size, int64(rep))) })
		if err != nil {
			return 0, fmt.Errorf("STOR (%s): %w", tag, err)
		}
		return d, b.checkAndDelete(key, size)
	}
}

// --- W2s: 1 GiB download, FTPS against plain ---

func (b *bench) w2Over(dial dialFunc) repFunc {
	return func(int) (time.Duration, error) {
		size := b.opts.bigSize()
		c, err := dial()
		if err != nil {
			return 0, err
		}
		defer c.Quit()
		buf := make([]byte, 1<<20)
		var n int64
		d, err := timed(func() error {
			resp, err := c.Retr("/" + w2Key)
			if err != nil {
				return fmt.Errorf("RETR: %w", err)
			}
			n, err = io.CopyBuffer(plainDiscard{}, resp, buf)
			return errors.Join(err, resp.Close())
		})
		if err == nil && n != size {
			err = fmt.Errorf("RETR gave %d bytes, want %d", n, size)
		}
		return d, err
	}
}

// --- W4s: 4 KiB uploads over one session, FTPS against plain ---

func (b *bench) w4Over(dial dialFunc, tag string) repFunc {
	return func(rep int) (time.Duration, error) {
		c, err := dial()
		if err != nil {
			return 0, err
		}
		defer c.Quit()
		dir := fmt.Sprintf("w4/%s-%d/", tag, rep)
		if err := c.MakeDir("/" + dir); err != nil {
			return 0, fmt.Errorf("MKD %s: %w", dir, err)
		}
		d, err := timed(func() error {
			for i := range b.opts.files {
				if err := c.Stor(fmt.Sprintf("/%sf%05d", dir, i), bytes.NewReader(smallFile(smallSize, i))); err != nil {
					return fmt.Errorf("STOR file %d (%s): %w", i, tag, err)
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		if err := b.countKeys(dir, b.opts.files); err != nil {
			return 0, err
		}
		return d, b.deletePrefix(dir)
	}
}

// runFTPS adds the FTPS rows that -only asks for.
func (b *bench) runFTPS(add func(*row) *row, prep func(string, func() error) bool) {
	o := b.opts
	big, files := float64(o.bigSize()), float64(o.files)
	measure := func(r *row, tlsSide, plainSide repFunc) {
		r.vsPlain = true
		h0, r0 := b.tlsStats.handshakes.Load(), b.tlsStats.resumed.Load()
		b.measure(add(r), tlsSide, plainSide)
		r.note = fmt.Sprintf("%d TLS handshakes, %d resumed", b.tlsStats.handshakes.Load()-h0, b.tlsStats.resumed.Load()-r0)
	}
	if o.want("W1s") && prep("W1s", func() error { return b.mkdirs("/w1") }) {
		measure(&row{id: "W1s", what: "upload 1 file, FTPS (PROT P) vs plain FTP", unit: "MB/s", amount: big},
			b.w1Over(b.dialTLS, "ftps"), b.w1Over(b.dial, "plain"))
	}
	if o.want("W2s") && prep("W2s", b.w2Prepare) {
		measure(&row{id: "W2s", what: "download 1 file, FTPS (PROT P) vs plain FTP", unit: "MB/s", amount: big},
			b.w2Over(b.dialTLS), b.w2Over(b.dial))
	}
	if o.want("W4s") && prep("W4s", func() error { return b.mkdirs("/w4") }) {
		measure(&row{id: "W4s", what: "4 KiB uploads, one session, FTPS (PROT P) vs plain FTP", unit: "files/s", amount: files},
			b.w4Over(b.dialTLS, "ftps"), b.w4Over(b.dial, "plain"))
	}
}

// writeFTPSTable prints the FTPS rows: FTPS against plain FTP through the same
// gateway, with the gateway's CPU on each side.
func writeFTPSTable(w io.Writer, rows []*row) {
	var any bool
	for _, r := range rows {
		any = any || r.vsPlain
	}
	if !any {
		return
	}
	fmt.Fprintln(w, "\nFTPS (explicit, PROT P, TLS session cache in the client) against plain FTP, same gateway, same client (jlaffaye/ftp), interleaved:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| workload | unit | FTPS median (min–max) | plain FTP median (min–max) | FTPS/plain | gateway CPU, FTPS / plain | all processes CPU, FTPS / plain | TLS |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		if !r.vsPlain {
			continue
		}
		ratio, cpu, all := "–", "–", "–"
		if v, ok := r.ratio(); ok {
			ratio = fmt.Sprintf("%.2f", v)
		}
		per, unit := r.amount/(1<<30), "s/GiB"
		if r.unit != "MB/s" {
			per, unit = r.amount/1000, "ms/file"
		}
		if n, m := float64(len(r.gw)), float64(len(r.direct)); n > 0 && m > 0 {
			cpu = fmt.Sprintf("%.2f / %.2f %s", r.gwSideCPU/(per*n), r.refSideCPU/(per*m), unit)
			all = fmt.Sprintf("%.2f / %.2f %s", r.gwAllCPU/(per*n), r.directAllCPU/(per*m), unit)
		}
		gw := fmtStats(r, r.gw)
		if r.err != nil {
			gw = "ERROR: " + r.err.Error()
		}
		fmt.Fprintf(w, "| %s %s | %s | %s | %s | %s | %s | %s | %s |\n", r.id, r.what, r.unit, gw, fmtStats(r, r.direct), ratio, cpu, all, r.note)
	}
}
