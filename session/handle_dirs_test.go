package session

import (
	"strings"
	"testing"
)

func TestOPTSMLST(t *testing.T) {
	c := loginSession(t, goldenFS(), "alice")
	if text := c.expect("OPTS MLST type;modify;bogus;", 200); text != "MLST OPTS type;modify;" {
		t.Errorf("OPTS MLST: %q", text)
	}
	if text := c.expect("FEAT", 211); !strings.Contains(text, "MLST type*;size;modify*;perm;") {
		t.Errorf("FEAT after OPTS MLST: %q", text)
	}
	if text := c.expect("MLST recent.txt", 250); !strings.Contains(text, " type=file;modify=") || strings.Contains(text, "size=") {
		t.Errorf("MLST after OPTS MLST: %q", text)
	}
	if text := c.expect("OPTS MLST", 200); text != "MLST OPTS" {
		t.Errorf("OPTS MLST with no facts: %q", text)
	}
}

func TestRFC1123Aliases(t *testing.T) {
	c := loginSession(t, goldenFS(), "alice")
	c.expect("XMKD xdir", 257)
	c.expect("XCWD xdir", 250)
	if text := c.expect("XPWD", 257); !strings.HasPrefix(text, `"/xdir"`) {
		t.Errorf("XPWD: %q", text)
	}
	c.expect("XCUP", 250)
	c.expect("XRMD xdir", 250)
	c.expect("XCWD xdir", 550)
}

func TestListGlob(t *testing.T) {
	fixedClock(t)
	c := loginSession(t, goldenFS(), "alice")
	for cmd, want := range map[string]string{
		"NLST *.txt":       "recent.txt\r\nÜnïcødé ✓.txt\r\n",
		"NLST dir/c*":      "dir/child\r\n",
		"NLST /dir/[a-c]*": "/dir/child\r\n",
		"NLST *.none":      "",
		"NLST [":           "",
	} {
		data, code, text := c.download(cmd)
		if code != 226 || data != want {
			t.Errorf("%s: %d %q, data %q; want %q", cmd, code, text, data, want)
		}
	}
	data, code, _ := c.download("LIST -l rec*")
	if code != 226 || !strings.HasSuffix(data, " recent.txt\r\n") || strings.Count(data, "\r\n") != 1 {
		t.Errorf("LIST rec*: %d %q", code, data)
	}
	if _, code, _ := c.download("NLST nodir/*.txt"); code != 550 {
		t.Errorf("NLST in a missing directory: %d, want 550", code)
	}
}
