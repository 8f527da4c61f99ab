package ops

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// UsersStats describe the static users and the reloads of FTP2S3_USERS_FILE.
type UsersStats struct {
	Users    int   // users in force now
	Reloads  int64 // reloads that took effect
	Failures int64 // reloads refused because the file had errors
	LastOK   bool  // the last load or reload succeeded
}

// WatchUsers exports the users file's state; stats must be safe for
// concurrent use.
func (m *Metrics) WatchUsers(stats func() UsersStats) {
	m.register(
		funcMetric{"ftp2s3_users", "Static users in force now (FTP2S3_USERS and FTP2S3_USERS_FILE).",
			false, func() float64 { return float64(stats().Users) }},
		funcMetric{"ftp2s3_users_reloads_total", "Reloads of FTP2S3_USERS_FILE that took effect (SIGHUP or a change of the file).",
			true, func() float64 { return float64(stats().Reloads) }},
		funcMetric{"ftp2s3_users_reload_failures_total", "Reloads of FTP2S3_USERS_FILE refused because the file had errors; the users in force were kept.",
			true, func() float64 { return float64(stats().Failures) }},
		funcMetric{"ftp2s3_users_reload_ok", "1 when the last load of FTP2S3_USERS_FILE succeeded, 0 when the file on disk has errors and older users are in force.",
			false, func() float64 {
				if stats().LastOK {
					return 1
				}
				return 0
			}},
	)
}

// authResults are the outcomes auth.HTTPAuth reports (its Check* constants).
var authResults = []string{"ok", "refused", "unavailable", "invalid", "cached"}

// WatchAuth registers the FTP2S3_AUTH=http metrics, at zero, before the
// first login (ObserveAuth feeds them).
func (m *Metrics) WatchAuth() { m.authOnce.Do(m.registerAuth) }

// ObserveAuth is the FTP2S3_AUTH=http hook (auth.HTTPAuthOptions.Observe):
// one login's outcome and, when a request was made, its duration.
func (m *Metrics) ObserveAuth(result string, d time.Duration) {
	m.authOnce.Do(m.registerAuth)
	m.authChecks.WithLabelValues(result).Inc()
	if result != "cached" {
		m.authSeconds.Observe(d.Seconds())
	}
}

func (m *Metrics) registerAuth() {
	m.authChecks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ftp2s3_auth_http_checks_total",
		Help: "Logins checked under FTP2S3_AUTH=http by outcome: ok, refused (401/403 or outside allowed_networks), unavailable (421: no answer, another status, malformed body), invalid (bad home), cached (no request).",
	}, []string{"result"})
	m.authSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "ftp2s3_auth_http_request_duration_seconds", Help: "Duration of requests to the identity service (FTP2S3_AUTH_URL).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	m.reg.MustRegister(m.authChecks, m.authSeconds)
	for _, r := range authResults {
		m.authChecks.WithLabelValues(r)
	}
}
