package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// row is one line of the results table.
type row struct {
	id, what string
	unit     string  // "MB/s", "files/s" or "keys/s"
	amount   float64 // per repetition: bytes for MB/s, else a count
	gw       []time.Duration
	direct   []time.Duration
	peak     int64   // gateway VmHWM during the row, bytes (0: not measured)
	cpu      float64 // gateway CPU seconds over the gateway repetitions
	// CPU seconds of all processes (MinIO, gateway, clients) over the gateway's
	// and over the direct repetitions.
	gwAllCPU, directAllCPU float64
	note                   string
	err                    error
	// per-file latencies of the small-file rows, over every repetition
	gwLat, directLat []time.Duration
	// S3 requests the gateway sent during the row (its metrics)
	s3Requests float64
	// Phase breakdown (W4, W6): phaseCmd is STOR or RETR, s3Op the one S3
	// operation per file; phases per file through the gateway; the gateway's
	// time in s3Op from its metrics (sum and count, always) and, with the gateway
	// in-process, per request (SDK call and HTTP round trip); the same two for the
	// direct side's requests.
	phaseCmd, s3Op           string
	phases                   []phaseTimes
	noops                    []time.Duration // NOOP→200 round trips of the same sessions
	gcCycles                 float64         // garbage collections of the gateway during the row
	gwS3Sum, gwS3Count       float64
	gwS3Op, gwS3HTTP         []time.Duration
	directS3Op, directS3HTTP []time.Duration
	// vsPlain: an FTPS row whose "direct" side is plain FTP through the
	// gateway (ftps.go); gwSideCPU and refSideCPU are the gateway's CPU
	// seconds over each side's repetitions.
	vsPlain               bool
	gwSideCPU, refSideCPU float64
	// The protocol ceiling (W4, W6; nullftp.go): ceiling runs the row's client
	// against the null FTP endpoint, interleaved with the other two sides; its
	// durations, per-file latencies and phases.
	ceiling    repFunc
	ceil       []time.Duration
	ceilLat    []time.Duration
	ceilPhases []phaseTimes
	// Peers (W1, W2, W4, W6; peers.go): one side per peer server, and the
	// gateway's and MinIO's CPU seconds over the gateway's repetitions.
	peers       []*peerSide
	gwServerCPU float64
}

// ratioTo is the median rate of the gateway (or of direct S3) over the
// ceiling's.
func (r *row) ratioTo(side []time.Duration) (float64, bool) {
	g, _, _, ok1 := r.stats(side)
	c, _, _, ok2 := r.stats(r.ceil)
	if !ok1 || !ok2 || c == 0 {
		return 0, false
	}
	return g / c, true
}

func (r *row) rate(d time.Duration) float64 {
	if d <= 0 {
		return math.NaN()
	}
	v := r.amount / d.Seconds()
	if r.unit == "MB/s" {
		v /= 1e6
	}
	return v
}

// stats gives the median and the spread of the rates of ds.
func (r *row) stats(ds []time.Duration) (med, lo, hi float64, ok bool) {
	if len(ds) == 0 {
		return 0, 0, 0, false
	}
	rates := make([]float64, len(ds))
	for i, d := range ds {
		rates[i] = r.rate(d)
	}
	slices.Sort(rates)
	n := len(rates)
	med = rates[n/2]
	if n%2 == 0 {
		med = (rates[n/2-1] + rates[n/2]) / 2
	}
	return med, rates[0], rates[n-1], true
}

func (r *row) ratio() (float64, bool) {
	g, _, _, ok1 := r.stats(r.gw)
	d, _, _, ok2 := r.stats(r.direct)
	if !ok1 || !ok2 || d == 0 {
		return 0, false
	}
	return g / d, true
}

// cpuPerGiB is the gateway's CPU seconds per GiB moved, for byte workloads.
func (r *row) cpuPerGiB() (float64, bool) {
	if r.unit != "MB/s" || len(r.gw) == 0 || r.cpu <= 0 {
		return 0, false
	}
	return r.cpu / (r.amount * float64(len(r.gw)) / (1 << 30)), true
}

