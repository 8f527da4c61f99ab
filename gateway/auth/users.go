package auth

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
	"sort"
	"strings"

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
}

// StaticUsers authenticates against bcrypt hashes configured up front.
type StaticUsers struct {
	users       map[string]staticUser
	defaultHome session.Home
	// decoys are the configured hashes in a fixed order: an unknown name is
	// checked against one of them (see decoyFor).
	decoys   [][]byte
	decoyKey [8]byte // derived from the hashes: the choice is not guessable from the name alone
}

// noUsersHash is what an unknown name is checked against when no user is
// configured at all (nothing to hide then, but the reply should not be instant).
var noUsersHash, _ = bcrypt.GenerateFromPassword([]byte("ftp2s3-no-such-user"), bcrypt.DefaultCost)

// Authenticate implements session.Authenticator.
func (u *StaticUsers) Authenticate(_ context.Context, name, password string) (*session.User, error) {
	rec, ok := u.users[name]
	hash := rec.hash
	if !ok {
		hash = u.decoyFor(name)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || !ok {
		return nil, session.ErrAuthFailed
	}
	home := u.defaultHome
	if rec.hasHome {
		home = rec.home
	}
	return &session.User{Name: name, Home: home, ReadOnly: rec.readOnly}, nil
}

// decoyFor picks the hash an unknown name is checked against: one of the
// configured users' own hashes, chosen by the name, so the bcrypt work (its cost
// is in the hash) is drawn from the same costs as real users'. A fixed decoy of
// one cost would set apart every user whose hash has another cost; this way an
// unknown name takes as long as some real user, and always the same one, so
// repeating a probe shows nothing either. The match result is thrown away.
func (u *StaticUsers) decoyFor(name string) []byte {
	if len(u.decoys) == 0 {
		return noUsersHash
	}
	h := fnv.New64a()
	_, _ = h.Write(u.decoyKey[:])
	_, _ = h.Write([]byte(name))
	return u.decoys[h.Sum64()%uint64(len(u.decoys))]
}

// Len returns how many users are configured.
func (u *StaticUsers) Len() int { return len(u.users) }

// WriteHomes returns the homes users may write to: their own, or the default
// home for those without one (the abandoned-upload sweep covers them).
func (u *StaticUsers) WriteHomes() []session.Home {
	var homes []session.Home
	for _, r := range u.users {
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
	for _, r := range u.users {
		if r.hasHome {
			homes = append(homes, r.home)
		}
	}
	return homes
}

// LoadStaticUsers parses the users variable (comma-separated records) and the
// users file (one record per line, # comments). A record is
// name:bcrypt-hash[:home[:perm]], home being bucket, bucket/prefix or / and perm
// r or rw.
func LoadStaticUsers(inline, file string, defaultHome session.Home) (*StaticUsers, []error) {
	u := &StaticUsers{users: map[string]staticUser{}, defaultHome: defaultHome}
	var problems []error
	add := func(source, rec string) {
		su, err := parseUser(rec)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %v", source, err))
			return
		}
		if _, dup := u.users[su.name]; dup {
			problems = append(problems, fmt.Errorf("%s: user %q is defined twice", source, su.name))
			return
		}
		u.users[su.name] = su
	}
	for _, rec := range strings.Split(inline, ",") {
		if rec = strings.TrimSpace(rec); rec != "" {
			add("FTP2S3_USERS", rec)
		}
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return u, append(problems, fmt.Errorf("FTP2S3_USERS_FILE: %v", err))
		}
		defer f.Close()
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
	}
	u.setDecoys()
	return u, problems
}

// setDecoys lists the configured hashes in name order, so an unknown name maps
// to the same user's hash from one start to the next.
func (u *StaticUsers) setDecoys() {
	names := make([]string, 0, len(u.users))
	for n := range u.users {
		names = append(names, n)
	}
	sort.Strings(names)
	u.decoys = u.decoys[:0]
	key := fnv.New64a()
	for _, n := range names {
		u.decoys = append(u.decoys, u.users[n].hash)
		_, _ = key.Write(u.users[n].hash)
	}
	binary.BigEndian.PutUint64(u.decoyKey[:], key.Sum64())
}

func parseUser(rec string) (staticUser, error) {
	f := strings.Split(rec, ":")
	if len(f) < 2 || len(f) > 4 {
		return staticUser{}, fmt.Errorf("record %q is not name:bcrypt-hash[:home[:perm]]", redact(rec))
	}
	su := staticUser{name: f[0], hash: []byte(f[1])}
	if su.name == "" || strings.ContainsAny(su.name, " \t") {
		return staticUser{}, fmt.Errorf("user name %q is empty or has spaces", su.name)
	}
	if _, err := bcrypt.Cost(su.hash); err != nil {
		return staticUser{}, fmt.Errorf("user %q: the password is not a bcrypt hash (make one with: ftp2s3 hash-password)", su.name)
	}
	if len(f) >= 3 && f[2] != "" {
		h, err := session.ParseHome(f[2])
		if err != nil {
			return staticUser{}, fmt.Errorf("user %q: home: %v", su.name, err)
		}
		su.home, su.hasHome = h, true
	}
	if len(f) == 4 {
		switch f[3] {
		case "r":
			su.readOnly = true
		case "rw", "":
		default:
			return staticUser{}, fmt.Errorf("user %q: permission %q is not r or rw", su.name, f[3])
		}
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
