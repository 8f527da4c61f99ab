package storage

import "testing"

func TestBasePartSizeFitsHint(t *testing.T) {
	b := New(nil, Options{PartSize: 16 << 20})
	for _, hint := range []int64{0, 1, 100 << 20, 160 << 30, 1 << 40, MaxObjectSize} {
		size := b.basePartSize(hint)
		if size < 16<<20 || size > MaxPartSize {
			t.Fatalf("hint %d: part size %d outside [16 MiB, 5 GiB]", hint, size)
		}
		if parts := (hint + size - 1) / size; parts > MaxParts {
			t.Fatalf("hint %d: part size %d needs %d parts", hint, size, parts)
		}
	}
	if got := b.basePartSize(100 << 20); got != 16<<20 {
		t.Fatalf("a small hint changed the part size to %d", got)
	}
}

// TestPartGrowthReachesMaxObject: with no size known, the growing schedule still
// fits S3's largest object in 10,000 parts from the smallest part size.
func TestPartGrowthReachesMaxObject(t *testing.T) {
	for _, base := range []int64{MinPartSize, 16 << 20} {
		var total int64
		n := int32(1)
		for ; n <= MaxParts && total < MaxObjectSize; n++ {
			total += partSizeFor(base, n)
		}
		if total < MaxObjectSize {
			t.Fatalf("base %d: 10,000 parts hold only %d bytes", base, total)
		}
	}
}

func TestCopySource(t *testing.T) {
	for key, want := range map[string]string{
		"a/b c/ü?.txt": "bkt/a/b%20c/%C3%BC%3F.txt",
		"plain":        "bkt/plain",
		"x+y/#1":       "bkt/x+y/%231",
	} {
		if got := copySource("bkt", key); got != want {
			t.Errorf("copySource(%q) = %q, want %q", key, got, want)
		}
	}
}
