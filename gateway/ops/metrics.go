package ops

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ftp2s3/ftp2s3/session"
	"github.com/ftp2s3/ftp2s3/storage"
)

// Metrics are the gateway's Prometheus metrics. Each gateway has its own
// registry, so several gateways can live in one process (tests). Metrics
// implements session.Observer, and ObserveS3 is storage's request hook.
type Metrics struct {
	reg *prometheus.Registry

	sessionsActive  prometheus.Gauge
	sessionsTotal   prometheus.Counter
	logins          *prometheus.CounterVec
	commands        *prometheus.CounterVec
	transfers       *prometheus.CounterVec
	transferBytes   *prometheus.CounterVec
	transferSeconds *prometheus.HistogramVec
	s3Requests      *prometheus.CounterVec
	s3Seconds       *prometheus.HistogramVec

	// FTP2S3_AUTH=http, registered on first use (identity_metrics.go).
	authOnce    sync.Once
	authChecks  *prometheus.CounterVec
	authSeconds prometheus.Histogram
}

// NewMetrics registers every metric, plus the Go runtime and process collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		sessionsActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ftp2s3_sessions_active", Help: "Control connections open now.",
		}),
		sessionsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ftp2s3_sessions_total", Help: "Control connections served since start.",
		}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ftp2s3_logins_total", Help: "Login attempts (PASS) by result: ok or failed.",
		}, []string{"result"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ftp2s3_commands_total", Help: "FTP commands by verb and class of the final reply (2xx, 4xx, 5xx…).",
		}, []string{"command", "class"}),
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ftp2s3_transfers_total", Help: "Data transfers by direction (upload, download, list) and result (ok, failed).",
		}, []string{"direction", "result"}),
		transferBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ftp2s3_transfer_bytes_total", Help: "Bytes moved on data connections by direction and result.",
		}, []string{"direction", "result"}),
		transferSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ftp2s3_transfer_duration_seconds", Help: "Duration of data transfers by direction.",
			Buckets: []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900, 3600},
		}, []string{"direction"}),
		s3Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ftp2s3_s3_requests_total",
			Help: "S3 requests by operation and result (ok, not_found, client_error, server_error, canceled, error).",
		}, []string{"operation", "result"}),
		s3Seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ftp2s3_s3_request_duration_seconds", Help: "S3 request latency by operation, retries included.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"operation"}),
	}
	reg.MustRegister(m.sessionsActive, m.sessionsTotal, m.logins, m.commands, m.transfers,
		m.transferBytes, m.transferSeconds, m.s3Requests, m.s3Seconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, r := range []string{"ok", "failed"} {
		m.logins.WithLabelValues(r)
	}
	return m
}

// Registry returns the registry that /metrics serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SessionOpened implements session.Observer.
func (m *Metrics) SessionOpened() { m.sessionsActive.Inc(); m.sessionsTotal.Inc() }

// SessionClosed implements session.Observer.
func (m *Metrics) SessionClosed() { m.sessionsActive.Dec() }

// Command implements session.Observer.
func (m *Metrics) Command(verb string, code int) {
	m.commands.WithLabelValues(verb, strconv.Itoa(code/100)+"xx").Inc()
}

// Login implements session.Observer.
func (m *Metrics) Login(ok bool) { m.logins.WithLabelValues(okOr(ok, "failed")).Inc() }

// Transfer implements session.Observer.
func (m *Metrics) Transfer(direction string, bytes int64, d time.Duration, ok bool) {
	result := okOr(ok, "failed")
	m.transfers.WithLabelValues(direction, result).Inc()
	m.transferBytes.WithLabelValues(direction, result).Add(float64(bytes))
	m.transferSeconds.WithLabelValues(direction).Observe(d.Seconds())
}

// ObserveS3 is storage.Options.Observe: one S3 request and how it ended.
func (m *Metrics) ObserveS3(op string, d time.Duration, err error) {
	if op == "" {
		op = "unknown"
	}
	m.s3Requests.WithLabelValues(op, s3Result(err)).Inc()
	m.s3Seconds.WithLabelValues(op).Observe(d.Seconds())
}

// s3Result classifies an S3 outcome coarsely enough for alerts: a burst of
// server_error or error means S3 is in trouble, not_found is routine (stat of a
// name that does not exist).
func s3Result(err error) string {
	if err == nil {
		return "ok"
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	switch st := storage.HTTPStatus(err); {
	case st == 404:
		return "not_found"
	case st >= 400 && st < 500:
		return "client_error"
	case st >= 500:
		return "server_error"
	}
	return "error"
}

func okOr(ok bool, otherwise string) string {
	if ok {
		return "ok"
	}
	return otherwise
}

// funcMetric is a gauge or counter whose value is read at each scrape.
type funcMetric struct {
	name, help string
	counter    bool
	value      func() float64
}

func (m *Metrics) register(fs ...funcMetric) {
	for _, f := range fs {
		if f.counter {
			m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: f.name, Help: f.help}, f.value))
		} else {
			m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: f.name, Help: f.help}, f.value))
		}
	}
}

