// Package ratelog keeps events a client can repeat at will (refused
// connections, refused requests) from flooding the log: a few lines per period
// go through, and the first one of the next period carries how many were left
// out. The counters in the metrics still count every event.
package ratelog

import (
	"sync"
	"time"
)

// Every is the period of a zero Limiter.
const Every = 10 * time.Second

// Limiter lets burst lines through per period and counts the others. The
// zero value is ready: one line per Every.
type Limiter struct {
	every time.Duration
	burst int

	mu         sync.Mutex
	start      time.Time // of the current period
	used       int       // lines let through in it
	suppressed int       // lines left out since the last one let through
}

// New returns a limiter that lets burst lines through per every, so that a
// handful of events keep their own lines and only a flood is summarised.
func New(every time.Duration, burst int) *Limiter {
	return &Limiter{every: every, burst: burst}
}

// Allow reports whether to log now and, if so, how many lines were left out
// since the last one logged.
func (l *Limiter) Allow(now time.Time) (ok bool, left int) {
	every, burst := l.every, l.burst
	if every <= 0 {
		every = Every
	}
	burst = max(burst, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.used == 0 || !now.Before(l.start.Add(every)) {
		l.start, l.used = now, 0
	}
	if l.used >= burst {
		l.suppressed++
		return false, 0
	}
	l.used++
	left, l.suppressed = l.suppressed, 0
	return true, left
}
