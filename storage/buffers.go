package storage

import "sync"

// Part and chunk buffers are recycled across uploads and downloads: allocating
// 16 MiB per part would make the garbage collector, not the network, the limit.
//
// The free lists are bounded channels rather than sync.Pools: a sync.Pool keeps
// one item per P in a private slot that other Ps cannot take, so with parts
// finishing on one P and the next part read on another it allocates fresh
// buffers while idle ones sit in the pool, and the process grows past
// PartSize × (UploadConcurrency + 1). A list keeps at most the working set of one
// transfer; buffers beyond it are left to the garbage collector.
var bufferLists sync.Map // size (int64) → chan []byte

func (b *Backend) freeList(size int64) chan []byte {
	if l, ok := bufferLists.Load(size); ok {
		return l.(chan []byte)
	}
	keep := max(b.opts.UploadConcurrency, b.opts.DownloadConcurrency) + 1
	l, _ := bufferLists.LoadOrStore(size, make(chan []byte, keep))
	return l.(chan []byte)
}

func (b *Backend) getBuffer(size int64) []byte {
	select {
	case buf := <-b.freeList(size):
		return buf
	default:
		return make([]byte, size)
	}
}

func (b *Backend) putBuffer(buf []byte) {
	buf = buf[:cap(buf)]
	select {
	case b.freeList(int64(len(buf))) <- buf:
	default:
	}
}
