package storage

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestBasePartSizeFitsHint(t *testing.T) {
	b := New(nil, Options{PartSize: 16 << 20, MemoryLimit: 1 << 30})
	for _, hint := range []int64{0, 1, 100 << 20, 160 << 30, 1 << 40, MaxObjectSize} {
		size := b.basePartSize(hint)
		if size < 16<<20 || size > b.allocCap() {
			t.Fatalf("hint %d: part size %d outside [16 MiB, the ALLO cap %d]", hint, size, b.allocCap())
		}
		var total int64
		for n := int32(1); n <= MaxParts; n++ {
			total += b.partSizeFor(size, n)
		}
		if total < hint {
			t.Fatalf("hint %d: %d parts from %d bytes hold only %d bytes", hint, MaxParts, size, total)
		}
	}
	if got := b.basePartSize(100 << 20); got != 16<<20 {
		t.Fatalf("a small hint changed the part size to %d", got)
	}
}

// ALLO may not size a part beyond an eighth of the parts pool (issue 20): a
// 1 TB ALLO under a 128 MiB budget used to take a 96 MiB buffer before any
// data arrived; now its first buffer is the configured part size.
func TestALLOCapped(t *testing.T) {
	b := New(nil, Options{PartSize: 16 << 20, MemoryLimit: 128 << 20})
	if got := b.basePartSize(1e12); got != 16<<20 {
		t.Fatalf("ALLO 1 TB under a 128 MiB budget: first part of %d bytes, want 16 MiB", got)
	}
	b = New(nil, Options{PartSize: 5 << 20, MemoryLimit: 1 << 30})
	if got, limit := b.basePartSize(MaxObjectSize), b.mem.partLimit()/8; got > limit {
		t.Fatalf("ALLO 5 TiB: first part of %d bytes, over an eighth of the pool (%d)", got, limit)
	}
}

// ALLO is a hint that cannot claim more than the budget: a 5 TiB ALLO under a
// 128 MiB budget gets parts of at most 128 MiB, and the growing schedule stops
// there too.
func TestPartSizeBoundedByBudget(t *testing.T) {
	b := New(nil, Options{PartSize: 16 << 20, MemoryLimit: 128 << 20})
	if got := b.basePartSize(MaxObjectSize); got > 128<<20 {
		t.Fatalf("ALLO 5 TiB under a 128 MiB budget: part size %d", got)
	}
	for n := int32(1); n <= MaxParts; n += 100 {
		if got := b.partSizeFor(b.basePartSize(0), n); got > 128<<20 || got < 16<<20 {
			t.Fatalf("part %d: size %d outside [16 MiB, 128 MiB]", n, got)
		}
	}
}

// TestPartGrowthReachesMaxObject: with no size known and the default 1 GiB
// budget, the growing schedule still fits S3's largest object in 10,000 parts
// from the default part size.
func TestPartGrowthReachesMaxObject(t *testing.T) {
	b := New(nil, Options{PartSize: 16 << 20, MemoryLimit: 1 << 30})
	var total int64
	n := int32(1)
	for ; n <= MaxParts && total < MaxObjectSize; n++ {
		size := b.partSizeFor(16<<20, n)
		if size > 1<<30 {
			t.Fatalf("part %d of %d bytes exceeds the budget", n, size)
		}
		total += size
	}
	if total < MaxObjectSize {
		t.Fatalf("10,000 parts hold only %d bytes", total)
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

// Parts finish out of order; CompleteMultipartUpload wants them ascending.
func TestSortParts(t *testing.T) {
	var parts []types.CompletedPart
	for _, n := range []int32{3, 1, 4, 2, 6, 5} {
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: aws.String(fmt.Sprint("e", n))})
	}
	for i, p := range sortParts(parts) {
		if n := aws.ToInt32(p.PartNumber); n != int32(i+1) || aws.ToString(p.ETag) != fmt.Sprint("e", n) {
			t.Fatalf("position %d holds part %d (%s)", i, n, aws.ToString(p.ETag))
		}
	}
}