// allCPUPerGiB is the CPU seconds per GiB of every process on each path.
func (r *row) allCPUPerGiB() (gw, direct float64, ok bool) {
	if r.unit != "MB/s" || len(r.gw) == 0 || len(r.direct) == 0 || r.gwAllCPU <= 0 || r.directAllCPU <= 0 {
		return 0, 0, false
	}
	per := r.amount / (1 << 30)
	return r.gwAllCPU / (per * float64(len(r.gw))), r.directAllCPU / (per * float64(len(r.direct))), true
}

// complete reports whether the row produced every number it should.
func (r *row) complete() bool {
	if r.err != nil || len(r.gw) == 0 {
		return false
	}
	g, _, _, _ := r.stats(r.gw)
	return g > 0 && !math.IsNaN(g) && !math.IsInf(g, 0)
}

func fmtRate(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func fmtStats(r *row, ds []time.Duration) string {
	med, lo, hi, ok := r.stats(ds)
	if !ok {
		return "–"
	}
	if len(ds) == 1 {
		return fmtRate(med)
	}
	return fmt.Sprintf("%s (%s–%s)", fmtRate(med), fmtRate(lo), fmtRate(hi))
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

// writeTable prints rows as a markdown table.
func writeTable(w io.Writer, rows []*row) {
	fmt.Fprintln(w, "| workload | unit | ftp2s3 median (min–max) | direct median (min–max) | ftp2s3/direct | per file p50 / p99 ms, ftp2s3 ; direct | gateway peak RSS | gateway CPU s/GiB | all processes CPU s/GiB, ftp2s3 / direct |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		if r.vsPlain {
			continue // writeFTPSTable
		}
		ratio, cpu, peak, all := "–", "–", "–", "–"
		if g, d, ok := r.allCPUPerGiB(); ok {
			all = fmt.Sprintf("%.2f / %.2f", g, d)
		}
		if v, ok := r.ratio(); ok {
			ratio = fmt.Sprintf("%.2f", v)
		}
		if v, ok := r.cpuPerGiB(); ok {
			cpu = fmt.Sprintf("%.2f", v)
		}
		if r.peak > 0 {
			peak = mib(r.peak)
		}
		gw := fmtStats(r, r.gw)
		if r.err != nil {
			gw = "ERROR: " + strings.NewReplacer("|", "/", "\n", "; ").Replace(r.err.Error())
		}
		fmt.Fprintf(w, "| %s %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.id, r.what, r.unit, gw, fmtStats(r, r.direct), ratio, fmtLatency(r), peak, cpu, all)
	}
}

// writeTargets compares the figures with the targets of issue 8.
func writeTargets(w io.Writer, rows []*row, partSize int64, uploadConcurrency int) {
	byID := map[string]*row{}
	for _, r := range rows {
		byID[r.id] = r
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	for _, id := range []string{"W1", "W1a", "W2", "W2a", "W3"} {
		if r := byID[id]; r != nil {
			if v, ok := r.ratio(); ok {
				fmt.Fprintf(w, "- %s ftp2s3/direct = %.2f (target ≥ 0.95): %s\n", id, v, verdict(v >= 0.95))
			}
		}
	}
	// Issue 24 §1: one session ≥ 0.60 of direct (and ≥ 1.2× the best peer:
	// writePeerTargets), 16 sessions ≥ 0.80.
	smallTarget := map[string]float64{"W4": 0.6, "W6": 0.6, "W7": 0.8, "W8": 0.8}
	for _, id := range []string{"W4", "W6", "W7", "W8"} {
		if r := byID[id]; r != nil && r.complete() {
			if v, ok := r.ratio(); ok {
				fmt.Fprintf(w, "- %s ftp2s3/direct = %.2f (target ≥ %.2f, issue 24): %s; per file p50 %s ms through ftp2s3, %s ms direct; %.2f S3 requests per file through ftp2s3\n",
					id, v, smallTarget[id], verdict(v >= smallTarget[id]), ms(percentile(r.gwLat, 0.5)), ms(percentile(r.directLat, 0.5)), r.s3Requests/(r.amount*float64(len(r.gw))))
			}
		}
	}
	for _, id := range []string{"W4", "W6"} {
		r := byID[id]
		if r == nil || !r.complete() {
			continue
		}
		g, ok1 := r.ratioTo(r.gw)
		d, ok2 := r.ratioTo(r.direct)
		if ok1 && ok2 {
			c, _, _, _ := r.stats(r.ceil)
			fmt.Fprintf(w, "- %s protocol ceiling (the same client against a null FTP endpoint): %s files/s, per file p50 %s / p99 %s ms; ftp2s3/ceiling = %.2f, direct/ceiling = %.2f\n",
				id, fmtRate(c), ms(percentile(r.ceilLat, 0.5)), ms(percentile(r.ceilLat, 0.99)), g, d)
			// A gateway that cost nothing would still pay S3's request and the
			// exchange one after the other: the best ftp2s3/direct any FTP
			// front end reaches here. The rest is the gateway's own time.
			fmt.Fprintf(w, "- %s best ftp2s3/direct an FTP front end could reach in this run (direct and ceiling in series, 1/(1 + direct/ceiling)): %.2f; the gateway's own time per file (means: ftp2s3 − direct − ceiling): %s ms\n",
				id, 1/(1+d), ms(mean(r.gwLat)-mean(r.directLat)-mean(r.ceilLat)))
		}
		if files := r.amount * float64(len(r.gw)); files > 0 && r.cpu > 0 {
			fmt.Fprintf(w, "- %s gateway CPU per file %.3f ms (process CPU time / files; in-process runs: the whole benchmark process)\n", id, r.cpu/files*1000)
		}
	}
	cold, cached := byID["W5cold"], byID["W5cached"]
	if cold != nil && cached != nil && cold.complete() && cached.complete() {
		c, _, _, _ := cold.stats(cold.gw)
		h, _, _, _ := cached.stats(cached.gw)
		fmt.Fprintf(w, "- W5 cached LIST is %.1f× faster than cold (target ≥ 20×): %s\n", h/c, verdict(h/c >= 20))
	}
	for _, id := range []string{"W5cold", "W5bigcold"} {
		if r := byID[id]; r != nil && r.complete() {
			if v, ok := r.ratio(); ok {
				fmt.Fprintf(w, "- %s first listing ftp2s3/direct = %.2f (target ≥ 1, issue 24 §2): %s\n", id, v, verdict(v >= 1))
			}
		}
	}
	if r := byID["W2"]; r != nil {
		if v, ok := r.cpuPerGiB(); ok {
			fmt.Fprintf(w, "- W2 gateway CPU %.2f s/GiB (target ≤ 0.30, issue 24 §3): %s\n", v, verdict(v <= 0.30))
		}
	}
	for _, t := range []struct {
		id   string
		goal float64
	}{{"W1s", 0.85}, {"W2s", 0.85}, {"W4s", 0.5}} {
		if r := byID[t.id]; r != nil && r.complete() {
			if v, ok := r.ratio(); ok {
				fmt.Fprintf(w, "- %s FTPS/plain = %.2f (target ≥ %.2f, issue 24 §4): %s\n", t.id, v, t.goal, verdict(v >= t.goal))
			}
		}
	}
	limit := partSize*int64(uploadConcurrency+1) + 32<<20
	if r := byID["W1"]; r != nil && r.peak > 0 {
		fmt.Fprintf(w, "- W1 gateway peak RSS %s (limit PART_SIZE×(UPLOAD_CONCURRENCY+1)+32 MiB = %s): %s\n", mib(r.peak), mib(limit), verdict(r.peak <= limit))
	}
	if r := byID["W3"]; r != nil && r.peak > 0 {
		fmt.Fprintf(w, "- W3 gateway peak RSS %s (limit 8× = %s): %s\n", mib(r.peak), mib(8*limit), verdict(r.peak <= 8*limit))
	}
	// Uploads: ≤ 0.8 s/GiB (issue 24 §5); W2's own, tighter goal is above.
	for _, id := range []string{"W1", "W3"} {
		if r := byID[id]; r != nil {
			if v, ok := r.cpuPerGiB(); ok {
				fmt.Fprintf(w, "- %s gateway CPU %.2f s/GiB (target ≤ 0.8, issue 24 §5): %s\n", id, v, verdict(v <= 0.8))
			}
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()*1000) }

// fmtLatency gives the per-file p50 and p99 of both sides, for the small-file rows.
func fmtLatency(r *row) string {
	if len(r.gwLat) == 0 {
		return "–"
	}
	s := ms(percentile(r.gwLat, 0.5)) + " / " + ms(percentile(r.gwLat, 0.99))
	if len(r.directLat) > 0 {
		s += " ; " + ms(percentile(r.directLat, 0.5)) + " / " + ms(percentile(r.directLat, 0.99))
	}
	return s
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

// writePhases prints, for each row with a phase breakdown, where one file's time
// goes: the client's phases through the gateway, the gateway's time inside its S3
// request, and the direct request.
func writePhases(w io.Writer, rows []*row) {
	for _, r := range rows {
		if r.phaseCmd == "" || len(r.phases) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s per-file phases, %d files through ftp2s3 (ms; p50 and p99 of each phase, so only the means add up):\n\n", r.id, len(r.phases))
		fmt.Fprintln(w, "| | p50 | p99 | mean |")
		fmt.Fprintln(w, "|---|---|---|---|")
		line := func(name string, ds []time.Duration) {
			if len(ds) == 0 {
				return
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", name, ms(percentile(ds, 0.5)), ms(percentile(ds, 0.99)), ms(mean(ds)))
		}
		for p := range nPhases {
			ds := make([]time.Duration, len(r.phases))
			for i, ph := range r.phases {
				ds[i] = ph[p]
			}
			line("client: "+phaseLabel(p, r.phaseCmd), ds)
		}
		line("**client: whole file through ftp2s3**", r.gwLat)
		line("client: NOOP sent → 200 received (the same sessions, before their files: the least one reply costs)", r.noops)
		if len(r.gwS3Op) > 0 {
			line("gateway: inside "+r.s3Op+" (SDK call, in-process timing)", r.gwS3Op)
			line("gateway: "+r.s3Op+" HTTP round trip (in-process timing)", r.gwS3HTTP)
		}
		var gwS3Mean time.Duration
		if r.gwS3Count > 0 {
			gwS3Mean = time.Duration(r.gwS3Sum / r.gwS3Count * float64(time.Second))
			fmt.Fprintf(w, "| gateway: inside %s (its metrics, %.0f requests) | – | – | %s |\n", r.s3Op, r.gwS3Count, ms(gwS3Mean))
		}
		if len(r.ceilLat) > 0 {
			line("**ceiling: whole file, the same client against a null FTP endpoint (answers at once, discards data)**", r.ceilLat)
			for p := range nPhases {
				ds := make([]time.Duration, len(r.ceilPhases))
				for i, ph := range r.ceilPhases {
					ds[i] = ph[p]
				}
				line("ceiling: "+phaseLabel(p, r.phaseCmd), ds)
			}
		}
		line("**direct: whole file ("+r.s3Op+" through the SDK)**", r.directLat)
		line("direct: "+r.s3Op+" SDK call up to the response headers", r.directS3Op)
		line("direct: "+r.s3Op+" HTTP round trip", r.directS3HTTP)
		if files := r.amount * float64(len(r.gw)); files > 0 && r.cpu > 0 {
			fmt.Fprintf(w, "| CPU per file: the gateway process (in-process runs: the whole benchmark process) | – | – | %.3f |\n", r.cpu/files*1000)
		}
		if files := r.amount * float64(len(r.gw)); files > 0 && r.gcCycles > 0 {
			fmt.Fprintf(w, "| garbage collections of the gateway per 1,000 files (in-process runs: of the whole benchmark process) | – | – | %.0f |\n", r.gcCycles/files*1000)
		}
		if gf, df := r.amount*float64(len(r.gw)), r.amount*float64(len(r.direct)); gf > 0 && df > 0 && r.gwAllCPU > 0 {
			fmt.Fprintf(w, "| CPU per file: all processes (MinIO, gateway, client), through ftp2s3 ; direct | – | – | %.3f ; %.3f |\n", r.gwAllCPU/gf*1000, r.directAllCPU/df*1000)
		}
		if gwS3Mean > 0 && len(r.gwLat) > 0 {
			fmt.Fprintf(w, "| what the FTP path adds around the gateway's %s (means: whole file − inside %s) | – | – | %s |\n",
				r.s3Op, r.s3Op, ms(mean(r.gwLat)-gwS3Mean))
		}
	}
}
