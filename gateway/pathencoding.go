package gateway

import (
	"fmt"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
)

// PathEncoding is the code page of clients that send names that are not UTF-8
// (FTP2S3_PATH_ENCODING): any IANA name or alias golang.org/x/text knows
// (windows-1252, iso-8859-1, cp437, cp850, shift_jis, gbk, …), and cp125x for
// windows-125x as Windows calls them. utf-8 (the default) means no code page.
type PathEncoding struct {
	Name     string
	Encoding encoding.Encoding // nil for UTF-8
}

// UnmarshalText looks the name up.
func (p *PathEncoding) UnmarshalText(b []byte) error {
	name := strings.ToLower(strings.TrimSpace(string(b)))
	if name == "" || name == "utf-8" || name == "utf8" {
		*p = PathEncoding{Name: "utf-8"}
		return nil
	}
	lookup := name
	if strings.HasPrefix(name, "cp125") {
		lookup = "windows-" + strings.TrimPrefix(name, "cp")
	}
	enc, err := ianaindex.IANA.Encoding(lookup)
	if err != nil || enc == nil {
		return fmt.Errorf("%q is not an encoding golang.org/x/text knows (e.g. windows-1252, iso-8859-1, cp437, cp850, shift_jis, gbk)", string(b))
	}
	if enc == unicode.UTF8 {
		enc = nil
	}
	*p = PathEncoding{Name: name, Encoding: enc}
	return nil
}
