package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/ftp2s3/ftp2s3/integration/miniotest"
)

// Peers (issue 24 §1: "≥ 1.2× the best peer"): other FTP-to-S3 servers on the
// same MinIO, driven by the same clients as ftp2s3 (jlaffaye/ftp for W1/W2,
// phaseConn for W4/W6) and interleaved with it repetition by repetition, as the
// direct side is (bench.measure). Each runs with its defaults; the bench sets
// only what loopback, the bucket and a login need.
//
//   - rclone: `rclone serve ftp :s3:<bucket>`, the pinned rclone built by
//     scripts/install-rclone.sh, its S3 remote given by RCLONE_S3_* variables and
//     no config file (--config "": rclone keeps its configuration in memory).
//   - minio: MinIO's own FTP server (--ftp=...), which runs inside the bench's
//     MinIO process and sends its S3 requests to that same process over
//     loopback; its FTP root lists the buckets, so paths start with /<bucket>.
//
// Both use goftp.io/server/v2, which listens for data connections on every
// interface (it has no setting for the passive listeners' address); the bench
// connects to them on 127.0.0.1 only.

// peerNames are the peers -peers knows, in the order they run.
var peerNames = []string{"rclone", "minio"}

// peer is one running peer server.
type peer struct {
	name  string // as in -peers
	label string // for the report
	addr  string
	user  string
	pass  string
	// root is the FTP path of the bucket's top: keys are root + "/" + key.
	root string
	// pid is the process whose CPU is the peer's own (for minio: MinIO's, which
	// also serves the S3 side); ownProcess tells whether that process is the
	// peer's alone.
	pid        int
	ownProcess bool
	args, env  []string // the command line and environment of its own process
	cmd        *exec.Cmd
	exited     chan struct{}
	logPath    string
}

// peerSet is the peers of a run, from -peers.
type peerSet struct {
	names []string
	tmp   string
	// MinIO's FTP server, started with MinIO (minioArgs)
	minioFTPAddr string
	minioPassive int
	rcloneBin    string
	rcloneVer    string
	peers        []*peer
}

