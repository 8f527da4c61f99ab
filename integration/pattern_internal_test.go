package integration

import (
	"bytes"
	"io"
	"testing"
)

// TestPatternReadSizes: the pattern is the same byte stream however it is read,
// and a shorter pattern of a seed is a prefix of a longer one (the resume and
// append tests rely on both).
func TestPatternReadSizes(t *testing.T) {
	t.Parallel()
	whole, err := io.ReadAll(io.LimitReader(newPattern(1000, 5), 2000))
	if err != nil || len(whole) != 1000 {
		t.Fatalf("read %d bytes, %v", len(whole), err)
	}
	for _, size := range []int{1, 3, 7, 8, 9, 64, 999} {
		p := newPattern(1000, 5)
		var got bytes.Buffer
		buf := make([]byte, size)
		for {
			n, err := p.Read(buf)
			got.Write(buf[:n])
			if err == io.EOF {
				break
			}
		}
		if !bytes.Equal(got.Bytes(), whole) {
			t.Fatalf("read %d bytes at a time: a different stream", size)
		}
	}
	short, _ := io.ReadAll(newPattern(333, 5))
	if !bytes.Equal(short, whole[:333]) {
		t.Fatal("a shorter pattern is not a prefix of a longer one")
	}
}
