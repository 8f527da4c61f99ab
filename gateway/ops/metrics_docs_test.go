package ops

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// metricLiteral is a string literal starting with the gateway's metric prefix,
// with what stands right before and after it (to spot names built from parts).
var metricLiteral = regexp.MustCompile(`(\+\s*)?"(ftp2s3_[^"]*)"(\s*\+)?`)

// sourceMetricNames are the metric names this package registers: a text scan
// of its non-test Go files for "ftp2s3_…" literals. A literal that is only a
// part of a name (joined with +, a format, or a Namespace/Subsystem option)
// fails the test, so that no metric escapes the scan.
func sourceMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	whole := regexp.MustCompile(`^ftp2s3_[a-z0-9_]*[a-z0-9]$`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if regexp.MustCompile(`\b(Namespace|Subsystem):`).Match(b) {
			t.Errorf("%s builds metric names from Namespace/Subsystem: extend this scan", f)
		}
		for _, m := range metricLiteral.FindAllSubmatch(b, -1) {
			name := string(m[2])
			if len(m[1]) > 0 || len(m[3]) > 0 || !whole.MatchString(name) {
				t.Errorf("%s: %q is part of a metric name built from parts: extend this scan", f, name)
				continue
			}
			names[name] = true
		}
	}
	if len(names) < 40 {
		t.Fatalf("found only %d metric names in gateway/ops", len(names))
	}
	return names
}

// TestMetricsDocumented: every metric the gateway registers has a row in
// docs/operations.md's metrics table, and every metric the table names is
// one the gateway registers.
func TestMetricsDocumented(t *testing.T) {
	names := sourceMetricNames(t)
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	cell := regexp.MustCompile("`(ftp2s3_[a-z0-9_]+)`")
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `ftp2s3_") {
			continue
		}
		first := strings.SplitN(line, "|", 3)[1] // the metric column
		for _, m := range cell.FindAllStringSubmatch(first, -1) {
			documented[m[1]] = true
		}
	}
	var missing, unknown []string
	for n := range names {
		if !documented[n] {
			missing = append(missing, n)
		}
	}
	for n := range documented {
		if !names[n] {
			unknown = append(unknown, n)
		}
	}
	sort.Strings(missing)
	sort.Strings(unknown)
	for _, n := range missing {
		t.Errorf("metric %s is registered in gateway/ops but has no row in docs/operations.md", n)
	}
	for _, n := range unknown {
		t.Errorf("docs/operations.md lists metric %s, which gateway/ops does not register", n)
	}
}
