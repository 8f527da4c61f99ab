package gateway

import "testing"

func TestPathEncodingParse(t *testing.T) {
	for _, name := range []string{"windows-1252", "cp1252", "ISO-8859-1", "cp437", "cp850", "shift_jis", "gbk"} {
		var p PathEncoding
		if err := p.UnmarshalText([]byte(name)); err != nil || p.Encoding == nil {
			t.Errorf("%s: %v, encoding %v", name, err, p.Encoding)
		}
	}
	for _, name := range []string{"utf-8", "UTF8", ""} {
		var p PathEncoding
		if err := p.UnmarshalText([]byte(name)); err != nil || p.Encoding != nil {
			t.Errorf("%q: %v, encoding %v; want UTF-8 (nil)", name, err, p.Encoding)
		}
	}
	var p PathEncoding
	if err := p.UnmarshalText([]byte("klingon")); err == nil {
		t.Error("klingon parsed")
	}
	if DefaultConfig().PathEncoding.Encoding != nil {
		t.Error("default is not UTF-8")
	}
}
