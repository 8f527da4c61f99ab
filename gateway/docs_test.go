package gateway

import (
	"bufio"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The documentation is part of the interface: docs/configuration.md is where
// an operator looks a variable up, so it must name exactly the variables
// Config reads, each with the default its tag gives.

var envName = regexp.MustCompile(`FTP2S3_[A-Z0-9_]*[A-Z0-9]`)

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// configurationRows maps each variable of the table in docs/configuration.md
// to its row's last cell (the default).
func configurationRows(t *testing.T, doc string) map[string]string {
	t.Helper()
	rows := map[string]string{}
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "| `FTP2S3_") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) < 3 {
			t.Errorf("configuration row with fewer than 3 cells: %s", line)
			continue
		}
		for _, name := range envName.FindAllString(cells[0], -1) {
			if _, dup := rows[name]; dup {
				t.Errorf("%s has two rows in docs/configuration.md", name)
			}
			rows[name] = cells[len(cells)-1]
		}
	}
	return rows
}

func TestDocsConfigurationListsEveryVariable(t *testing.T) {
	doc := readRepoFile(t, "docs/configuration.md")
	rows := configurationRows(t, doc)
	known := KnownVariables()
	for _, name := range known {
		if _, ok := rows[name]; !ok {
			t.Errorf("%s is read by gateway.Config but has no row in docs/configuration.md", name)
		}
	}
	for name := range rows {
		if !slices.Contains(known, name) {
			t.Errorf("docs/configuration.md documents %s, which gateway.Config does not read", name)
		}
	}
	// Prose on that page names only real variables too.
	for _, name := range envName.FindAllString(doc, -1) {
		if !slices.Contains(known, name) {
			t.Errorf("docs/configuration.md mentions %s, which gateway.Config does not read", name)
		}
	}
	// The default a row gives is the tag's, where the tag has one (the others
	// are computed, such as the memory limit, or empty).
	ct := reflect.TypeFor[Config]()
	for i := range ct.NumField() {
		f := ct.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		def, ok := f.Tag.Lookup("envDefault")
		cell, documented := rows[name]
		if !ok || def == "" || !documented {
			continue
		}
		if !strings.Contains(cell, "`"+def+"`") {
			t.Errorf("docs/configuration.md gives %s the default %q; the code's is `%s`", name, cell, def)
		}
	}
}

// TestDocsReadmeNamesRealVariables: the README's short table and its prose
// name only variables the gateway reads.
func TestDocsReadmeNamesRealVariables(t *testing.T) {
	known := KnownVariables()
	for _, name := range envName.FindAllString(readRepoFile(t, "README.md"), -1) {
		if !slices.Contains(known, name) {
			t.Errorf("README.md mentions %s, which gateway.Config does not read", name)
		}
	}
}

// shellDocs are the pages whose shell blocks say whether a test runs them.
var shellDocs = []string{
	"README.md", "docs/configuration.md", "docs/ftps.md", "docs/networking.md",
	"docs/storage.md", "docs/operations.md", "docs/containers.md",
	"docs/commands.md", "docs/development.md", "docs/benchmarks.md",
}

var testName = regexp.MustCompile(`\bTest[A-Z][A-Za-z0-9_]*`)

// TestDocsShellBlocksSayWhetherTheyRun: every shell block of those pages
// starts with "# tested by: TestX…" naming tests that exist, or
// "# not run here…" with a reason, so that a reader knows which commands the
// suite vouches for.
func TestDocsShellBlocksSayWhetherTheyRun(t *testing.T) {
	tests := testFunctions(t)
	for _, rel := range shellDocs {
		sc := bufio.NewScanner(strings.NewReader(readRepoFile(t, rel)))
		inBlock, first := false, false
		n := 0
		for sc.Scan() {
			n++
			line := strings.TrimSpace(sc.Text()) // blocks inside list items are indented
			switch {
			case !inBlock && (line == "```sh" || line == "```bash" || line == "```shell"):
				inBlock, first = true, true
				continue
			case strings.HasPrefix(line, "```"):
				inBlock = false
				continue
			}
			if !inBlock || !first {
				continue
			}
			first = false
			switch {
			case strings.HasPrefix(line, "# tested by: "):
				names := testName.FindAllString(line, -1)
				if len(names) == 0 && !strings.Contains(line, ".ci/run") {
					t.Errorf("%s:%d: %q names no test", rel, n, line)
				}
				for _, name := range names {
					if !tests[name] {
						t.Errorf("%s:%d: %s is not a test of this repository", rel, n, name)
					}
				}
			case strings.HasPrefix(line, "# not run here"):
				if len(strings.TrimSpace(strings.TrimPrefix(line, "# not run here"))) < 10 {
					t.Errorf("%s:%d: %q gives no reason", rel, n, line)
				}
			default:
				t.Errorf("%s:%d: shell block starts with %q, not \"# tested by: …\" or \"# not run here: …\"", rel, n, line)
			}
		}
	}
}

// testFunctions is the set of Test functions declared in the repository's
// test files.
func testFunctions(t *testing.T) map[string]bool {
	t.Helper()
	decl := regexp.MustCompile(`(?m)^func (Test[A-Za-z0-9_]*)\(`)
	found := map[string]bool{}
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == ".local") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range decl.FindAllStringSubmatch(string(b), -1) {
			found[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestDocsLinksResolve: every relative link of those pages names a file that
// exists and, with a #fragment, a heading of that file (GitHub's anchors:
// lower case, punctuation dropped, spaces as hyphens). The pages other
// helpers write (security.md, …) are only required to exist once merged, so a
// link to a missing page of that list is let through.
func TestDocsLinksResolve(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	pending := []string{"docs/security.md", "docs/memory-budget.md", "docs/keepalives-and-timeouts.md",
		"docs/uploads-and-names.md", "docs/identity.md", "docs/events.md"}
	for _, rel := range shellDocs {
		for _, m := range link.FindAllStringSubmatch(readRepoFile(t, rel), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, frag, _ := strings.Cut(target, "#")
			path := rel
			if file != "" {
				path = filepath.ToSlash(filepath.Join(filepath.Dir(rel), file))
			}
			b, err := os.ReadFile(filepath.Join("..", path))
			if err != nil {
				if !slices.Contains(pending, path) {
					t.Errorf("%s: link %s: %v", rel, target, err)
				}
				continue
			}
			if frag != "" && !slices.Contains(anchors(string(b)), frag) {
				t.Errorf("%s: link %s: %s has no heading with that anchor", rel, target, path)
			}
		}
	}
}

// anchors are the GitHub anchors of a Markdown page's headings.
func anchors(page string) []string {
	var out []string
	drop := regexp.MustCompile("[^a-z0-9 _-]")
	inCode := false
	for _, line := range strings.Split(page, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inCode = !inCode
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		out = append(out, strings.ReplaceAll(drop.ReplaceAllString(h, ""), " ", "-"))
	}
	return out
}
