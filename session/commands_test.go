package session

import (
	"crypto/tls"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
)

// TestCommandTableRows: every row is complete, and the RFC 1123 aliases answer
// to the rows of their verbs.
func TestCommandTableRows(t *testing.T) {
	for _, c := range commandTable {
		if c.handler == nil {
			t.Errorf("%s has no handler", c.verb)
		}
		if c.verb == "" || c.verb != asciiUpper(c.verb) || c.alias != asciiUpper(c.alias) {
			t.Errorf("%q (alias %q) is not an upper-case verb", c.verb, c.alias)
		}
		if first, _, _ := strings.Cut(c.help, " "); first != c.verb {
			t.Errorf("%s: HELP syntax %q does not name the verb", c.verb, c.help)
		}
		if c.flags&featNeedsTLS != 0 && c.feat == "" {
			t.Errorf("%s: featNeedsTLS without a FEAT line", c.verb)
		}
	}
	for alias, verb := range map[string]string{"XPWD": "PWD", "XCWD": "CWD", "XCUP": "CDUP", "XMKD": "MKD", "XRMD": "RMD"} {
		if c := commands[alias]; c == nil || c != commands[verb] {
			t.Errorf("RFC 1123 alias %s does not answer to the row of %s", alias, verb)
		}
	}
}

// TestOnlyABORAndSTATRunDuringTransfer: docs/networking.md promises that ABOR and STAT
// are answered while a transfer runs and every other command waits for it.
func TestOnlyABORAndSTATRunDuringTransfer(t *testing.T) {
	var got []string
	for _, c := range commandTable {
		if c.whileTransfer != nil {
			got = append(got, c.verb)
		}
	}
	if want := []string{"ABOR", "STAT"}; !slices.Equal(got, want) {
		t.Errorf("verbs answered during a transfer: %q, want %q", got, want)
	}
}

func TestIndexRejectsDuplicates(t *testing.T) {
	row := command{verb: "NOOP", handler: (*Session).handleNOOP, help: "NOOP"}
	for name, rows := range map[string][]command{
		"verb twice":            {row, row},
		"alias equal to a verb": {row, {verb: "XNOP", alias: "NOOP", handler: (*Session).handleNOOP, help: "XNOP"}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			indexCommands(rows)
		}()
	}
}

func TestFeatureLinesSortedAndUnique(t *testing.T) {
	f := featureLines(true)
	if !slices.IsSorted(f) {
		t.Errorf("FEAT lines not sorted: %q", f)
	}
	if len(slices.Compact(slices.Clone(f))) != len(f) {
		t.Errorf("FEAT lines repeat: %q", f)
	}
	for _, want := range []string{"EPSV", "MLST type*;size*;modify*;perm*;", "REST STREAM", "SIZE", "UTF8"} {
		if !slices.Contains(f, want) {
			t.Errorf("FEAT lacks %q: %q", want, f)
		}
	}
}

