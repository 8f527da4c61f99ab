package session

import (
	"bufio"
	"bytes"
	"path"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseLine feeds arbitrary bytes through the control connection's line
// reader, the command parser and the command table of a logged-in session. No
// input may panic a handler, a verb is one upper-case word, and every reply is
// well formed.
func FuzzParseLine(f *testing.F) {
	for _, seed := range []string{
		"USER alice\r\n", "RETR my file.txt\r\n", "LIST -la\r\n", "stor lower case\n",
		"\xff\xf4\xff\xf2ABOR\r\n", "OPTS MLST type;size;\r\n", "SITE CHMOD 644 x\r\n",
		"ALLO 10 R 5\r\n", "HASH \x00\r\n", "MFMT 20200101000000 a b\r\n", "  NOOP\r\n",
		"CWD ../../..\r\n", "MKD \xc3(\r\n", "REST -1\r\n", "TYPE L 8\r\n", "STAT -l /\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newBareSession(t, goldenFS(), &User{Name: "alice", Home: Home{Bucket: "b"}})
		r := bufio.NewReaderSize(bytes.NewReader(data), maxLineLength)
		for range 4 {
			l := readLine(r)
			if l.err != nil {
				return
			}
			if l.tooLong {
				continue
			}
			if strings.ContainsAny(l.text, "\n") {
				t.Fatalf("line %q still holds a line feed", l.text)
			}
			verb, arg := parseLine(l.text)
			if strings.Contains(verb, " ") || verb != asciiUpper(verb) || !strings.EqualFold(verb, l.text[:len(verb)]) {
				t.Fatalf("verb %q from %q", verb, l.text)
			}
			if len(verb)+len(arg) > len(l.text) {
				t.Fatalf("parse of %q grew: %q %q", l.text, verb, arg)
			}
			if s.user == nil { // REIN logged out: log in again
				s.user = &User{Name: "alice", Home: Home{Bucket: "b"}}
			}
			rep := s.dispatch(verb, arg)
			if rep.Code < 100 || rep.Code > 599 {
				t.Fatalf("%q: reply code %d", l.text, rep.Code)
			}
			wire := rep.String()
			if strings.Count(wire, "\r\n") != max(len(rep.Lines), 1) || strings.Count(wire, "\n") != strings.Count(wire, "\r\n") {
				t.Fatalf("%q: malformed reply %q", l.text, wire)
			}
			s.data.close()
		}
	})
}

// FuzzResolve checks what the README's "Paths" promises: whatever the working
// directory and argument, the cleaned path is canonical and absolute, and the
// object it maps to lies inside the user's home: no "..", NUL, backslash or run
// of slashes gets out.
func FuzzResolve(f *testing.F) {
	for _, seed := range [][2]string{
		{"/", "../../etc/passwd"}, {"/a/b", "..\\..\\..\\x"}, {"/", "a//b///c/"}, {"/x", "./../y/./z/.."},
		{"/", "a\x00b"}, {"/", "\\\\server\\share"}, {"/d", "/.."}, {"/", "ünï/çødé ✓"}, {"/", "..."},
		{"/", "a/../../b"}, {"/", "\xc3("}, {"/", strings.Repeat("a/", 600)}, {"/", "%2e%2e/x"},
	} {
		f.Add(seed[0], seed[1])
	}
	homes := []Home{{Bucket: "b"}, {Bucket: "b", Prefix: "users/alice"}, {}}
	f.Fuzz(func(t *testing.T, cwd, arg string) {
		cwd = cleanPath("/", cwd)
		vpath := cleanPath(cwd, arg)
		if !strings.HasPrefix(vpath, "/") || path.Clean(vpath) != vpath || strings.Contains(vpath, `\`) {
			t.Fatalf("cleanPath(%q, %q) = %q: not canonical", cwd, arg, vpath)
		}
		for _, el := range strings.Split(vpath, "/") {
			if el == ".." || el == "." {
				t.Fatalf("cleanPath(%q, %q) = %q keeps %q", cwd, arg, vpath, el)
			}
		}
		for _, h := range homes {
			loc, err := h.resolve(vpath)
			if err != nil {
				continue
			}
			if strings.ContainsRune(loc.key, 0) || strings.ContainsRune(loc.bucket, 0) || !utf8.ValidString(loc.key) {
				t.Fatalf("%v.resolve(%q) = %+v: NUL or invalid UTF-8 accepted", h, vpath, loc)
			}
			if strings.HasPrefix(loc.key, "/") || strings.Contains(loc.key, "//") || strings.HasSuffix(loc.key, "/") {
				t.Fatalf("%v.resolve(%q) = key %q: not canonical", h, vpath, loc.key)
			}
			for _, el := range strings.Split(loc.key, "/") {
				if el == ".." || el == "." {
					t.Fatalf("%v.resolve(%q) = key %q escapes", h, vpath, loc.key)
				}
			}
			switch {
			case h.Bucket != "" && loc.bucket != h.Bucket:
				t.Fatalf("%v.resolve(%q) left the home bucket: %+v", h, vpath, loc)
			case h.Prefix != "" && loc.key != h.Prefix && !strings.HasPrefix(loc.key, h.Prefix+"/"):
				t.Fatalf("%v.resolve(%q) left the home prefix: %+v", h, vpath, loc)
			case h.Bucket == "" && strings.Contains(loc.bucket, "/"):
				t.Fatalf("%v.resolve(%q) = bucket %q", h, vpath, loc.bucket)
			case len(loc.key) > maxKeyLength:
				t.Fatalf("%v.resolve(%q): key of %d bytes accepted", h, vpath, len(loc.key))
			}
			// The home's root is a directory and nothing else: only "/" resolves
			// to it, and every other path names a key strictly below the prefix,
			// so no command can reach the object whose key is the prefix itself
			// (or a bucket's empty key).
			if loc.isHomeRoot() != (vpath == "/") {
				t.Fatalf("%v.resolve(%q) = %+v: home root is %v", h, vpath, loc, loc.isHomeRoot())
			}
			if !loc.isRootDir() && (loc.key == "" || h.Prefix != "" && !strings.HasPrefix(loc.key, h.Prefix+"/")) {
				t.Fatalf("%v.resolve(%q) = %+v: an object location on a root", h, vpath, loc)
			}
			if loc.isRootDir() && h.Bucket != "" && vpath != "/" {
				t.Fatalf("%v.resolve(%q) = %+v: a root directory below the home's root", h, vpath, loc)
			}
		}
	})
}
