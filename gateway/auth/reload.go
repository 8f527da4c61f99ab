package auth

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync/atomic"
	"time"
)

// FTP2S3_USERS_FILE is read again on SIGHUP (cmd/ftp2s3 calls Reload through
// the gateway) and whenever Watch sees the file change. A file that does not
// parse changes nothing; a good one applies to the next login at once, and
// the sessions of users it removed or changed are told through their
// record's revoked channel.

// fileStamp is what tells a changed file from the same one without reading
// it: a Kubernetes Secret volume swaps a symlink to a new directory (a new
// inode at the same path), an editor renames a new file over the old one, a
// script rewrites it in place (new size or modification time).
type fileStamp struct {
	exists bool
	mod    int64 // nanoseconds
	size   int64
	ino    uint64
	dev    uint64
}

// stampOf stats path, following symlinks (the Kubernetes swap changes the
// link's target, not the link).
func stampOf(path string) fileStamp {
	if path == "" {
		return fileStamp{}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	st := fileStamp{exists: true, mod: fi.ModTime().UnixNano(), size: fi.Size()}
	st.ino, st.dev = inode(fi)
	return st
}

// reloadStats are the reload counters, read by the metrics.
type reloadStats struct {
	reloads  atomic.Int64 // reloads that took effect
	failures atomic.Int64 // reloads refused for a bad file
	lastOK   atomic.Bool  // the file in force is the file on disk
}

// ReloadStats describe the users file's reloads.
type ReloadStats struct {
	Users    int   // users in force now
	Reloads  int64 // reloads that took effect since start
	Failures int64 // reloads refused because the file did not parse
	LastOK   bool  // the last load or reload succeeded
}

// ReloadStats returns the counters; safe for concurrent use.
func (u *StaticUsers) ReloadStats() ReloadStats {
	return ReloadStats{Users: u.Len(), Reloads: u.stats.reloads.Load(), Failures: u.stats.failures.Load(),
		LastOK: u.stats.lastOK.Load()}
}

// errReloadFailed is Reload's answer for a file that did not parse; the
// problems themselves are logged one per line.
var errReloadFailed = errors.New("users file has errors; the users in force are kept")

// Reload reads the users again. On any problem it logs each one and keeps
// the users in force; otherwise the new users take effect and every record
// removed or changed revokes the sessions opened under it.
func (u *StaticUsers) Reload(log *slog.Logger) error {
	u.reloadMu.Lock()
	defer u.reloadMu.Unlock()
	return u.reloadLocked(log, stampOf(u.file))
}

func (u *StaticUsers) reloadLocked(log *slog.Logger, before fileStamp) error {
	u.seen = before
	set, problems := parseUsers(u.inline, u.file)
	if after := stampOf(u.file); after != before {
		// Written while we read it: the next look sees it settled.
		u.seen = fileStamp{}
		problems = append(problems, errors.New("FTP2S3_USERS_FILE: changed while being read"))
	}
	if len(problems) > 0 {
		for _, p := range problems {
			log.Error("users file not reloaded", "problem", p.Error())
		}
		u.stats.failures.Add(1)
		u.stats.lastOK.Store(false)
		return errReloadFailed
	}
	old := u.set.Load()
	var added, changed, removed, kept int
	for name, r := range set.users {
		if o, ok := old.users[name]; ok && o.same(r) {
			r.revoked = o.revoked
			kept++
			continue
		}
		r.revoked = make(chan struct{})
		if _, ok := old.users[name]; ok {
			changed++
		} else {
			added++
		}
	}
	u.set.Store(set)
	for name, o := range old.users {
		if r, ok := set.users[name]; ok && r.revoked == o.revoked {
			continue
		}
		if _, ok := set.users[name]; !ok {
			removed++
		}
		close(o.revoked)
	}
	u.stats.reloads.Add(1)
	u.stats.lastOK.Store(true)
	log.Info("users reloaded", "users", len(set.users), "added", added, "changed", changed,
		"removed", removed, "unchanged", kept)
	if u.onReload != nil {
		u.onReload()
	}
	return nil
}

// OnReload sets what runs after each reload that takes effect (the gateway
// creates the buckets of new homes with it). Set it before Watch starts.
func (u *StaticUsers) OnReload(fn func()) {
	u.reloadMu.Lock()
	defer u.reloadMu.Unlock()
	u.onReload = fn
}

// Watch reloads the users file whenever its stamp changes, looking every
// interval, until ctx ends. A file found broken is not tried again until it
// changes.
func (u *StaticUsers) Watch(ctx context.Context, interval time.Duration, log *slog.Logger) {
	if u.file == "" || interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := stampOf(u.file)
		u.reloadMu.Lock()
		if now != u.seen {
			if !now.exists {
				// Between a delete and a create, or gone for good: either way
				// the users in force stay, and the gap is said once.
				u.seen = now
				u.stats.failures.Add(1)
				u.stats.lastOK.Store(false)
				log.Error("users file not reloaded", "problem", "FTP2S3_USERS_FILE: cannot stat "+u.file)
			} else {
				_ = u.reloadLocked(log, now)
			}
		}
		u.reloadMu.Unlock()
	}
}
