package session

import "errors"

// A client may send commands while a transfer runs (RFC 959 §4.1.3 lets it
// pipeline; real clients queue at most a command or two, typically the next
// PASV/EPSV or a QUIT). They wait in a lineQueue and run once the transfer is
// over. The bound keeps one session from holding more than a few kilobytes this
// way: past it the session answers 421 and ends, aborting its transfer (docs/networking.md,
// "Abuse protection"; TestCommandFloodDuringTransfer).
const (
	maxQueuedLines = 16
	maxQueuedBytes = 64 << 10
)

// errQueueFull ends a transfer whose client sent more than the queue holds.
var errQueueFull = errors.New("too many commands queued during the transfer")

// lineQueue holds the lines that arrived during a transfer, in order.
type lineQueue struct {
	lines []line
	bytes int
}

// push appends l and reports whether the queue is still within its bound.
func (q *lineQueue) push(l line) bool {
	q.lines = append(q.lines, l)
	q.bytes += l.size()
	return len(q.lines) <= maxQueuedLines && q.bytes <= maxQueuedBytes
}

// pop removes and returns the oldest line.
func (q *lineQueue) pop() (line, bool) {
	if len(q.lines) == 0 {
		return line{}, false
	}
	l := q.lines[0]
	q.lines[0] = line{}
	q.lines = q.lines[1:]
	q.bytes -= l.size()
	if len(q.lines) == 0 {
		q.clear()
	}
	return l, true
}

func (q *lineQueue) len() int { return len(q.lines) }

func (q *lineQueue) clear() { *q = lineQueue{} }

// size is what a line weighs in the queue: an over-long line was at least
// maxLineLength bytes, though only the fact that it was too long is kept.
func (l line) size() int {
	if l.tooLong {
		return maxLineLength
	}
	return len(l.text)
}
