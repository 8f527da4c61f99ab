package testkit

import (
	"runtime"
	"strings"
)

// ExecuteDepth returns the largest number of command executions on the stack
// of any goroutine of this process serving a session: 1 while one command
// runs, more if commands nest (the pipelining tests check it stays 1).
func ExecuteDepth() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	depth := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "session.(*Session).Serve(") {
			depth = max(depth, strings.Count(g, "session.(*Session).execute("))
		}
	}
	return depth
}
