// Command healthprobe is the MinIO image's health check (deploy/minio/Dockerfile):
// it GETs one URL and exits 0 on a 2xx answer, 1 otherwise. The image has no
// shell, curl or mc, and MinIO's binary has no probe of its own. It imports
// only the standard library, so the image builds it from this one file.
//
//	healthprobe http://127.0.0.1:9000/minio/health/ready
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: healthprobe URL")
		os.Exit(2)
	}
	os.Exit(probe(os.Args[1], 4*time.Second))
}

// probe returns the exit status for one GET of url within timeout.
func probe(url string, timeout time.Duration) int {
	c := &http.Client{Timeout: timeout}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintf(os.Stderr, "healthprobe: %v\n", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintf(os.Stderr, "healthprobe: %s: %s\n", url, resp.Status)
		return 1
	}
	return 0
}