// parsePeers checks -peers: a comma-separated subset of peerNames, or empty.
func parsePeers(s string) ([]string, error) {
	var names []string
	for _, n := range strings.Split(s, ",") {
		n = strings.ToLower(strings.TrimSpace(n))
		if n == "" {
			continue
		}
		if !slices.Contains(peerNames, n) {
			return nil, fmt.Errorf("-peers: unknown peer %q (known: %s)", n, strings.Join(peerNames, ", "))
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names, nil
}

// preparePeers builds what the peers need before MinIO starts (rclone's
// binary; MinIO's FTP port and passive range, which go on MinIO's command line).
func preparePeers(names []string, tmp string) (*peerSet, error) {
	ps := &peerSet{names: names, tmp: tmp}
	// Passive ranges below Linux's ephemeral ports (32768 and up), so that no
	// client connection of the run can hold a port a peer picks.
	lo := 20000 + rand.IntN(30)*400
	if slices.Contains(names, "minio") {
		port, err := miniotest.FreePort()
		if err != nil {
			return nil, err
		}
		ps.minioFTPAddr, ps.minioPassive = fmt.Sprintf("127.0.0.1:%d", port), lo
	}
	if slices.Contains(names, "rclone") {
		cmd := exec.Command("bash", filepath.Join(miniotest.RepoRoot(), "scripts", "install-rclone.sh"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("peer rclone: scripts/install-rclone.sh: %w (run -peers minio or -peers '' to leave it out)", err)
		}
		ps.rcloneBin = strings.TrimSpace(string(out))
		ver, err := exec.Command(ps.rcloneBin, "version").Output()
		if err != nil {
			return nil, fmt.Errorf("peer rclone: %s version: %w", ps.rcloneBin, err)
		}
		ps.rcloneVer, _, _ = strings.Cut(strings.TrimSpace(string(ver)), "\n")
	}
	return ps, nil
}

// minioArgs are the arguments that turn on MinIO's FTP server, if it is a peer.
func (ps *peerSet) minioArgs() []string {
	if ps.minioFTPAddr == "" {
		return nil
	}
	return []string{"--ftp=address=" + ps.minioFTPAddr,
		fmt.Sprintf("--ftp=passive-port-range=%d-%d", ps.minioPassive, ps.minioPassive+199)}
}

// start starts rclone and waits until every peer greets and logs in.
func (ps *peerSet) start(m *miniotest.Server, bucket string) error {
	for _, name := range ps.names {
		var p *peer
		var err error
		switch name {
		case "minio":
			p = &peer{name: name, label: "MinIO FTP (--ftp, in MinIO's process)", addr: ps.minioFTPAddr,
				user: miniotest.AccessKey, pass: miniotest.SecretKey, root: "/" + bucket, pid: m.PID(),
				logPath: filepath.Join(ps.tmp, "minio.log")}
		case "rclone":
			p, err = ps.startRclone(m, bucket)
		}
		if err != nil {
			return err
		}
		ps.peers = append(ps.peers, p)
		if err := p.waitReady(); err != nil {
			return err
		}
	}
	return nil
}

func (ps *peerSet) startRclone(m *miniotest.Server, bucket string) (*peer, error) {
	port, err := miniotest.FreePort()
	if err != nil {
		return nil, err
	}
	lo := ps.minioPassive + 200
	if ps.minioPassive == 0 {
		lo = 20000 + rand.IntN(30)*400
	}
	p := &peer{name: "rclone", label: "rclone serve ftp (" + ps.rcloneVer + ")", addr: fmt.Sprintf("127.0.0.1:%d", port),
		user: "bench", pass: "bench-pw", ownProcess: true, logPath: filepath.Join(ps.tmp, "rclone.log")}
	p.args = []string{ps.rcloneBin, "serve", "ftp", ":s3:" + bucket,
		"--addr", p.addr, "--passive-port", fmt.Sprintf("%d-%d", lo, lo+199),
		"--user", p.user, "--pass", p.pass, "--config", ""}
	for _, kv := range minimalEnv() {
		if !strings.HasPrefix(kv, "RCLONE_") {
			p.env = append(p.env, kv)
		}
	}
	p.env = append(p.env,
		"RCLONE_S3_PROVIDER=Minio", "RCLONE_S3_ENDPOINT="+m.Endpoint,
		"RCLONE_S3_ACCESS_KEY_ID="+miniotest.AccessKey, "RCLONE_S3_SECRET_ACCESS_KEY="+miniotest.SecretKey,
		// its own folder for anything it caches, not the user's ~/.cache/rclone
		"RCLONE_CACHE_DIR="+filepath.Join(ps.tmp, "rclone-cache"))
	return p, p.launch()
}

// launch starts a peer that has a process of its own (rclone).
func (p *peer) launch() error {
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("peer %s: start %s: %w", p.name, p.args[0], err)
	}
	p.cmd, p.exited, p.pid = cmd, make(chan struct{}), cmd.Process.Pid
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return nil
}

// stop ends the peer's own process by its PID: SIGTERM, then SIGKILL after
// ten seconds.
func (p *peer) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

// restart gives a peer with a process of its own a fresh one, with empty
// caches. rclone keeps a directory listing for 5 minutes (its --dir-cache-time)
// and S3 tells it of no change, so the objects W2 and W6 read, which the bench
// stores directly, are invisible to an rclone that listed their directory
// before; a fresh rclone lists them on its first RETR, as it would once its
// cache expired.
func (p *peer) restart() error {
	if p.cmd == nil {
		return nil
	}
	p.stop()
	if err := p.launch(); err != nil {
		return err
	}
	return p.waitReady()
}

// waitReady waits until the peer answers 220 and accepts its login.
func (p *peer) waitReady() error {
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if p.exited != nil {
			select {
			case <-p.exited:
				return fmt.Errorf("peer %s exited during start-up; see %s", p.name, p.logPath)
			default:
			}
		}
		c, err := dialPhaseConn(p.addr, p.user, p.pass)
		if err == nil {
			c.quit()
			return nil
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("peer %s not ready on %s after 30s: %v; see %s", p.name, p.addr, last, p.logPath)
}

// stop ends the peers this run started, by their PIDs (MinIO's FTP server ends
// with MinIO).
func (ps *peerSet) stop() {
	for _, p := range ps.peers {
		p.stop()
	}
}

// describe is the report's header line for the peers.
func (ps *peerSet) describe(limit time.Duration) string {
	if len(ps.names) == 0 {
		return "- peers: none (-peers '')\n"
	}
	var parts []string
	for _, p := range ps.peers {
		switch p.name {
		case "rclone":
			parts = append(parts, fmt.Sprintf("`rclone serve ftp :s3:bench` (%s, built by scripts/install-rclone.sh) with its defaults (--vfs-cache-mode off, S3 chunk size 5 MiB, upload concurrency 4, dir cache 5 min), S3 remote from RCLONE_S3_* variables, no config file", p.label[len("rclone serve ftp ("):len(p.label)-1]))
		case "minio":
			parts = append(parts, "MinIO's FTP server (--ftp address and passive-port-range only; the pinned MinIO, the same process as the S3 API, which it calls over loopback)")
		}
	}
	return "- peers: " + strings.Join(parts, "; ") + fmt.Sprintf("; passive mode on loopback, same clients as ftp2s3, interleaved with it; a peer's W4/W6 repetition stops after -peerlimit %s\n", limit)
}

// peerSide is one peer's share of a row.
type peerSide struct {
	peer *peer
	run  repFunc
	ds   []time.Duration
	lat  []time.Duration // per file, W4/W6
	// CPU seconds over the peer's repetitions: its own process (when it has
	// one), and its process with MinIO's (once when they are the same).
	ownCPU, serverCPU float64
	err               error
	// W4/W6: files moved in the last repetition, when the peer was stopped at
	// -peerlimit before the row's count (its rate is over those files)
	partial int
}

// attachPeers gives the rows that have a peer counterpart (W1, W2, W4, W6)
// one side per peer, and wraps the gateway's repetitions so that they count
// the gateway's and MinIO's CPU as the peers' are counted.
func (b *bench) attachPeers(r *row, gw repFunc) repFunc {
	if b.peers == nil || len(b.peers.peers) == 0 {
		return gw
	}
	for _, p := range b.peers.peers {
		s := &peerSide{peer: p}
		switch r.id {
		case "W1":
			s.run = b.w1Peer(p)
		case "W2":
			s.run = b.w2Peer(p)
			s.err = p.restart()
		case "W4":
			s.run = b.w4Peer(s)
		case "W6":
			s.run = b.w6Peer(s)
			s.err = p.restart()
		default:
			return gw
		}
		r.peers = append(r.peers, s)
	}
	return func(rep int) (time.Duration, error) {
		before := b.serverCPU(nil)
		d, err := gw(rep)
		r.gwServerCPU += b.serverCPU(nil) - before
		return d, err
	}
}

// serverCPU is MinIO's CPU so far plus that of the FTP front end: p's own
// process, or the gateway when p is nil.
func (b *bench) serverCPU(p *peer) float64 {
	v, _ := procCPU(fmt.Sprintf("/proc/%d", b.minioPID))
	switch {
	case p == nil:
		g, _ := b.gw.cpuSeconds()
		v += g
	case p.ownProcess:
		o, _ := procCPU(fmt.Sprintf("/proc/%d", p.pid))
		v += o
	}
	return v
}

// runPeers runs one repetition of each of r's peers; a peer that failed once
// is not run again.
func (b *bench) runPeers(r *row, rep int) {
	for _, s := range r.peers {
		if s.err != nil {
			continue
		}
		own0, _ := procCPU(fmt.Sprintf("/proc/%d", s.peer.pid))
		srv0 := b.serverCPU(s.peer)
		b.lat.mu.Lock()
		b.lat.peer = s
		b.lat.mu.Unlock()
		d, err := s.run(rep)
		b.lat.mu.Lock()
		b.lat.peer = nil
		b.lat.mu.Unlock()
		if err != nil {
			s.err = err
			logf("  %s against %s failed: %v", r.id, s.peer.name, err)
			continue
		}
		own1, _ := procCPU(fmt.Sprintf("/proc/%d", s.peer.pid))
		s.ownCPU += own1 - own0
		s.serverCPU += b.serverCPU(s.peer) - srv0
		s.ds = append(s.ds, d)
	}
}

// addPeer records one file's latency against the peer being measured.
func (l *latencies) addPeer(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.peer != nil {
		l.peer.lat = append(l.peer.lat, d)
	}
}

func (b *bench) dialPeer(p *peer) (*ftp.ServerConn, error) {
	c, err := ftp.Dial(p.addr, ftp.DialWithTimeout(60*time.Second))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", p.name, err)
	}
	if err := c.Login(p.user, p.pass); err != nil {
		_ = c.Quit()
		return nil, fmt.Errorf("login to %s: %w", p.name, err)
	}
	return c, nil
}

// --- W1 and W2 against a peer: w1Over and w2Over with the peer's paths ---

func (b *bench) w1Peer(p *peer) repFunc {
	return func(rep int) (time.Duration, error) {
		size := b.opts.bigSize()
		c, err := b.dialPeer(p)
		if err != nil {
			return 0, err
		}
		defer c.Quit()
		key := fmt.Sprintf("w1/%s-%d.bin", p.name, rep)
		d, err := timed(func() error { return c.Stor(p.root+"/"+key, newPayload(size, int64(rep))) })
		if err != nil {
			return 0, fmt.Errorf("STOR (%s): %w", p.name, err)
		}
		return d, b.checkAndDelete(key, size)
	}
}

func (b *bench) w2Peer(p *peer) repFunc {
	return func(int) (time.Duration, error) {
		size := b.opts.bigSize()
		c, err := b.dialPeer(p)
		if err != nil {
			return 0, err
		}
		defer c.Quit()
		buf := make([]byte, 1<<20)
		var n int64
		d, err := timed(func() error {
			resp, err := c.Retr(p.root + "/" + w2Key)
			if err != nil {
				return fmt.Errorf("RETR (%s): %w", p.name, err)
			}
			n, err = io.CopyBuffer(plainDiscard{}, resp, buf)
			return errors.Join(err, resp.Close())
		})
		if err == nil && n != size {
			err = fmt.Errorf("RETR (%s) gave %d bytes, want %d", p.name, n, size)
		}
		return d, err
	}
}

// --- W4 and W6 against a peer: the loops of w4Gateway and w6Gateway ---

// filesWithin runs one(i) for the row's files, or for as many as fit in
// -peerlimit (at least one): a peer can be slow enough per file (MinIO's FTP
// server: ~1 s for a 4 KiB STOR) that the full count would take most of an
// hour. It returns the time scaled to the full count, so that the row's rate is
// the rate over the files moved, and records how many those were in s.partial.
func (b *bench) filesWithin(s *peerSide, one func(i int) error) (time.Duration, int, error) {
	t0 := time.Now()
	s.partial = 0
	for i := range b.opts.files {
		if err := one(i); err != nil {
			return 0, i, err
		}
		if d := time.Since(t0); d > b.opts.peerLimit && i+1 < b.opts.files {
			s.partial = i + 1
			return d * time.Duration(b.opts.files) / time.Duration(i+1), i + 1, nil
		}
	}
	return time.Since(t0), b.opts.files, nil
}

func (b *bench) w4Peer(s *peerSide) repFunc {
	p := s.peer
	return func(rep int) (time.Duration, error) {
		c, err := dialPhaseConn(p.addr, p.user, p.pass)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", p.name, err)
		}
		defer c.quit()
		dir := fmt.Sprintf("w4/%s-%d/", p.name, rep)
		if _, err := c.expect("MKD "+p.root+"/"+dir, 257); err != nil {
			return 0, fmt.Errorf("%s: %w", p.name, err)
		}
		d, moved, err := b.filesWithin(s, func(i int) error {
			t0 := time.Now()
			if _, err := c.stor(fmt.Sprintf("%s/%sf%05d", p.root, dir, i), smallFile(smallSize, i)); err != nil {
				return fmt.Errorf("%s: STOR file %d: %w", p.name, i, err)
			}
			b.lat.addPeer(time.Since(t0))
			return nil
		})
		if err != nil {
			return 0, err
		}
		if err := b.countKeys(dir, moved); err != nil {
			return 0, fmt.Errorf("%s: %w", p.name, err)
		}
		return d, b.deletePrefix(dir)
	}
}

func (b *bench) w6Peer(s *peerSide) repFunc {
	p := s.peer
	return func(int) (time.Duration, error) {
		c, err := dialPhaseConn(p.addr, p.user, p.pass)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", p.name, err)
		}
		defer c.quit()
		buf := make([]byte, smallSize)
		d, _, err := b.filesWithin(s, func(i int) error {
			t0 := time.Now()
			n, _, err := c.retr(fmt.Sprintf("%s/%s%05d", p.root, w6Dir, i), buf)
			if err == nil && n != smallSize {
				err = fmt.Errorf("gave %d bytes", n)
			}
			if err != nil {
				return fmt.Errorf("%s: RETR file %d: %w", p.name, i, err)
			}
			b.lat.addPeer(time.Since(t0))
			return nil
		})
		return d, err
	}
}

