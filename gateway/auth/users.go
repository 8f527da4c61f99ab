package auth

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/bcrypt"

	"github.com/ftp2s3/ftp2s3/session"
)

// staticUser is one record of FTP2S3_USERS / FTP2S3_USERS_FILE.
type staticUser struct {
	name     string
	hash     []byte
	home     session.Home
	hasHome  bool
	readOnly bool
	networks Networks
	// revoked is closed when a reload removes or changes the record; the
	// sessions logged in under it end (session.User.Revoked). A record that a
	// reload leaves as it was keeps its channel.
	revoked chan struct{}
}

// same reports whether r and o grant the same thing: the same password, home,
// permission and networks.
func (r *staticUser) same(o *staticUser) bool {
	return bytes.Equal(r.hash, o.hash) && r.hasHome == o.hasHome && r.home == o.home &&
		r.readOnly == o.readOnly && r.networks.equal(o.networks)
}

// userSet is one parse of the users: never modified once in use, replaced as a
// whole by a reload.
type userSet struct {
	users map[string]*staticUser
	// decoys are the configured hashes in a fixed order: an unknown name is
	// checked against one of them (see decoyFor).
	decoys   [][]byte
	decoyKey [8]byte // derived from the hashes: the choice is not guessable from the name alone
}

// StaticUsers authenticates against bcrypt hashes configured up front, in
// FTP2S3_USERS and FTP2S3_USERS_FILE; Reload and Watch (reload.go) read the
// file again.
type StaticUsers struct {
	inline, file string
	defaultHome  session.Home
	set          atomic.Pointer[userSet]

	reloadMu sync.Mutex // one reload at a time
	seen     fileStamp  // the file as the last reload found it
	stats    reloadStats
	// onReload, when set (OnReload), runs after each reload that took
	// effect, under reloadMu: reloads and their follow-up never overlap.
	onReload func()
}

// noUsersHash is what an unknown name is checked against when no user is
// configured at all (nothing to hide then, but the reply should not be instant).
var noUsersHash, _ = bcrypt.GenerateFromPassword([]byte("ftp2s3-no-such-user"), bcrypt.DefaultCost)

// Authenticate implements session.Authenticator. A record that names networks
// refuses a login from elsewhere exactly as a wrong password, after the same
// bcrypt work, so the refusal tells nothing about the password.
func (u *StaticUsers) Authenticate(ctx context.Context, name, password string) (*session.User, error) {
	set := u.set.Load()
	rec, ok := set.users[name]
	var hash []byte
	if ok {
		hash = rec.hash
	} else {
		hash = set.decoyFor(name)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || !ok {
		return nil, session.ErrAuthFailed
	}
	if len(rec.networks) > 0 {
		info, known := session.LoginInfoFrom(ctx)
		if !known || !rec.networks.Allows(info.Addr) {
			return nil, fmt.Errorf("%w: client address outside the user's networks", session.ErrAuthFailed)
		}
	}
	home := u.defaultHome
	if rec.hasHome {
		home = rec.home
	}
	return &session.User{Name: name, Home: home, ReadOnly: rec.readOnly, Revoked: rec.revoked}, nil
}

// decoyFor picks the hash an unknown name is checked against: one of the
// configured users' own hashes, chosen by the name, so the bcrypt work (its cost
// is in the hash) is drawn from the same costs as real users'. A fixed decoy of
// one cost would set apart every user whose hash has another cost; this way an
// unknown name takes as long as some real user, and always the same one, so
// repeating a probe shows nothing either. The match result is thrown away.
func (s *userSet) decoyFor(name string) []byte {
	if len(s.decoys) == 0 {
		return noUsersHash
	}
	h := fnv.New64a()
	_, _ = h.Write(s.decoyKey[:])
	_, _ = h.Write([]byte(name))
	return s.decoys[h.Sum64()%uint64(len(s.decoys))]
}

// Len returns how many users are configured.
func (u *StaticUsers) Len() int { return len(u.set.Load().users) }

// WriteHomes returns the homes users may write to: their own, or the default
// home for those without one (the abandoned-upload sweep covers them).
func (u *StaticUsers) WriteHomes() []session.Home {
	var homes []session.Home
	for _, r := range u.set.Load().users {
		switch {
		case r.readOnly:
		case r.hasHome:
			homes = append(homes, r.home)
		default:
			homes = append(homes, u.defaultHome)
		}
	}
	return homes
}

// OwnHomes returns the homes configured for users of their own, read-only or
// not (FTP2S3_CREATE_BUCKETS makes their buckets).
func (u *StaticUsers) OwnHomes() []session.Home {
	var homes []session.Home
	for _, r := range u.set.Load().users {
		if r.hasHome {
			homes = append(homes, r.home)
		}
	}
	return homes
}

// LoadStaticUsers parses the users variable (comma-separated records) and the
// users file (one record per line, # comments). A record is
// name:bcrypt-hash[:home[:perm[:networks]]], home being bucket, bucket/prefix
// or /, perm r or rw, networks CIDRs or addresses separated by ";".
func LoadStaticUsers(inline, file string, defaultHome session.Home) (*StaticUsers, []error) {
	u := &StaticUsers{inline: inline, file: file, defaultHome: defaultHome}
	u.seen = stampOf(file)
	set, problems := parseUsers(inline, file)
	for _, r := range set.users {
		r.revoked = make(chan struct{})
	}
	u.set.Store(set)
	u.stats.lastOK.Store(len(problems) == 0)
	return u, problems
}

// parseUsers reads every record; the set holds the good ones, problems the
// others (each naming its source and line, never a hash).
func parseUsers(inline, file string) (*userSet, []error) {
	set := &userSet{users: map[string]*staticUser{}}
	var problems []error
	add := func(source, rec string) {
		su, err := parseUser(rec)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %v", source, err))
			return
		}
		if _, dup := set.users[su.name]; dup {
			problems = append(problems, fmt.Errorf("%s: user %q is defined twice", source, su.name))
			return
		}
		set.users[su.name] = su
	}
	for _, rec := range strings.Split(inline, ",") {
		if rec = strings.TrimSpace(rec); rec != "" {
			add("FTP2S3_USERS", rec)
		}
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			problems = append(problems, fmt.Errorf("FTP2S3_USERS_FILE: %v", err))
		} else {
			sc := bufio.NewScanner(f)
			for n := 1; sc.Scan(); n++ {
				line := strings.TrimSpace(sc.Text())
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				add(fmt.Sprintf("FTP2S3_USERS_FILE line %d", n), line)
			}
			if err := sc.Err(); err != nil {
				problems = append(problems, fmt.Errorf("FTP2S3_USERS_FILE: %v", err))
			}
			_ = f.Close()
		}
	}
	set.setDecoys()
	return set, problems
}

