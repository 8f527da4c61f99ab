package session

import (
	"slices"
	"strings"
	"testing"
)

func TestCommandTableRows(t *testing.T) {
	for verb, c := range commands {
		if c.handler == nil {
			t.Errorf("%s has no handler", verb)
		}
		if c.help == "" {
			t.Errorf("%s has no HELP syntax", verb)
		}
		if verb != strings.ToUpper(verb) {
			t.Errorf("%s is not upper case", verb)
		}
	}
	for _, alias := range []string{"XPWD", "XCWD", "XCUP", "XMKD", "XRMD"} {
		if _, ok := commands[alias]; !ok {
			t.Errorf("RFC 1123 alias %s missing", alias)
		}
	}
}

func TestBuildCommandsRejectsDuplicates(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a verb registered twice did not panic")
		}
	}()
	row := command{handler: (*Session).handleNOOP, help: "NOOP"}
	buildCommands([]map[string]command{{"NOOP": row}, {"NOOP": row}})
}

func TestFeatureLinesSortedAndUnique(t *testing.T) {
	f := featureLines()
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
