package integration

import (
	"path/filepath"
	"testing"
)

// TestWgetRecursive downloads a nested tree with `wget -r`, which walks the
// directories by parsing LIST output (it needs the Unix ls -l format and SYST
// "UNIX Type: L8"), in passive and active (--no-passive-ftp) mode.
func TestWgetRecursive(t *testing.T) {
	t.Parallel()
	for _, passive := range []bool{true, false} {
		name := "passive"
		if !passive {
			name = "active"
		}
		t.Run(name, func(t *testing.T) {
			g := startGateway(t)
			tree := testTree()
			src := filepath.Join(t.TempDir(), "src")
			writeTree(t, src, tree)
			for _, f := range tree {
				if f.dir {
					g.putObject("tree/"+f.path+"/", "")
				} else {
					g.putObject("tree/"+f.path, string(f.data))
				}
			}
			work := t.TempDir()
			args := []string{"-r", "-nH", "--cut-dirs=1", "-P", "got", "--no-verbose", "--tries=1", "--timeout=30",
				"--no-remove-listing", "--restrict-file-names=nocontrol", "--local-encoding=UTF-8", "--remote-encoding=UTF-8"}
			if !passive {
				args = append(args, "--no-passive-ftp")
			}
			out := runClient(t, work, "wget", append(args, g.ftpURL(userRW, "/tree/"))...)
			got := filepath.Join(work, "got")
			removeListings(t, got)
			compareTrees(t, src, got, out)
			if active := g.usedCommand("PORT") || g.usedCommand("EPRT"); active == passive {
				t.Fatalf("passive=%v, but active commands used: %v\n%s", passive, active, out)
			}
		})
	}
}
