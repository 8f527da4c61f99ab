package ops

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoSiblingImports: ops reads what it watches through its own types and
// functions (DataStats, the Watch* methods), so it imports no other gateway/*
// package and the wiring stays in gateway.
func TestNoSiblingImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/ftp2s3/ftp2s3/gateway/") {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}
