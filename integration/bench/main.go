// Command bench measures ftp2s3 against the storage behind it: each workload runs
// through the gateway with a real FTP client and directly against the same MinIO
// with aws-sdk-go-v2, in the same run, on loopback.
//
//	go run ./integration/bench                  # full run, writes bench/results/<date>-<cores>c.md
//	go run ./integration/bench -only W1,W2 -reps 5
//	go run ./integration/bench -smoke           # tiny sizes, one repetition
//
// Workloads: W1 upload of one 1 GiB file (W1a: the same in active mode, with
// curl); W2 download of it (W2a: active, curl); W3 8 sessions uploading 256 MiB
// each at once; W4 1,000 uploads of 4 KiB over one session; W5 LIST of a
// 10,000-key directory, cold (fresh gateway) then cached; W6 1,000 downloads of
// 4 KiB over one session; W7 and W8 the same uploads and downloads, 2,000 files
// over 16 sessions at once against 16 parallel direct streams. The small-file
// rows also give each file's latency, p50 and p99. The direct side uses the SDK's transfer manager with
// the gateway's default part size and concurrency. W1, W2, W4 and W6 also run
// against the peers of -peers (peers.go): rclone serve ftp and MinIO's FTP
// server on the same MinIO. It is not a test: nothing here asserts a speed.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"

	"github.com/ftp2s3/ftp2s3/gateway/auth"
	"github.com/ftp2s3/ftp2s3/integration/miniotest"
)

// The gateway runs with its defaults; the direct side uses the same figures.
const (
	partSize            = 16 << 20
	uploadConcurrency   = 4
	downloadChunk       = 16 << 20
	downloadConcurrency = 4
)

type options struct {
	reps       int
	size       float64
	files      int
	keys       int
	only       map[string]bool
	out        string
	smoke      bool
	cpuprofile string
	inproc     bool
	keep       bool
	bigKeys    int
	peers      []string
	peerLimit  time.Duration
}

func (o options) bigSize() int64 { return int64(o.size * (1 << 30)) }
func (o options) w3Size() int64  { return int64(o.size * (256 << 20)) }

func (o options) want(id string) bool { return len(o.only) == 0 || o.only[strings.ToUpper(id)] }