// DataStats is what the data-channel metrics read at each scrape: the
// counters and gauges of gateway/datachan's Stats, whose fields it lists in
// the same order so that the wiring converts one into the other (run.go) and
// the compiler keeps them equal. ops does not import datachan.
type DataStats struct {
	Exhausted, Strangers, Expired, ActiveRefused    int64
	PortsInUse, PortsIdle, Reservations, PortsTotal int
}

// WatchDataChannels exports the passive port pool's state; stats must be safe
// for concurrent use.
func (m *Metrics) WatchDataChannels(stats func() DataStats) {
	m.register(
		funcMetric{"ftp2s3_passive_ports_in_use", "Passive ports reserved by sessions now (a port serves one session per client address).",
			false, func() float64 { return float64(stats().PortsInUse) }},
		funcMetric{"ftp2s3_passive_ports_idle", "Passive ports no session holds that still listen, for reuse by the next reservation (for a few seconds after their last).",
			false, func() float64 { return float64(stats().PortsIdle) }},
		funcMetric{"ftp2s3_passive_reservations", "Sessions holding a passive port now.",
			false, func() float64 { return float64(stats().Reservations) }},
		funcMetric{"ftp2s3_passive_ports_exhausted_total", "PASV/EPSV requests that found no port for their client (each port reserved by that address already, or its FTP2S3_MAX_CONNECTIONS_PER_IP reached).",
			true, func() float64 { return float64(stats().Exhausted) }},
		funcMetric{"ftp2s3_passive_ports_total", "Ports in the passive range (FTP2S3_PASSIVE_PORTS).",
			false, func() float64 { return float64(stats().PortsTotal) }},
		funcMetric{"ftp2s3_passive_strangers_total", "Passive data connections dropped because no session on that port was waiting for their address.",
			true, func() float64 { return float64(stats().Strangers) }},
		funcMetric{"ftp2s3_passive_ports_expired_total", "Passive ports released because no transfer used them in time.",
			true, func() float64 { return float64(stats().Expired) }},
		funcMetric{"ftp2s3_active_refused_total", "PORT/EPRT targets refused (bounce protection, privileged port, active mode off).",
			true, func() float64 { return float64(stats().ActiveRefused) }},
	)
}

// WatchCache exports the metadata cache's counters.
func (m *Metrics) WatchCache(b *storage.Backend) {
	m.register(
		funcMetric{"ftp2s3_cache_hits_total", "Metadata cache lookups answered from the cache.",
			true, func() float64 { h, _ := b.CacheStats(); return float64(h) }},
		funcMetric{"ftp2s3_cache_misses_total", "Metadata cache lookups that went to S3.",
			true, func() float64 { _, mi := b.CacheStats(); return float64(mi) }},
		funcMetric{"ftp2s3_cache_evictions_total", "Metadata cache entries pushed out because the cache was full.",
			true, func() float64 { return float64(b.CacheEvictions()) }},
	)
}

// WatchTLS exports the FTPS counters of st: handshakes that succeeded or
// failed on control and data connections, data connections refused for not
// resuming the control connection's TLS session (FTP2S3_TLS_SESSION_REUSE),
// and PROT P uploads that ended without close_notify (refused under
// FTP2S3_TLS_STRICT_EOF, accepted otherwise).
func (m *Metrics) WatchTLS(st *session.TLSStats) {
	count := func(c *atomic.Int64) func() float64 { return func() float64 { return float64(c.Load()) } }
	m.register(
		funcMetric{"ftp2s3_tls_control_handshakes_total", "Control connections secured with TLS (AUTH TLS or implicit FTPS).", true, count(&st.ControlHandshakes)},
		funcMetric{"ftp2s3_tls_control_handshake_failures_total", "TLS handshakes on control connections that failed.", true, count(&st.ControlHandshakeFails)},
		funcMetric{"ftp2s3_tls_data_handshakes_total", "PROT P data connections secured with TLS.", true, count(&st.DataHandshakes)},
		funcMetric{"ftp2s3_tls_data_handshake_failures_total", "TLS handshakes on PROT P data connections that failed.", true, count(&st.DataHandshakeFails)},
		funcMetric{"ftp2s3_tls_data_not_resumed_total", "PROT P data connections refused for not resuming the control connection's TLS session (FTP2S3_TLS_SESSION_REUSE).", true, count(&st.DataNotResumed)},
		funcMetric{"ftp2s3_tls_uploads_without_close_notify_total",
			"PROT P uploads whose TLS data connection ended without close_notify (refused with FTP2S3_TLS_STRICT_EOF).",
			true, count(&st.UploadsWithoutCloseNotify)},
	)
}

// WatchRefused exports the control connections refused by limits, bans,
// shutdown or a bad PROXY header; refused must be safe for concurrent use.
func (m *Metrics) WatchRefused(refused func() int64) {
	m.register(funcMetric{"ftp2s3_connections_refused_total",
		"Control connections refused with 421 (limits, shutdown) or for a bad PROXY header.",
		true, func() float64 { return float64(refused()) }})
}

