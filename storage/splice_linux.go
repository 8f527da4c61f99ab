package storage

import (
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

const spliceSupported = true

// splice(2) flags: move pages rather than copy where the kernel can, and never
// block on the pipe (the sockets are non-blocking already).
const (
	spliceMove     = 0x1
	spliceNonblock = 0x2
)

// kernelPipe is the pipe a spliced download moves its bytes through: the
// kernel holds at most its capacity of the download at a time.
type kernelPipe struct {
	r, w int
	size int
	// ins and outs count the splices into and out of the pipe that moved
	// bytes (the debug log: bytes per system call).
	ins, outs int
}

// newKernelPipe makes a pipe, of pipeSize when large, else of the kernel's
// default capacity.
func newKernelPipe(large bool) (*kernelPipe, error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	p := &kernelPipe{r: fds[0], w: fds[1], size: 64 << 10}
	if !large {
		return p, nil
	}
	if n, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(p.w), syscall.F_SETPIPE_SZ, pipeSize); errno == 0 {
		p.size = int(n)
	}
	return p, nil
}

func (p *kernelPipe) close() {
	_ = syscall.Close(p.r)
	_ = syscall.Close(p.w)
}

// move splices n bytes from src to dst through the pipe, telling progress
// every count moved, and returns how many reached dst. The pipe is empty
// whenever src is read, so a failure of src leaves nothing behind: the bytes
// moved are exactly those the client was given. Failures of src are
// *bodyError (S3 broke off: ask again), of dst *sinkError.
func (p *kernelPipe) move(src *net.TCPConn, dst SpliceDest, n int64, progress func(int64)) (int64, error) {
	srcRaw, err := src.SyscallConn()
	if err != nil {
		return 0, &bodyError{err}
	}
	dstRaw, err := dst.Conn.SyscallConn()
	if err != nil {
		return 0, &sinkError{dst.Err(err)}
	}
	var moved int64
	for moved < n {
		var got int64
		var serr error
		rerr := srcRaw.Read(func(fd uintptr) bool {
			for {
				got, serr = syscall.Splice(int(fd), nil, p.w, nil, int(min(n-moved, int64(p.size))), spliceMove|spliceNonblock)
				if serr != syscall.EINTR {
					return serr != syscall.EAGAIN
				}
			}
		})
		switch {
		case rerr != nil:
			return moved, &bodyError{rerr}
		case serr != nil:
			return moved, &bodyError{os.NewSyscallError("splice", serr)}
		case got == 0:
			return moved, &bodyError{io.ErrUnexpectedEOF}
		}
		p.ins++
		for got > 0 {
			if dst.Timeout > 0 {
				_ = dst.Conn.SetWriteDeadline(time.Now().Add(dst.Timeout))
			}
			var put int64
			var werr error
			err := dstRaw.Write(func(fd uintptr) bool {
				for {
					put, werr = syscall.Splice(p.r, nil, int(fd), nil, int(got), spliceMove|spliceNonblock)
					if werr != syscall.EINTR {
						return werr != syscall.EAGAIN
					}
				}
			})
			if err == nil && werr != nil {
				err = &net.OpError{Op: "write", Net: "tcp", Addr: dst.Conn.RemoteAddr(), Err: os.NewSyscallError("splice", werr)}
			}
			if put > 0 {
				p.outs++
				moved += put
				got -= put
				dst.Moved(put)
				progress(put)
			}
			if err == nil && put <= 0 {
				err = io.ErrShortWrite
			}
			if err != nil {
				return moved, &sinkError{dst.Err(err)}
			}
		}
	}
	return moved, nil
}
