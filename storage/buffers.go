package storage

import "sync"

// Part and chunk buffers are recycled across uploads and downloads: allocating
// 16 MiB per part would make the garbage collector, not the network, the limit.
//
// Each size has a bounded list that holds the working set of one transfer, and a
// sync.Pool behind it for the buffers of many concurrent transfers. The list
// comes first because a sync.Pool alone keeps one item per P in a private slot
// that other Ps cannot take: with parts finishing on one P and the next part
// read on another, it allocated fresh buffers while idle ones sat in the pool,
// and a single upload grew past PartSize × (UploadConcurrency + 1). The pool
// behind it keeps the buffers of a burst of sessions from becoming garbage that
// the collector only reclaims at twice the live heap, and still lets them go
// when the gateway is idle.
type bufferList struct {
	free     chan []byte
	overflow sync.Pool
}

var bufferLists sync.Map // size (int64) → *bufferList

func (b *Backend) bufferList(size int64) *bufferList {
	if l, ok := bufferLists.Load(size); ok {
		return l.(*bufferList)
	}
	keep := max(b.opts.UploadConcurrency, b.opts.DownloadConcurrency) + 1
	l, _ := bufferLists.LoadOrStore(size, &bufferList{free: make(chan []byte, keep)})
	return l.(*bufferList)
}

func (b *Backend) getBuffer(size int64) []byte {
	l := b.bufferList(size)
	select {
	case buf := <-l.free:
		return buf
	default:
	}
	if p, ok := l.overflow.Get().(*[]byte); ok {
		return *p
	}
	return make([]byte, size)
}

func (b *Backend) putBuffer(buf []byte) {
	buf = buf[:cap(buf)]
	l := b.bufferList(int64(len(buf)))
	select {
	case l.free <- buf:
	default:
		l.overflow.Put(&buf)
	}
}