// WatchBans exports the ban list of the login guard: active bans now and bans
// imposed since start. stats must be safe for concurrent use.
func (m *Metrics) WatchBans(stats func() (active int, total int64)) {
	m.register(
		funcMetric{"ftp2s3_bans_active", "Client addresses banned now for failed logins.",
			false, func() float64 { a, _ := stats(); return float64(a) }},
		funcMetric{"ftp2s3_bans_total", "Bans imposed for failed logins since start.",
			true, func() float64 { _, t := stats(); return float64(t) }},
	)
}

// WatchMemory exports the transfer memory budget (FTP2S3_MEMORY_LIMIT): what
// transfers hold, what is kept idle for reuse, and how much they had to wait for.
func (m *Metrics) WatchMemory(b *storage.Backend) {
	m.register(
		funcMetric{"ftp2s3_memory_budget_bytes", "The transfer memory budget (FTP2S3_MEMORY_LIMIT).",
			false, func() float64 { return float64(b.MemoryStats().Limit) }},
		funcMetric{"ftp2s3_memory_in_use_bytes", "Transfer buffers held by transfers now.",
			false, func() float64 { return float64(b.MemoryStats().InUse) }},
		funcMetric{"ftp2s3_memory_idle_bytes", "Transfer buffers kept for reuse now (part of the budget).",
			false, func() float64 { return float64(b.MemoryStats().Idle) }},
		funcMetric{"ftp2s3_memory_waiting", "Transfers waiting for the memory budget now.",
			false, func() float64 { return float64(b.MemoryStats().Waiting) }},
		funcMetric{"ftp2s3_memory_waited_bytes_total", "Bytes of buffers that transfers had to wait for because the budget was full.",
			true, func() float64 { return float64(b.MemoryStats().WaitedBytes) }},
		funcMetric{"ftp2s3_memory_waits_total", "Times a transfer had to wait for the memory budget.",
			true, func() float64 { return float64(b.MemoryStats().Waits) }},
		funcMetric{"ftp2s3_memory_client_share_bytes", "The most of the budget one client address (IPv6: /64) may hold.",
			false, func() float64 { return float64(b.MemoryStats().ClientShare) }},
		funcMetric{"ftp2s3_memory_waiting_client_share", "Transfers waiting now because their client holds its share (part of ftp2s3_memory_waiting).",
			false, func() float64 { return float64(b.MemoryStats().WaitingShare) }},
		funcMetric{"ftp2s3_memory_passes_total", "Times a waiting transfer was served ahead of an older, larger one.",
			true, func() float64 { return float64(b.MemoryStats().Passes) }},
		funcMetric{"ftp2s3_uploads_too_slow_total", "Uploads ended with 426 by the slow-upload rule (FTP2S3_UPLOAD_MIN_RATE).",
			true, func() float64 { return float64(b.MemoryStats().TooSlow) }},
	)
}

// WatchNotify exports the events sender (FTP2S3_NOTIFY_URL): events sent,
// attempts retried, events dropped (queue full, refused by the receiver, or
// unsent when the shutdown grace ended) and the queue's length now. stats
// must be safe for concurrent use.
func (m *Metrics) WatchNotify(stats func() (sent, retried, dropped int64, queued int)) {
	m.register(
		funcMetric{"ftp2s3_notify_events_sent_total", "Events the FTP2S3_NOTIFY_URL receiver accepted.",
			true, func() float64 { s, _, _, _ := stats(); return float64(s) }},
		funcMetric{"ftp2s3_notify_retries_total", "Attempts at sending an event that were retried after a failure.",
			true, func() float64 { _, r, _, _ := stats(); return float64(r) }},
		funcMetric{"ftp2s3_notify_events_dropped_total", "Events lost: queue full (FTP2S3_NOTIFY_QUEUE), refused by the receiver, or unsent at shutdown.",
			true, func() float64 { _, _, d, _ := stats(); return float64(d) }},
		funcMetric{"ftp2s3_notify_queue_length", "Events waiting to be sent now.",
			false, func() float64 { _, _, _, q := stats(); return float64(q) }},
	)
}

// WatchUploadCheck exports the upload check's verdicts
// (FTP2S3_UPLOAD_CHECK_URL); stats must be safe for concurrent use.
func (m *Metrics) WatchUploadCheck(stats func() (passed, rejected, unavailable int64)) {
	m.register(
		funcMetric{"ftp2s3_upload_checks_passed_total", "Uploads the upload check approved (2xx).",
			true, func() float64 { p, _, _ := stats(); return float64(p) }},
		funcMetric{"ftp2s3_upload_checks_rejected_total", "Uploads the upload check refused (4xx).",
			true, func() float64 { _, r, _ := stats(); return float64(r) }},
		funcMetric{"ftp2s3_upload_checks_unavailable_total", "Upload checks that gave no verdict (timeout, 5xx, no answer).",
			true, func() float64 { _, _, u := stats(); return float64(u) }},
	)
}
