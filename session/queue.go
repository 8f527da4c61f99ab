package session

// A client may send commands while a transfer runs (RFC 959 §4.1.3 lets it
// pipeline): the next PASV/EPSV, a QUIT, or NOOP keepalives every few seconds
// for as long as the transfer lasts. They wait in a lineQueue and run once the
// transfer is over, so that every reply follows the 226 in the order the
// commands came (see duringTransfer for why NOOP is not answered at once).
//
// What one session can make the process hold this way is bounded: at most
// maxQueuedLines distinct lines and maxQueuedBytes of them, plus the line the
// reader holds. A line equal to the one queued last is counted rather than
// stored again, so keepalives cost a counter, not memory, and do not fill the
// queue; at most maxQueuedCommands commands wait in all. Once the queue is full
// the session stops reading the control connection until the transfer is over
// (backpressure: the client's further lines wait in the kernel's socket buffers
// and then in the client itself). Nothing a client sends during a transfer ends
// the session or the transfer (TestCommandFloodDuringTransfer,
// TestKeepaliveFloodDuringUploadBackpressure; docs/keepalives-and-timeouts.md).
const (
	maxQueuedLines    = 16
	maxQueuedBytes    = 64 << 10
	maxQueuedCommands = 4096
)

// lineQueue holds the lines that arrived during a transfer, in order.
type lineQueue struct {
	entries  []queuedLine
	bytes    int // stored text, each line once
	commands int // lines waiting, repeats included
}

// queuedLine is a line and how many more times it came in a row.
type queuedLine struct {
	line
	repeats int
}

// full reports whether the queue may take no further line: the session then
// stops reading until the transfer is over.
func (q *lineQueue) full() bool {
	return len(q.entries) >= maxQueuedLines || q.bytes >= maxQueuedBytes || q.commands >= maxQueuedCommands
}

// push appends l. The caller checks full first, so the queue holds at most one
// line beyond its bounds.
func (q *lineQueue) push(l line) {
	q.commands++
	if n := len(q.entries); n > 0 && q.entries[n-1].line == l {
		q.entries[n-1].repeats++
		return
	}
	q.entries = append(q.entries, queuedLine{line: l})
	q.bytes += l.size()
}

// pop removes and returns the oldest line.
func (q *lineQueue) pop() (line, bool) {
	if len(q.entries) == 0 {
		return line{}, false
	}
	q.commands--
	first := &q.entries[0]
	if first.repeats > 0 {
		first.repeats--
		return first.line, true
	}
	l := first.line
	q.entries[0] = queuedLine{}
	q.entries = q.entries[1:]
	q.bytes -= l.size()
	if len(q.entries) == 0 {
		q.clear()
	}
	return l, true
}

func (q *lineQueue) len() int { return q.commands }

func (q *lineQueue) clear() { *q = lineQueue{} }

// size is what a line weighs in the queue: an over-long line was at least
// maxLineLength bytes, though only the fact that it was too long is kept.
func (l line) size() int {
	if l.tooLong {
		return maxLineLength
	}
	return len(l.text)
}