func main() {
	var o options
	var only, peers string
	flag.IntVar(&o.reps, "reps", 3, "repetitions of each workload")
	flag.Float64Var(&o.size, "size", 1, "scale of W1–W3 sizes (1: 1 GiB for W1/W2, 256 MiB per session for W3; 10: a 10 GiB W1)")
	flag.IntVar(&o.files, "files", 1000, "number of 4 KiB files of W4 and W6; W7 and W8 move twice as many, spread over 16 sessions")
	flag.IntVar(&o.keys, "keys", 10000, "number of keys in the W5 directory")
	flag.IntVar(&o.bigKeys, "bigkeys", 100000, "number of keys in the W5big directory (the large cold listing; 0: no W5big row)")
	flag.StringVar(&only, "only", "", "comma-separated workloads to run: W1,W1a,W2,W2a,W3,W4,W5,W5big,W6,W7,W8,W1s,W2s,W4s (default all; W1s/W2s/W4s are FTPS against plain FTP)")
	flag.StringVar(&o.out, "out", "", "results file (default bench/results/<date>-<cores>c.md; with -smoke, none)")
	flag.BoolVar(&o.smoke, "smoke", false, "tiny sizes and one repetition, to check that the harness works")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "run the gateway inside this process and write a CPU profile per workload into this folder (memory and CPU columns then count the whole process)")
	flag.BoolVar(&o.inproc, "inproc", false, "run the gateway inside this process (as -cpuprofile does, without profiles): the W4/W6 phase tables then time each of its S3 requests")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary folder (MinIO data, gateway log) for inspection")
	flag.StringVar(&peers, "peers", strings.Join(peerNames, ","), "comma-separated peer FTP servers run on W1, W2, W4 and W6 next to ftp2s3: rclone (serve ftp), minio (its --ftp server); empty: none")
	flag.DurationVar(&o.peerLimit, "peerlimit", 2*time.Minute, "longest a peer's W4 or W6 repetition runs: a slower peer moves fewer files and its rate is over those (the report says so)")
	flag.Parse()
	var err error
	if o.peers, err = parsePeers(peers); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if o.smoke {
		o.reps, o.size, o.files, o.keys, o.bigKeys = 1, 0.02, 20, 300, 2500
	}
	if only != "" {
		o.only = map[string]bool{}
		for _, id := range strings.Split(only, ",") {
			o.only[strings.ToUpper(strings.TrimSpace(id))] = true
		}
	}
	if o.out == "" && !o.smoke {
		o.out = filepath.Join(miniotest.RepoRoot(), "bench", "results",
			fmt.Sprintf("%s-%dc.md", time.Now().UTC().Format("2006-01-02"), runtime.NumCPU()))
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx := context.Background()
	started := time.Now().UTC()
	loadBefore := loadAvg()
	tmp, err := os.MkdirTemp("", "ftp2s3-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		defer logf("kept %s (gateway log: ftp2s3.log)", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	logf("building ftp2s3 and starting MinIO in %s", tmp)
	bin, err := buildGateway(tmp)
	if err != nil {
		return err
	}
	peers, err := preparePeers(o.peers, tmp)
	if err != nil {
		return err
	}
	m, err := miniotest.StartArgs(filepath.Join(tmp, "minio"), 0, peers.minioArgs())
	if err != nil {
		return err
	}
	defer m.Stop()
	const bucket = "bench"
	if err := m.CreateBucket(ctx, bucket); err != nil {
		return err
	}
	defer peers.stop()
	if err := peers.start(m, bucket); err != nil {
		return err
	}
	const user, password = "bench", "bench-pw"
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	port, err := miniotest.FreePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	passiveLo := 40000 + rand.IntN(100)*200
	mport, err := miniotest.FreePort()
	if err != nil {
		return err
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", mport)
	certPath, keyPath, pool, err := writeTestCert(tmp)
	if err != nil {
		return err
	}
	gw := &gatewayProc{bin: bin, addr: addr, logPath: filepath.Join(tmp, "ftp2s3.log"), inProc: o.cpuprofile != "" || o.inproc, timer: &s3Timer{},
		metricsAddr: metricsAddr,
		env: append(gatewayEnv(m, bucket, addr, passiveLo, user+":"+hash), "FTP2S3_METRICS_LISTEN="+metricsAddr,
			// explicit: plain FTP as before, FTPS when the client sends AUTH TLS (the FTPS rows)
			"FTP2S3_TLS=explicit", "FTP2S3_TLS_CERT="+certPath, "FTP2S3_TLS_KEY="+keyPath)}
	if err := gw.start(); err != nil {
		return err
	}
	defer gw.stop()
	if o.cpuprofile != "" {
		runtime.MemProfileRate = 16 << 10 // finer allocation profiles for the per-workload allocs files
		if err := os.MkdirAll(o.cpuprofile, 0o755); err != nil {
			return err
		}
	}

	directTimer := &s3Timer{}
	client := directTimer.instrument(m.Client())
	b := &bench{peers: peers, tlsStats: &tlsStats{}, directTimer: directTimer, ctx: ctx, s3: client, bucket: bucket, gw: gw, user: user, password: password, opts: o, minioPID: m.PID(),
		up: transfermanager.New(client, func(o *transfermanager.Options) {
			// Multipart above one part, as the gateway does.
			o.PartSizeBytes, o.MultipartUploadThreshold, o.Concurrency = partSize, partSize, uploadConcurrency
		}),
		down: transfermanager.New(client, func(o *transfermanager.Options) {
			o.GetObjectType = tmtypes.GetObjectRanges // ranged GETs, as the gateway does
			o.PartSizeBytes, o.Concurrency = downloadChunk, downloadConcurrency
		}),
	}
	if b.null, err = startNullFTP(smallSize); err != nil {
		return err
	}
	defer b.null.close()
	b.tlsConf = clientTLS(pool, b.tlsStats)
	rows := b.runAll()

	var sb strings.Builder
	fmt.Fprintf(&sb, "# ftp2s3 benchmark, %s\n\n", started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&sb, "- command: `go run ./integration/bench %s`\n", strings.Join(os.Args[1:], " "))
	fmt.Fprintf(&sb, "- machine: %d cores (%s/%s), %s; load average %s at start, %s at the end\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), loadBefore, loadAvg())
	fmt.Fprintf(&sb, "- gateway: subprocess built from ./cmd/ftp2s3 with default settings (FTP2S3_PART_SIZE 16MiB, UPLOAD_CONCURRENCY 4, DOWNLOAD_CHUNK 16MiB, DOWNLOAD_CONCURRENCY 4), passive mode unless noted; FTP client jlaffaye/ftp (active rows: curl)\n")
	if gw.inProc && o.cpuprofile == "" {
		sb.WriteString("- in-process run (-inproc): the gateway ran inside the benchmark process, so peak RSS and CPU count the clients too\n")
	} else if gw.inProc {
		sb.WriteString("- CPU profiling run: the gateway ran inside the benchmark process, so peak RSS and CPU count the clients too\n")
	}
	sb.WriteString("- CPU columns leave out the gateway CPU of the bench's logins (one bcrypt password check per session, measured around each login): they are per GiB or per file moved\n")
	sb.WriteString("- peak RSS: the gateway's VmHWM, reset at the start of each workload (so it includes what earlier workloads left in its buffer pools); W5 restarts the gateway before every cold listing\n")
	sb.WriteString(peers.describe(o.peerLimit))
	fmt.Fprintf(&sb, "- direct: aws-sdk-go-v2 transfer manager (feature/s3/transfermanager) with the same part size and concurrency; ranged parallel GETs for downloads\n")
	fmt.Fprintf(&sb, "- %d repetition(s); rates are medians with (min–max); MB = 10^6 bytes; W1/W2 move %s, W3 8 × %s\n\n",
		o.reps, mib(o.bigSize()), mib(o.w3Size()))
	writeTable(&sb, rows)
	writeFTPSTable(&sb, rows)
	writePeersTable(&sb, rows)
	writePhases(&sb, rows)
	sb.WriteString("\n")
	writeTargets(&sb, rows, partSize, uploadConcurrency)
	writePeerTargets(&sb, rows)
	fmt.Print("\n" + sb.String())
	if o.out != "" {
		if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(o.out, []byte(sb.String()), 0o644); err != nil {
			return err
		}
		logf("results written to %s", o.out)
	}
	var failed []string
	for _, r := range rows {
		if !r.complete() || (r.direct == nil && r.note != "no direct") {
			failed = append(failed, r.id)
		}
	}
	failed = append(failed, peerFailures(rows)...)
	if len(failed) > 0 {
		return fmt.Errorf("workloads without a figure: %s", strings.Join(failed, ", "))
	}
	return nil
}

type repFunc func(rep int) (time.Duration, error)

// measure runs gw and direct o.reps times each, interleaved so that load from
// other processes hits both sides alike, and records the gateway's peak RSS and
// CPU over its own repetitions.
func (b *bench) measure(r *row, gw, direct repFunc) {
	logf("%s %s", r.id, r.what)
	gw = b.attachPeers(r, gw)
	b.lat.mu.Lock()
	b.lat.row = r
	b.lat.mu.Unlock()
	if err := b.gw.resetPeak(); err != nil {
		r.err = fmt.Errorf("reset peak RSS: %w", err)
		return
	}
	cpu0, _ := b.gw.cpuSeconds()
	logins0 := b.loginsSoFar()
	req0, reqErr := b.gw.s3Requests()
	var s3Sum0, s3Count0, gc0 float64
	var s3Err, gcErr error
	if r.s3Op != "" {
		s3Sum0, s3Count0, s3Err = b.gw.s3Seconds(r.s3Op)
		gc0, gcErr = b.gw.gcCycles()
		b.directTimer.begin(r.s3Op)
		b.gw.timer.begin(r.s3Op)
	}
	one := func(fn repFunc, into *[]time.Duration, rep int) bool {
		before := b.allCPU()
		gwBefore, _ := b.gw.cpuSeconds()
		loginsBefore := b.loginsSoFar()
		d, err := fn(rep)
		logins := b.loginsSoFar() - loginsBefore
		if gwAfter, cerr := b.gw.cpuSeconds(); cerr == nil {
			if into == &r.gw {
				r.gwSideCPU += gwAfter - gwBefore - logins
			} else {
				r.refSideCPU += gwAfter - gwBefore - logins
			}
		}
		if err != nil {
			r.err = err
			return false
		}
		*into = append(*into, d)
		used := b.allCPU() - before - logins
		switch into {
		case &r.gw:
			r.gwAllCPU += used
		case &r.direct:
			r.directAllCPU += used
		}
		return true
	}
	if b.opts.cpuprofile != "" {
		f, err := os.Create(filepath.Join(b.opts.cpuprofile, r.id+".pprof"))
		if err != nil {
			r.err = err
			return
		}
		_ = pprof.StartCPUProfile(f)
		for rep := range b.opts.reps {
			if !one(gw, &r.gw, rep) {
				break
			}
		}
		pprof.StopCPUProfile()
		f.Close()
		if hf, err := os.Create(filepath.Join(b.opts.cpuprofile, r.id+".allocs.pprof")); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(hf, 0)
			hf.Close()
		}
		for rep := range b.opts.reps {
			if direct != nil && !one(direct, &r.direct, rep) {
				break
			}
			if r.ceiling != nil && !one(r.ceiling, &r.ceil, rep) {
				break
			}
			b.runPeers(r, rep)
		}
	} else {
		for rep := range b.opts.reps {
			if !one(gw, &r.gw, rep) {
				break
			}
			if direct != nil && !one(direct, &r.direct, rep) {
				break
			}
			if r.ceiling != nil && !one(r.ceiling, &r.ceil, rep) {
				break
			}
			b.runPeers(r, rep)
		}
	}
	cpu1, _ := b.gw.cpuSeconds()
	r.cpu = cpu1 - cpu0 - (b.loginsSoFar() - logins0)
	if req1, err := b.gw.s3Requests(); err == nil && reqErr == nil {
		r.s3Requests = req1 - req0
	}
	r.peak, _ = b.gw.peakRSS()
	if r.s3Op != "" {
		r.directS3Op, r.directS3HTTP = b.directTimer.end()
		r.gwS3Op, r.gwS3HTTP = b.gw.timer.end()
		if sum1, count1, err := b.gw.s3Seconds(r.s3Op); err == nil && s3Err == nil {
			r.gwS3Sum, r.gwS3Count = sum1-s3Sum0, count1-s3Count0
		}
		if gc1, err := b.gw.gcCycles(); err == nil && gcErr == nil {
			r.gcCycles = gc1 - gc0
		}
	}
	if r.err != nil {
		logf("  %s failed: %v", r.id, r.err)
	}
}

// allCPU is the CPU time used so far by every process of the benchmark: MinIO,
// the gateway and this program with its clients.
func (b *bench) allCPU() float64 {
	var total float64
	for _, dir := range []string{"/proc/self", fmt.Sprintf("/proc/%d", b.minioPID)} {
		v, _ := procCPU(dir)
		total += v
	}
	if !b.gw.inProc && b.gw.cmd != nil {
		v, _ := b.gw.cpuSeconds()
		total += v
	}
	return total
}

func (b *bench) runAll() []*row {
	o := b.opts
	big, files := float64(o.bigSize()), float64(o.files)
	var rows []*row
	add := func(r *row) *row { rows = append(rows, r); return r }
	prep := func(id string, fn func() error) bool {
		if err := fn(); err != nil {
			add(&row{id: id, what: "preparation", unit: "–", err: err})
			return false
		}
		return true
	}
	if (o.want("W1") || o.want("W1a") || o.want("W3") || o.want("W4")) && !prep("mkdir", func() error { return b.mkdirs("/w1", "/w3", "/w4") }) {
		return rows
	}
	if o.want("W1") {
		b.measure(add(&row{id: "W1", what: "upload 1 file", unit: "MB/s", amount: big}), b.w1Gateway, b.w1Direct)
	}
	if o.want("W1a") {
		b.measure(add(&row{id: "W1a", what: "upload 1 file, active mode (curl)", unit: "MB/s", amount: big}), b.w1Active, b.w1Direct)
	}
	if (o.want("W2") || o.want("W2a")) && prep("W2", b.w2Prepare) {
		if o.want("W2") {
			b.measure(add(&row{id: "W2", what: "download 1 file", unit: "MB/s", amount: big}), b.w2Gateway, b.w2Direct)
		}
		if o.want("W2a") {
			b.measure(add(&row{id: "W2a", what: "download 1 file, active mode (curl)", unit: "MB/s", amount: big}), b.w2Active, b.w2Direct)
		}
	}
	if o.want("W4") {
		b.measure(add(&row{id: "W4", what: "4 KiB uploads, one session", unit: "files/s", amount: files, phaseCmd: "STOR", s3Op: "PutObject", ceiling: b.w4Ceiling}), b.w4Gateway, b.w4Direct)
	}
	if o.want("W5") && prep("W5", func() error { return b.w5Prepare(w5Dir, o.keys) }) {
		b.runW5(add(&row{id: "W5cold", what: "LIST, cold cache", unit: "keys/s", amount: float64(o.keys)}),
			add(&row{id: "W5cached", what: "LIST, cached", unit: "keys/s", amount: float64(o.keys)}), w5Dir, o.keys)
	}
	if o.bigKeys > 0 && o.want("W5big") && prep("W5big", func() error { return b.w5Prepare(w5BigDir, o.bigKeys) }) {
		what := fmt.Sprintf("LIST of %d keys", o.bigKeys)
		b.runW5(add(&row{id: "W5bigcold", what: what + ", cold cache", unit: "keys/s", amount: float64(o.bigKeys)}),
			add(&row{id: "W5bigcached", what: what + ", second listing", unit: "keys/s", amount: float64(o.bigKeys)}), w5BigDir, o.bigKeys)
	}
	if o.want("W6") && prep("W6", b.w6Prepare) {
		b.measure(add(&row{id: "W6", what: "4 KiB downloads, one session", unit: "files/s", amount: files, phaseCmd: "RETR", s3Op: "GetObject", ceiling: b.w6Ceiling}), b.w6Gateway, b.w6Direct)
	}
	conc := float64(concSessions * o.perSession())
	if o.want("W7") {
		b.measure(add(&row{id: "W7", what: fmt.Sprintf("4 KiB uploads, %d sessions at once (aggregate)", concSessions), unit: "files/s", amount: conc}), b.w7Gateway, b.w7Direct)
	}
	if o.want("W8") && prep("W8", b.w6Prepare) {
		b.measure(add(&row{id: "W8", what: fmt.Sprintf("4 KiB downloads, %d sessions at once (aggregate)", concSessions), unit: "files/s", amount: conc}), b.w8Gateway, b.w8Direct)
	}
	b.runFTPS(add, prep)
	// W3 comes last: the 40 part buffers it leaves in the gateway's pools would
	// otherwise count in the peak RSS of the workloads after it.
	if o.want("W3") {
		b.measure(add(&row{id: "W3", what: "8 sessions upload at once (aggregate)", unit: "MB/s", amount: float64(w3Sessions * o.w3Size())}), b.w3Gateway, b.w3Direct)
	}
	return rows
}

// runW5 fills two rows from the same repetitions: each restarts the gateway, then
// lists cold and cached. Peak RSS is that of the last gateway process.
func (b *bench) runW5(cold, cached *row, dir string, keys int) {
	var pending []time.Duration
	b.measure(cold, func(int) (time.Duration, error) {
		c, h, err := b.w5Gateway(dir, keys)
		pending = append(pending, h)
		return c, err
	}, func(int) (time.Duration, error) { return b.w5Direct(dir, keys) })
	cached.gw, cached.direct, cached.peak, cached.err = pending, cold.direct, cold.peak, cold.err
	if cold.err == nil {
		cached.gw = pending
	}
	cold.cpu, cached.cpu = 0, 0
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
