package storage

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	smithytime "github.com/aws/smithy-go/time"
)

// stdListResult is the ListObjectsV2 answer as encoding/xml reads it: the
// reference the decoder is held to.
type stdListResult struct {
	XMLName               xml.Name `xml:"ListBucketResult"`
	IsTruncated           string
	NextContinuationToken string
	Contents              []struct{ Key, ETag, Size, LastModified string }
	CommonPrefixes        []struct{ Prefix string }
}

// stdListPage decodes doc with encoding/xml and converts the fields as the
// decoder does.
func stdListPage(doc []byte) (*listPage, error) {
	var r stdListResult
	if err := xml.Unmarshal(doc, &r); err != nil {
		return nil, err
	}
	p := &listPage{next: r.NextContinuationToken}
	var err error
	if p.truncated, err = parseListBool([]byte(r.IsTruncated)); err != nil {
		return nil, err
	}
	for _, c := range r.Contents {
		o := listObject{etag: strings.Trim(c.ETag, `"`)}
		if o.key, err = url.QueryUnescape(c.Key); err != nil {
			return nil, err
		}
		if o.size, err = parseListSize([]byte(c.Size)); err != nil {
			return nil, err
		}
		if c.LastModified != "" {
			if o.modTime, err = smithytime.ParseDateTime(c.LastModified); err != nil {
				return nil, err
			}
		}
		p.objects = append(p.objects, o)
	}
	for _, c := range r.CommonPrefixes {
		s, err := url.QueryUnescape(c.Prefix)
		if err != nil {
			return nil, err
		}
		p.prefixes = append(p.prefixes, s)
	}
	return p, nil
}

func decodeListDoc(t testing.TB, doc []byte, r io.Reader) (*listPage, error) {
	t.Helper()
	if r == nil {
		r = bytes.NewReader(doc)
	}
	p := &listPage{}
	return p, newListDecoder().decode(r, p)
}

// samePage compares two pages, empty and nil slices alike.
func samePage(a, b *listPage) bool {
	norm := func(p *listPage) listPage {
		c := *p
		if len(c.objects) == 0 {
			c.objects = nil
		}
		if len(c.prefixes) == 0 {
			c.prefixes = nil
		}
		return c
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// s3Escape encodes a key as S3 does for EncodingType=url, then as XML text.
func s3Escape(key string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(url.QueryEscape(key)))
	return b.String()
}

// oddKeys are names a listing must give back exactly.
var oddKeys = []string{
	"plain", "with space", "per%cent", "plus+sign", "amp&er<sand>", `quo"te'`, "ünïcødé-日本",
	"ctl\x01\x1f\x7f", "tab\tnl\ncr\r", "]]>", "a;b=c?d#e", "~!@$^*()[]{}|\\`", "emoji-😀",
}

// listDoc is a ListBucketResult in S3's shape (MinIO's and AWS's fields).
func listDoc(prefix string, keys, prefixes []string, truncated bool, next string) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bk</Name>`)
	fmt.Fprintf(&b, "<Prefix>%s</Prefix><KeyCount>%d</KeyCount><MaxKeys>1000</MaxKeys><Delimiter>%%2F</Delimiter>", s3Escape(prefix), len(keys)+len(prefixes))
	fmt.Fprintf(&b, "<IsTruncated>%t</IsTruncated><EncodingType>url</EncodingType>", truncated)
	if next != "" {
		fmt.Fprintf(&b, "<NextContinuationToken>%s</NextContinuationToken>", next)
	}
	for i, k := range keys {
		fmt.Fprintf(&b, `<Contents><Key>%s</Key><LastModified>2026-12-0%dT10:11:12.%03dZ</LastModified><ETag>&#34;%032x&#34;</ETag><Size>%d</Size>`+
			`<Owner><ID>02d6176db174dc93cb1b899f7c6078f08654445fe8cf1b6ce98d8855f66bdbf4</ID><DisplayName>minio</DisplayName></Owner><StorageClass>STANDARD</StorageClass></Contents>`,
			s3Escape(prefix+k), 1+i%9, i%1000, i, i*1000)
	}
	for _, p := range prefixes {
		fmt.Fprintf(&b, "<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>", s3Escape(prefix+p+"/"))
	}
	b.WriteString("</ListBucketResult>")
	return []byte(b.String())
}

