//go:build !linux

package storage

import (
	"errors"
	"net"
)

const spliceSupported = false

var errNoSplice = errors.New("splice is not supported on this system")

type kernelPipe struct{ size, ins, outs int }

func newKernelPipe(bool) (*kernelPipe, error) { return nil, errNoSplice }

func (p *kernelPipe) close() {}

func (p *kernelPipe) move(*net.TCPConn, SpliceDest, int64, func(int64)) (int64, error) {
	return 0, errNoSplice
}
