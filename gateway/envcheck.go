package gateway

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// envPrefix is the prefix of every variable the gateway reads itself (the AWS
// SDK reads the AWS_* ones).
const envPrefix = "FTP2S3_"

// KnownVariables returns every FTP2S3_* variable the gateway reads, sorted. It
// comes from Config's env tags, so a new setting is known the moment it is
// declared.
func KnownVariables() []string {
	var names []string
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("env"), ","); strings.HasPrefix(name, envPrefix) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// UnknownVariable is an FTP2S3_* variable set in the environment that the
// gateway does not read: almost always a misspelling, which would otherwise
// silently leave the setting at its default.
type UnknownVariable struct {
	Name    string
	Closest string // the known name nearest to Name by edit distance
}

func (u UnknownVariable) Error() string {
	return fmt.Sprintf("%s is not a variable ftp2s3 reads (did you mean %s?)", u.Name, u.Closest)
}

// UnknownVariables lists the FTP2S3_* names in environ (os.Environ's
// "NAME=value" form) that the gateway does not read, in the order given, each
// with the closest known name.
func UnknownVariables(environ []string) []UnknownVariable {
	known := KnownVariables()
	var out []UnknownVariable
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || slices.Contains(known, name) {
			continue
		}
		u := UnknownVariable{Name: name}
		best := -1
		for _, k := range known {
			if d := editDistance(name, k); best < 0 || d < best {
				best, u.Closest = d, k
			}
		}
		out = append(out, u)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b (insertions,
// deletions and substitutions of one byte each cost 1); variable names are
// ASCII.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
