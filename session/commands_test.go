package session

import (
	"crypto/tls"
	"maps"
	"slices"
	"strings"
	"testing"
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

// TestReadOnlyRefusalFollowsTable drives the table: every verb whose row says it
// writes is refused to a read-only user; no other verb ever gets that refusal;
// and no verb, refused or not, changes storage for a read-only user.
func TestReadOnlyRefusalFollowsTable(t *testing.T) {
	refused := 0
	for _, name := range slices.Sorted(maps.Keys(commands)) {
		row := commands[name]
		arg, ok := commandArgs[name]
		if !ok {
			arg = "recent.txt"
		}
		line := strings.TrimSpace(name + " " + arg)
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
		if row.flags&writes != 0 {
			if code != codeActionNotTaken || !strings.Contains(text, readOnlyRefusal) {
				t.Errorf("%s as a read-only user: %d %q, want 550 %q", line, code, text, readOnlyRefusal)
			}
			refused++
		} else if strings.Contains(text, readOnlyRefusal) {
			t.Errorf("%s (not a writing verb) as a read-only user: %d %q", line, code, text)
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
	if refused < 10 {
		t.Fatalf("only %d writing verbs in the table; STOR, STOU, APPE, DELE, MKD, RMD, RNFR, RNTO, SITE, MFMT at least", refused)
	}
}