func TestListDecoderOddNames(t *testing.T) {
	doc := listDoc("dir with space/", oddKeys, []string{"sub dir", "50%", "&amp"}, true, "tok/en+=")
	for name, r := range map[string]io.Reader{
		"whole":        nil,
		"byte by byte": iotest.OneByteReader(bytes.NewReader(doc)),
		"half":         iotest.HalfReader(bytes.NewReader(doc)),
	} {
		p, err := decodeListDoc(t, doc, r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(p.objects) != len(oddKeys) {
			t.Fatalf("%s: %d objects, want %d", name, len(p.objects), len(oddKeys))
		}
		for i, k := range oddKeys {
			o := p.objects[i]
			if o.key != "dir with space/"+k || o.size != int64(i*1000) || o.etag != fmt.Sprintf("%032x", i) {
				t.Errorf("%s: object %d = %+v, want key %q", name, i, o, "dir with space/"+k)
			}
			want := time.Date(2026, 12, 1+i%9, 10, 11, 12, (i%1000)*int(time.Millisecond), time.UTC)
			if !o.modTime.Equal(want) {
				t.Errorf("%s: object %d time %v, want %v", name, i, o.modTime, want)
			}
		}
		if !reflect.DeepEqual(p.prefixes, []string{"dir with space/sub dir/", "dir with space/50%/", "dir with space/&amp/"}) {
			t.Errorf("%s: prefixes %q", name, p.prefixes)
		}
		if !p.truncated || p.next != "tok/en+=" {
			t.Errorf("%s: truncated %v next %q", name, p.truncated, p.next)
		}
		want, err := stdListPage(doc)
		if err != nil {
			t.Fatal(err)
		}
		if !samePage(p, want) {
			t.Errorf("%s: decoder and encoding/xml disagree:\n%+v\n%+v", name, p, want)
		}
	}
}

// TestListDecoderLargeText: texts longer than the reader's buffer, and
// whitespace between every element, as pretty-printing servers send.
func TestListDecoderLargeText(t *testing.T) {
	long := strings.Repeat("x/y z%", 1000/6*10) // past 1,024 bytes escaped; the decoder has no key limit of its own
	doc := listDoc("", []string{long, "b"}, nil, false, strings.Repeat("T", 40000))
	doc = bytes.ReplaceAll(doc, []byte("><"), []byte(">\n  <"))
	p, err := decodeListDoc(t, doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := stdListPage(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !samePage(p, want) || p.objects[0].key != long || len(p.next) != 40000 {
		t.Fatalf("decoder and encoding/xml disagree:\n%+v\n%+v", p, want)
	}
}

func TestListDecoderRefuses(t *testing.T) {
	good := string(listDoc("", []string{"a"}, nil, false, ""))
	for name, doc := range map[string]string{
		"error document":   `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchBucket</Code></Error>`,
		"truncated":        good[:len(good)-30],
		"empty":            "",
		"bad escape":       strings.Replace(good, "<Key>a</Key>", "<Key>a%zz</Key>", 1),
		"bad size":         strings.Replace(good, "<Size>0</Size>", "<Size>1e3</Size>", 1),
		"bad time":         strings.Replace(good, "2026-12-01T10:11:12.000Z", "yesterday", 1),
		"bad bool":         strings.Replace(good, "<IsTruncated>false", "<IsTruncated>maybe", 1),
		"mismatched tag":   strings.Replace(good, "</Key>", "</Kex>", 1),
		"unknown entity":   strings.Replace(good, "&#34;", "&nbsp;", 1),
		"control char":     strings.Replace(good, "<Key>a", "<Key>a\x01", 1),
		"doctype":          strings.Replace(good, "\n", "\n<!DOCTYPE x>", 1),
		"latin-1":          strings.Replace(good, "UTF-8", "ISO-8859-1", 1),
		"invalid utf-8":    strings.Replace(good, "<Key>a", "<Key>a\xff", 1),
		"cdata terminator": strings.Replace(good, "<Key>a", "<Key>a]]>", 1),
	} {
		if _, err := decodeListDoc(t, []byte(doc), nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestListDecoderAsEncodingXML: texts written with entities, character
// references, CDATA and comments read as encoding/xml reads them.
func TestListDecoderAsEncodingXML(t *testing.T) {
	for _, doc := range []string{
		`<ListBucketResult><Contents><Key>a<!-- c -->b<![CDATA[<&>]]>c&#x41;&#66;&lt;</Key><Size>7</Size></Contents></ListBucketResult>`,
		`<ListBucketResult a="1" b='&amp;2'><Contents><Key><x>skipped</x>kept</Key><Key>last</Key></Contents><Contents/><CommonPrefixes><Prefix/></CommonPrefixes></ListBucketResult>`,
		"<ListBucketResult>\r\n<Contents><Key>l1\r\nl2\rl3&#13;</Key></Contents></ListBucketResult>",
		`<ListBucketResult/>`,
		`<ListBucketResult><IsTruncated>1</IsTruncated><Other><Contents><Key>no</Key></Contents></Other></ListBucketResult>trailing`,
	} {
		got, err := decodeListDoc(t, []byte(doc), nil)
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		want, err := stdListPage([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if !samePage(got, want) {
			t.Errorf("%q:\n decoder %+v\n encoding/xml %+v", doc, got, want)
		}
	}
}

// FuzzListDecoder: whatever the decoder accepts, encoding/xml reads the same
// way; it never panics.
func FuzzListDecoder(f *testing.F) {
	f.Add(listDoc("d/", oddKeys[:4], []string{"s"}, true, "next"))
	f.Add(listDoc("", nil, nil, false, ""))
	f.Add([]byte(`<ListBucketResult><Contents><Key>a<!-- c -->b<![CDATA[<&>]]>c&#x41;</Key></Contents></ListBucketResult>`))
	f.Add([]byte("<?xml version='1.0'?>\n<ListBucketResult x:y=\"1\">\r\n<Contents><Key>a\r\nb</Key><LastModified>2026-02-29T00:00:00Z</LastModified></Contents></ListBucketResult>"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		got, err := decodeListDoc(t, doc, iotest.HalfReader(bytes.NewReader(doc)))
		if err != nil {
			return
		}
		want, err := stdListPage(doc)
		if err != nil {
			t.Fatalf("decoder accepted what encoding/xml refuses (%v): %q", err, doc)
		}
		if !samePage(got, want) {
			t.Fatalf("%q:\n decoder %+v\n encoding/xml %+v", doc, got, want)
		}
	})
}

// FuzzListTime: the fast path for S3's time stamps reads them as the SDK does.
func FuzzListTime(f *testing.F) {
	for _, s := range []string{"2026-12-06T06:25:01.123Z", "2024-02-29T23:59:59.999Z", "2023-02-29T00:00:00.000Z", "2026-13-01T00:00:00.000Z", "0000-01-01T00:00:00.000Z", "2026-04-31T00:00:00.000Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseMillisUTC([]byte(s))
		if !ok {
			return
		}
		want, err := smithytime.ParseDateTime(s)
		if err != nil || !got.Equal(want) || got.Location() != want.Location() {
			t.Fatalf("%q: fast path %v, SDK %v (%v)", s, got, want, err)
		}
	})
}

// TestListDecoderRandomPages: generated pages of random names decode to
// exactly those names, as encoding/xml reads them.
func TestListDecoderRandomPages(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("ab %+&<>\"'\x01\t\r\n/é日😀;=?#]")
	d := newListDecoder()
	for range 200 {
		keys := make([]string, rng.IntN(20))
		for i := range keys {
			r := make([]rune, 1+rng.IntN(30))
			for j := range r {
				r[j] = alphabet[rng.IntN(len(alphabet))]
			}
			keys[i] = string(r)
		}
		doc := listDoc("p/", keys, nil, rng.IntN(2) == 0, "")
		p := &listPage{}
		if err := d.decode(bytes.NewReader(doc), p); err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		for i, k := range keys {
			if p.objects[i].key != "p/"+k {
				t.Fatalf("key %q came back as %q", "p/"+k, p.objects[i].key)
			}
		}
	}
}

// BenchmarkListDecoder: CPU and allocations per 1,000-key page (compare
// BenchmarkListPage, the whole request through the SDK).
func BenchmarkListDecoder(b *testing.B) {
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%07d", i)
	}
	doc := listDoc("w5big/", keys, nil, true, "token")
	d := newListDecoder()
	p := &listPage{}
	b.ReportAllocs()
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if err := d.decode(bytes.NewReader(doc), p); err != nil {
			b.Fatal(err)
		}
	}
}
