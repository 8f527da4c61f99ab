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

func TestFilesWithin(t *testing.T) {
	b := &bench{opts: options{files: 10, peerLimit: time.Hour}}
	s := &peerSide{}
	var ran int
	step := func(int) error { ran++; time.Sleep(time.Millisecond); return nil }
	d, moved, err := b.filesWithin(s, step)
	if err != nil || moved != 10 || ran != 10 || s.partial != 0 || d < 10*time.Millisecond {
		t.Fatalf("within the limit: d %v moved %d ran %d partial %d err %v; want all 10 files", d, moved, ran, s.partial, err)
	}
	// A limit already passed after the first file: one file, its time scaled
	// to the ten the row counts.
	b.opts.peerLimit, ran = 0, 0
	d, moved, err = b.filesWithin(s, step)
	if err != nil || moved != 1 || ran != 1 || s.partial != 1 || d < 10*time.Millisecond {
		t.Fatalf("past the limit: d %v moved %d ran %d partial %d err %v; want 1 file scaled to ≥ 10 ms", d, moved, ran, s.partial, err)
	}
	b.opts.peerLimit = time.Hour
	if _, moved, err = b.filesWithin(s, func(i int) error {
		if i == 3 {
			return errors.New("boom")
		}
		return nil
	}); err == nil || moved != 3 {
		t.Fatalf("failing file: moved %d err %v; want 3 and the error", moved, err)
	}
}