// --- report ---

// peerFailures names the peer sides that produced no figure.
func peerFailures(rows []*row) []string {
	var failed []string
	for _, r := range rows {
		for _, s := range r.peers {
			if s.err != nil || len(s.ds) == 0 {
				failed = append(failed, r.id+"/"+s.peer.name)
			}
		}
	}
	return failed
}

// writePeersTable prints the rows that have peers: ftp2s3 and each peer, with
// ftp2s3/peer, per-file latencies and CPU (per GiB for MB/s rows, per file for
// the small-file rows).
func writePeersTable(w io.Writer, rows []*row) {
	var with []*row
	for _, r := range rows {
		if len(r.peers) > 0 {
			with = append(with, r)
		}
	}
	if len(with) == 0 {
		return
	}
	fmt.Fprintln(w, "\nPeers: the same clients and workloads against other FTP-to-S3 servers on the same MinIO, interleaved with ftp2s3 repetition by repetition (front end: the FTP server's own process; + MinIO: with the MinIO process it sends to, MinIO's FTP counted once):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| workload | server | median (min–max) | ftp2s3/server | per file p50 / p99 ms | front end CPU | front end + MinIO CPU |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range with {
		perUnit, unit, scale := r.amount/(1<<30), "s/GiB", 1.0
		if r.unit != "MB/s" {
			perUnit, unit, scale = r.amount, "ms/file", 1000
		}
		cpu := func(secs float64, reps int) string {
			if reps == 0 || secs <= 0 {
				return "–"
			}
			return fmt.Sprintf("%.3g %s", secs/(perUnit*float64(reps))*scale, unit)
		}
		lat := func(ds []time.Duration) string {
			if len(ds) == 0 {
				return "–"
			}
			return ms(percentile(ds, 0.5)) + " / " + ms(percentile(ds, 0.99))
		}
		gw := fmtStats(r, r.gw)
		if r.err != nil {
			gw = "ERROR (see above)"
		}
		fmt.Fprintf(w, "| %s %s | ftp2s3 | %s %s | – | %s | %s | %s |\n", r.id, r.what, gw, r.unit, lat(r.gwLat),
			cpu(r.gwSideCPU, len(r.gw)), cpu(r.gwServerCPU, len(r.gw)))
		g, _, _, gok := r.stats(r.gw)
		for _, s := range r.peers {
			rate, ratio := fmtStats(r, s.ds)+" "+r.unit, "–"
			if s.partial > 0 {
				rate += fmt.Sprintf(" (stopped at -peerlimit: %d of %d files in the last repetition)", s.partial, int(r.amount))
			}
			if s.err != nil {
				rate = "ERROR: " + strings.NewReplacer("|", "/", "\n", "; ").Replace(s.err.Error())
			}
			if pm, _, _, ok := r.stats(s.ds); ok && gok && pm > 0 {
				ratio = fmt.Sprintf("%.2f", g/pm)
			}
			own := "in MinIO"
			if s.peer.ownProcess {
				own = cpu(s.ownCPU, len(s.ds))
			}
			fmt.Fprintf(w, "| %s %s | %s | %s | %s | %s | %s | %s |\n", r.id, r.what, s.peer.label, rate, ratio, lat(s.lat), own, cpu(s.serverCPU, len(s.ds)))
		}
	}
}

