package storage

import (
	"bytes"
	"context"
	"io"
	"testing"
)

// An upload longer than the small buffer gives it back as soon as its bytes
// are in the first part buffer: the two are held together only for that copy.
func TestSmallHeadReleasedIntoFirstPart(t *testing.T) {
	m := NewMemory(64 << 20)
	data := bytes.Repeat([]byte("0123456789abcdef"), (3<<20)/16) // 3 MiB
	small := m.getSmall()
	if _, err := io.ReadFull(bytes.NewReader(data), small); err != nil {
		t.Fatal(err)
	}
	head := &headReader{mem: m, buf: small, rest: bytes.NewReader(data[smallPutLimit:])}
	defer head.release()
	part, err := m.get(context.Background(), 16<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.InUse != 17<<20 {
		t.Fatalf("in use %d with the small buffer and a part buffer, want 17 MiB", st.InUse)
	}
	n, err := io.ReadFull(head, part)
	if err != io.ErrUnexpectedEOF || !bytes.Equal(part[:n], data) {
		t.Fatalf("read %d bytes (%v), want the 3 MiB stream intact", n, err)
	}
	if st := m.Stats(); st.InUse != 16<<20 || st.Idle != smallPutLimit {
		t.Fatalf("after the first part was read: in use %d, idle %d; want the small buffer back", st.InUse, st.Idle)
	}
}

// BenchmarkFirstPart measures what putSmallFirst adds to an upload longer than
// smallPutLimit before its first part can go out: reading the first MiB into
// the small buffer and copying it into the part buffer, against reading the
// part buffer straight from the stream (put with an ALLO above 1 MiB).
func BenchmarkFirstPart(b *testing.B) {
	const partSize = 16 << 20
	data := make([]byte, partSize+1)
	m := NewMemory(1 << 30)
	b.Run("direct", func(b *testing.B) {
		b.SetBytes(partSize)
		for b.Loop() {
			part, _ := m.get(context.Background(), partSize, true)
			if _, err := io.ReadFull(bytes.NewReader(data), part); err != nil {
				b.Fatal(err)
			}
			m.put(context.Background(), part)
		}
	})
	b.Run("small-first", func(b *testing.B) {
		b.SetBytes(partSize)
		for b.Loop() {
			r := bytes.NewReader(data)
			small := m.getSmall()
			if _, err := io.ReadFull(r, small); err != nil {
				b.Fatal(err)
			}
			head := &headReader{mem: m, buf: small, rest: r}
			part, _ := m.get(context.Background(), partSize, true)
			if _, err := io.ReadFull(head, part); err != nil {
				b.Fatal(err)
			}
			head.release()
			m.put(context.Background(), part)
		}
	})
}
