package storage

import (
	"os"
	"strconv"
	"strings"
)

// DefaultMemoryLimit is FTP2S3_MEMORY_LIMIT's default: 1 GiB, or half of the
// container's memory limit (cgroup v2 memory.max, or v1
// memory.limit_in_bytes) when that is smaller, so the buffers leave room for
// the rest of the process.
func DefaultMemoryLimit() int64 {
	limit := int64(1 << 30)
	if c := cgroupMemoryLimit(); c > 0 && c/2 < limit {
		limit = c / 2
	}
	return limit
}

// cgroupMemoryLimit returns this process's cgroup memory limit, or 0 when none
// is set ("max" in v2, a huge number in v1).
func cgroupMemoryLimit() int64 {
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		return parseCgroupLimit(string(data))
	}
	return 0
}

func parseCgroupLimit(s string) int64 {
	s = strings.TrimSpace(s)
	if s == "" || s == "max" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n >= 1<<62 { // v1 reports "no limit" as a page-rounded 2^63-1
		return 0
	}
	return n
}