// TestFEATLinesBelongToRows: FEAT shows exactly the FEAT lines of the table's
// rows (and the static ones), those of FTPS only when TLS is configured.
func TestFEATLinesBelongToRows(t *testing.T) {
	for _, withTLS := range []bool{false, true} {
		s := &Session{cfg: &Config{}}
		if withTLS {
			s.cfg.TLS = &tls.Config{}
		}
		want := map[string]bool{}
		for _, f := range staticFeatures {
			want[f] = true
		}
		for _, c := range commandTable {
			if c.feat != "" && (withTLS || c.flags&featNeedsTLS == 0) {
				want[s.sessionFeat(c.feat)] = true
			}
		}
		lines := s.handleFEAT("").Lines
		got := map[string]bool{}
		for _, l := range lines[1 : len(lines)-1] {
			got[l] = true
		}
		if !maps.Equal(got, want) {
			t.Errorf("TLS %v: FEAT shows %q, the table has %q", withTLS, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
		}
		if got["AUTH TLS"] != withTLS {
			t.Errorf("TLS %v: FEAT shows AUTH TLS: %v", withTLS, got["AUTH TLS"])
		}
	}
}

// TestHELPNamesEveryRow: HELP lists every verb and alias of the table, and HELP
// <verb> shows the row's syntax.
func TestHELPNamesEveryRow(t *testing.T) {
	c := startSession(t, goldenFS())
	list := strings.Fields(c.expect("HELP", 214))
	for name, row := range commands {
		if !slices.Contains(list, name) {
			t.Errorf("HELP does not list %s", name)
		}
		if text := c.expect("HELP "+strings.ToLower(name), 214); text != "Syntax: "+row.help {
			t.Errorf("HELP %s: %q, want the syntax %q", name, text, row.help)
		}
	}
	c.expect("HELP MFCT", 501)
}

// commandArgs are plausible arguments for the verbs of the table: the ones a
// read-write user would send to make the verb act (on goldenFS plus
// "emptydir/"). A verb not named here gets "recent.txt".
var commandArgs = map[string]string{
	"USER": "reader", "PASS": "pw", "ACCT": "billing", "SMNT": "/elsewhere", "HOST": "ftp.example.com",
	"AUTH": "TLS", "PBSZ": "0", "PROT": "P",
	"CWD": "dir", "XCWD": "dir", "MKD": "newdir", "XMKD": "newdir", "RMD": "emptydir", "XRMD": "emptydir",
	"LIST": "dir", "NLST": "dir", "MLSD": "dir",
	"MFMT": "20200101000000 recent.txt", "RNTO": "renamed.txt", "STOR": "new.txt", "STOU": "",
	"PORT": "127,0,0,1,4,1", "EPRT": "|1|127.0.0.1|1025|", "EPSV": "", "TYPE": "I", "MODE": "S",
	"STRU": "F", "REST": "0", "ALLO": "100", "OPTS": "UTF8 ON", "CLNT": "test client",
	"SITE": "CHMOD 644 recent.txt", "HELP": "", "STAT": "", "QUIT": "", "REIN": "",
}

// TestReadOnlyRefusalFollowsTable drives the table, and SITE's: every verb
// (or SITE subcommand) whose row says it writes is refused to a read-only user;
// no other ever gets that refusal (SITE HELP is answered though SITE CHMOD
// writes); and no line, refused or not, changes storage for a read-only user.
func TestReadOnlyRefusalFollowsTable(t *testing.T) {
	type probe struct {
		line   string
		writes bool
	}
	var probes []probe
	for _, name := range slices.Sorted(maps.Keys(commands)) {
		row := commands[name]
		if row.handler == nil || name == "SITE" {
			continue
		}
		arg, ok := commandArgs[name]
		if !ok {
			arg = "recent.txt"
		}
		probes = append(probes, probe{strings.TrimSpace(name + " " + arg), row.flags&writes != 0})
	}
	if commands["SITE"].flags&writes != 0 {
		t.Errorf("SITE's row writes: its subcommands say which write")
	}
	for _, sub := range siteTable {
		probes = append(probes, probe{strings.TrimSpace("SITE " + sub.name + " " + siteArgs[sub.name]), sub.writes})
	}
	refused := 0
	for _, p := range probes {
		line := p.line
		fs := goldenFS()
		fs.put("b", "emptydir/", "", goldenNow)
		before := fs.snapshot()
		c := loginSession(t, fs, "reader")
		// A data connection is ready, so that a transfer the verb starts runs
		// (and an upload, finding it closed, stores an empty file).
		d := c.pasv()
		code, text := c.cmd(line)
		d.Close()
		if code == 150 || code == 125 {
			c.read() // the transfer's end
		}
		if p.writes {
			if code != codeActionNotTaken || !strings.Contains(text, readOnlyRefusal) {
				t.Errorf("%s as a read-only user: %d %q, want 550 %q", line, code, text, readOnlyRefusal)
			}
			refused++
		} else if strings.Contains(text, readOnlyRefusal) || strings.HasPrefix(line, "SITE ") && code >= 500 {
			t.Errorf("%s (does not write) as a read-only user: %d %q", line, code, text)
		}
		after := fs.snapshot()
		for k, v := range after {
			if before[k] != v {
				t.Errorf("%s as a read-only user changed %q: %q, now %q", line, k, before[k], v)
			}
		}
		for k := range before {
			if _, ok := after[k]; !ok {
				t.Errorf("%s as a read-only user removed %q", line, k)
			}
		}
		// The same line from a read-write user is not refused: the refusal
		// comes from the user, not from the argument.
		w := loginSession(t, fs, "alice")
		if code, text := w.cmd(line); strings.Contains(text, readOnlyRefusal) {
			t.Errorf("%s as a read-write user: %d %q", line, code, text)
		}
	}
	if refused < 11 {
		t.Fatalf("only %d writing verbs in the tables; STOR, STOU, APPE, DELE, MKD, RMD, RNFR, RNTO, MFMT, SITE CHMOD, SITE UTIME at least", refused)
	}
}

// siteArgs are plausible arguments for the SITE subcommands.
var siteArgs = map[string]string{"CHMOD": "644 recent.txt", "UTIME": "20200101000000 recent.txt"}

// TestPendingStateFollowsTable drives every row through dispatch with a
// restart offset, an allocation and a rename source pending: each is ended by
// exactly the verbs whose row says so, and the rename source reaches only the
// handler of a verb with endsRename.
func TestPendingStateFollowsTable(t *testing.T) {
	sawRename := 0
	for _, c := range commandTable {
		fs := goldenFS()
		fs.put("b", "emptydir/", "", goldenNow)
		s := newBareSession(t, fs, &User{Name: "alice", Home: Home{Bucket: "b"}})
		const rest, allo, from = 7, 1000, "/recent.txt"
		s.restOffset, s.allocHint, s.renameFrom = rest, allo, from
		arg, ok := commandArgs[c.verb]
		if !ok {
			arg = "recent.txt"
		}
		switch c.verb {
		case "REST":
			arg = "9"
		case "RNFR":
			arg = "dir"
		}
		r := s.dispatch(c.verb, arg)
		if r.transfer != nil && r.transfer.release != nil {
			r.transfer.release()
		}
		if s.cmd != nil {
			t.Errorf("%s: the row is still current after dispatch", c.verb)
		}
		wantRest, wantAllo, wantFrom := int64(rest), int64(allo), ""
		if c.flags&endsRest != 0 {
			wantRest = 0
		}
		if c.flags&endsAllo != 0 {
			wantAllo = 0
		}
		switch c.verb { // the verbs that set the state
		case "REST":
			wantRest = 9
		case "ALLO":
			wantAllo = 100
		case "RNFR":
			wantFrom = "/dir"
		}
		if s.restOffset != wantRest || s.allocHint != wantAllo || s.renameFrom != wantFrom {
			t.Errorf("%s %s: REST %d ALLO %d RNFR %q left, want %d %d %q (%d %q)",
				c.verb, arg, s.restOffset, s.allocHint, s.renameFrom, wantRest, wantAllo, wantFrom, r.Code, r.Text())
		}
		if c.flags&endsRename != 0 {
			sawRename++
			if r.Code == codeBadSequence {
				t.Errorf("%s did not see the rename source: %d %q", c.verb, r.Code, r.Text())
			}
		}
	}
	// The verbs that end each: the transfers that take them, and REIN.
	for flag, want := range map[commandFlags][]string{
		endsRest:   {"APPE", "REIN", "RETR", "STOR", "STOU"},
		endsAllo:   {"APPE", "REIN", "STOR", "STOU"},
		endsRename: {"RNTO"},
	} {
		var got []string
		for _, c := range commandTable {
			if c.flags&flag != 0 {
				got = append(got, c.verb)
			}
		}
		if slices.Sort(got); !slices.Equal(got, want) {
			t.Errorf("flag %#x on %q, want %q", flag, got, want)
		}
	}
	if sawRename == 0 {
		t.Error("no row ends the rename source")
	}
}

// TestSITEHELPForReadOnlyUser: SITE's read-only rule is its subcommand's, so a
// read-only user gets SITE HELP and is refused SITE CHMOD.
func TestSITEHELPForReadOnlyUser(t *testing.T) {
	c := loginSession(t, goldenFS(), "reader")
	if text := c.expect("SITE HELP", codeHelp); !strings.Contains(text, "CHMOD") {
		t.Errorf("SITE HELP: %q", text)
	}
	c.expect("SITE chmod 644 recent.txt", codeActionNotTaken)
	c.expect("SITE NONESUCH", codeNotImplementedParam)
}

// TestNoVerbLiteralOutsideTable: a verb's facts are row fields, so no
// non-test file of the package but commands.go names a verb of the table in
// a string literal ("LIST", "PASS ****"); a handler shared by verbs reads
// s.cmd. Reply prose that mentions a verb ("use EPSV") is not a verb literal.
func TestNoVerbLiteralOutsideTable(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if name == "commands.go" || strings.HasSuffix(name, "_test.go") {
			continue
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			v, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatalf("%s: %v", fset.Position(lit.Pos()), err)
			}
			if verb := verbLiteral(v); verb != "" {
				t.Errorf("%s: %s names the verb %s outside the command table", fset.Position(lit.Pos()), lit.Value, verb)
			}
			return true
		})
	}
	if checked < 10 {
		t.Fatalf("only %d files checked", checked)
	}
}