// setDecoys lists the configured hashes in name order, so an unknown name maps
// to the same user's hash from one start to the next.
func (s *userSet) setDecoys() {
	names := make([]string, 0, len(s.users))
	for n := range s.users {
		names = append(names, n)
	}
	sort.Strings(names)
	s.decoys = s.decoys[:0]
	key := fnv.New64a()
	for _, n := range names {
		s.decoys = append(s.decoys, s.users[n].hash)
		_, _ = key.Write(s.users[n].hash)
	}
	binary.BigEndian.PutUint64(s.decoyKey[:], key.Sum64())
}

func parseUser(rec string) (*staticUser, error) {
	// At most five fields: the last, networks, may hold IPv6 addresses and
	// so colons of its own.
	f := strings.SplitN(rec, ":", 5)
	if len(f) < 2 {
		return nil, fmt.Errorf("record %q is not name:bcrypt-hash[:home[:perm[:networks]]]", redact(rec))
	}
	su := &staticUser{name: f[0], hash: []byte(f[1])}
	if su.name == "" || strings.ContainsAny(su.name, " \t") {
		return nil, fmt.Errorf("user name %q is empty or has spaces", su.name)
	}
	if _, err := bcrypt.Cost(su.hash); err != nil {
		return nil, fmt.Errorf("user %q: the password is not a bcrypt hash (make one with: ftp2s3 hash-password)", su.name)
	}
	if len(f) >= 3 && f[2] != "" {
		h, err := session.ParseHome(f[2])
		if err != nil {
			return nil, fmt.Errorf("user %q: home: %v", su.name, err)
		}
		su.home, su.hasHome = h, true
	}
	if len(f) >= 4 {
		switch f[3] {
		case "r":
			su.readOnly = true
		case "rw", "":
		default:
			return nil, fmt.Errorf("user %q: permission %q is not r or rw", su.name, f[3])
		}
	}
	if len(f) == 5 {
		n, err := ParseNetworks(strings.Split(f[4], ";"))
		if err != nil {
			return nil, fmt.Errorf("user %q: networks: %v", su.name, err)
		}
		su.networks = n
	}
	return su, nil
}

// redact hides the hash part of a malformed record in error messages.
func redact(rec string) string {
	if name, _, ok := strings.Cut(rec, ":"); ok {
		return name + ":…"
	}
	return "…"
}

// HashPassword returns the bcrypt hash to put in a user record.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}