// writePeerTargets prints issue 24's "one session ≥ 1.2× the best peer" for
// W4 (the target) and the same ratio for W6 (no target of its own).
func writePeerTargets(w io.Writer, rows []*row) {
	for _, r := range rows {
		if r.id != "W4" && r.id != "W6" || !r.complete() {
			continue
		}
		var best *peerSide
		var bestRate float64
		for _, s := range r.peers {
			if v, _, _, ok := r.stats(s.ds); ok && s.err == nil && v > bestRate {
				best, bestRate = s, v
			}
		}
		if best == nil {
			if r.id == "W4" {
				fmt.Fprintln(w, "- W4 ftp2s3 ≥ 1.2× the best peer (issue 24 §1): not measured (no peer ran; see -peers)")
			}
			continue
		}
		g, _, _, _ := r.stats(r.gw)
		if r.id == "W4" {
			verdict := "MISSED"
			if g >= 1.2*bestRate {
				verdict = "met"
			}
			fmt.Fprintf(w, "- W4 ftp2s3 ≥ 1.2× the best peer (issue 24 §1): %s; ftp2s3 %s files/s, best peer %s %s files/s, ftp2s3/peer = %.2f\n",
				verdict, fmtRate(g), best.peer.name, fmtRate(bestRate), g/bestRate)
		} else {
			fmt.Fprintf(w, "- W6 ftp2s3/best peer = %.2f (no target; best peer %s %s files/s, ftp2s3 %s)\n", g/bestRate, best.peer.name, fmtRate(bestRate), fmtRate(g))
		}
	}
}
