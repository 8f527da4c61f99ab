package session

import (
	"strconv"
	"unicode/utf8"
)

// maxLoggedString bounds how much of one client-supplied string (a command line,
// a user name, HOST, CLNT, a path) reaches a log attribute. A command line may
// be 8 KiB and some attributes stay on the session's logger for every later
// line, so without a bound one client could make each log line megabytes long.
const maxLoggedString = 256

// logString is s as it may appear in a log: at most maxLoggedString bytes (cut
// on a UTF-8 boundary), followed by a marker with the original length when cut.
func logString(s string) string {
	if len(s) <= maxLoggedString {
		return s
	}
	cut := maxLoggedString
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…[truncated, " + strconv.Itoa(len(s)) + " bytes]"
}
