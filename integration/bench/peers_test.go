package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParsePeers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  bool
	}{
		{"rclone,minio", "rclone,minio", false},
		{" MinIO , rclone,minio", "minio,rclone", false},
		{"", "", false},
		{",", "", false},
		{"rclone,vsftpd", "", true},
	} {
		got, err := parsePeers(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("parsePeers(%q) error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if s := strings.Join(got, ","); !tc.err && s != tc.want {
			t.Errorf("parsePeers(%q) = %q, want %q", tc.in, s, tc.want)
		}
	}
}

// w4Row is a W4 row whose ftp2s3 side moved 100 files in 1 s (100 files/s)
// and whose peers moved them in the given times.
func w4Row(peerTimes map[string]time.Duration) *row {
	r := &row{id: "W4", what: "4 KiB uploads, one session", unit: "files/s", amount: 100, gw: []time.Duration{time.Second}}
	for _, name := range peerNames {
		if d, ok := peerTimes[name]; ok {
			r.peers = append(r.peers, &peerSide{peer: &peer{name: name, label: name}, ds: []time.Duration{d}})
		}
	}
	return r
}

func TestPeerTargetLine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		peers map[string]time.Duration
		want  string
	}{
		// best peer 80 files/s: 100/80 = 1.25 ≥ 1.2
		{"met", map[string]time.Duration{"rclone": 1250 * time.Millisecond, "minio": 2 * time.Second}, "met; ftp2s3 100 files/s, best peer rclone 80.0 files/s, ftp2s3/peer = 1.25"},
		// best peer 90 files/s: 100/90 = 1.11
		{"missed", map[string]time.Duration{"rclone": 2 * time.Second, "minio": 1111 * time.Millisecond}, "MISSED; ftp2s3 100 files/s, best peer minio 90.0 files/s, ftp2s3/peer = 1.11"},
		{"none", nil, "not measured"},
	} {
		var sb strings.Builder
		writePeerTargets(&sb, []*row{w4Row(tc.peers)})
		if !strings.Contains(sb.String(), "W4 ftp2s3 ≥ 1.2× the best peer") || !strings.Contains(sb.String(), tc.want) {
			t.Errorf("%s: target line %q, want it to contain %q", tc.name, sb.String(), tc.want)
		}
	}
}

func TestPeerFailuresAndTable(t *testing.T) {
	r := w4Row(map[string]time.Duration{"rclone": 2 * time.Second, "minio": time.Second})
	r.peers[1].ds, r.peers[1].err = nil, errors.New("425 | no data connection")
	if got := peerFailures([]*row{r}); strings.Join(got, ",") != "W4/minio" {
		t.Errorf("peerFailures = %v, want [W4/minio]", got)
	}
	var sb strings.Builder
	writePeersTable(&sb, []*row{r})
	out := sb.String()
	for _, want := range []string{"| W4 4 KiB uploads, one session | rclone | 50.0 files/s | 2.00 |", "ERROR: 425 / no data connection"} {
		if !strings.Contains(out, want) {
			t.Errorf("peers table lacks %q:\n%s", want, out)
		}
	}
	// a failed peer is no "best peer"
	sb.Reset()
	writePeerTargets(&sb, []*row{r})
	if !strings.Contains(sb.String(), "best peer rclone 50.0") {
		t.Errorf("target line %q should name rclone, the only peer with a figure", sb.String())
	}
}
