//go:build unix

package auth

import (
	"os"
	"syscall"
)

// inode returns the file's inode and device numbers.
func inode(fi os.FileInfo) (ino, dev uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		// Converted: the field types differ by platform (Dev is int32 on macOS).
		return uint64(st.Ino), uint64(st.Dev)
	}
	return 0, 0
}