// verbLiteral returns the verb (or alias) of the table that v names: v is the
// verb itself, or a command line that starts with it (no lower-case letter
// follows, as in "PASS ****" or "AUTH TLS").
func verbLiteral(v string) string {
	first, _, _ := strings.Cut(strings.TrimSpace(v), " ")
	if commands[first] == nil {
		return ""
	}
	if strings.TrimSpace(v) == first || !strings.ContainsFunc(v, unicode.IsLower) {
		return first
	}
	return ""
}

func TestVerbLiteral(t *testing.T) {
	for v, want := range map[string]string{
		"LIST": "LIST", "MLST ": "MLST", "PASS ****": "PASS", "SITE HELP": "SITE", "XPWD": "XPWD",
		"PASV not allowed after EPSV ALL; use EPSV": "", "UTF8": "", "SHA-256": "", "list": "",
	} {
		if got := verbLiteral(v); got != want {
			t.Errorf("verbLiteral(%q) = %q, want %q", v, got, want)
		}
	}
}

// loginCounter counts the login outcomes a session reports.
type loginCounter struct {
	NopObserver
	n atomic.Int32
}

func (o *loginCounter) Login(bool) { o.n.Add(1) }

// TestSecretAndLoginFollowTable drives every row after USER: the argument
// reaches the debug log unless the row says it is a secret, and the reply
// counts as a login outcome only when the row says so.
func TestSecretAndLoginFollowTable(t *testing.T) {
	secrets, logins := 0, 0
	for _, row := range commandTable {
		logs := &lockedBuffer{}
		obs := &loginCounter{}
		c := startSession(t, goldenFS(), func(cfg *Config) {
			cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			cfg.Observer = obs
		})
		c.expect("USER alice", 331)
		// testAuth takes any user with the password "pw"; the marker after it
		// makes the argument findable in the log.
		arg := "pw"
		if row.flags&secretArg == 0 {
			arg = "zq" + row.verb
		}
		code, _ := c.cmd(row.verb + " " + arg)
		// The line above is logged and observed by now: the session answers
		// one line after the other, or has closed after QUIT.
		if code == codeGoodbye {
			_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.r.ReadString('\n'); err == nil {
				t.Fatalf("%s: the session goes on after 221", row.verb)
			}
		} else {
			c.expect("NOOP", 200)
		}
		if logged := strings.Contains(logs.String(), row.verb+" "+arg); logged == (row.flags&secretArg != 0) {
			t.Errorf("%s: argument in the log: %v; row says secret: %v", row.verb, logged, row.flags&secretArg != 0)
		}
		if counted := obs.n.Load() > 0; counted != (row.flags&login != 0) {
			t.Errorf("%s (%d): counted as a login: %v; row says login: %v", row.verb, code, counted, row.flags&login != 0)
		}
		if row.flags&secretArg != 0 {
			secrets++
		}
		if row.flags&login != 0 {
			logins++
		}
	}
	if secrets == 0 || logins == 0 {
		t.Fatalf("%d rows with a secret argument, %d logins: PASS at least", secrets, logins)
	}
}
