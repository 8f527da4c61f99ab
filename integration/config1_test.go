package integration

import (
	"encoding"
	"fmt"
)

// mustParse is s parsed the way the environment fills a typed gateway.Config
// field (encoding.TextUnmarshaler), for tests that set such a field
// directly: c.ProxyTrusted = mustParse[gateway.Prefixes]("127.0.0.1/32").
func mustParse[T any, P interface {
	*T
	encoding.TextUnmarshaler
}](s string) T {
	var v T
	if err := P(&v).UnmarshalText([]byte(s)); err != nil {
		panic(fmt.Sprintf("%T %q: %v", v, s, err))
	}
	return v
}
