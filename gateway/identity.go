package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway/auth"
	"github.com/ftp2s3/ftp2s3/gateway/ops"
	"github.com/ftp2s3/ftp2s3/session"
	"github.com/ftp2s3/ftp2s3/storage"
)

// Who logs in (FTP2S3_AUTH): static users, reloaded from FTP2S3_USERS_FILE
// (gateway/auth/reload.go); S3 keys; or an identity service over HTTP
// (gateway/auth/httpauth.go). docs/identity.md describes them to operators.

// defaultUsersFilePoll is how often the users file is looked at when
// Config.UsersFilePoll is zero: a stat every few seconds costs nothing, and a
// Kubernetes Secret update takes a minute or so to reach the pod anyway.
const defaultUsersFilePoll = 5 * time.Second

// validateHTTPAuth checks the FTP2S3_AUTH=http settings.
func (c *Config) validateHTTPAuth() []error {
	var p []error
	if c.Auth != "http" {
		if c.AuthURL.URL != nil {
			p = append(p, fmt.Errorf("FTP2S3_AUTH_URL: only used with FTP2S3_AUTH=http, not %q", c.Auth))
		}
		return p
	}
	if c.AuthURL.URL == nil {
		p = append(p, errors.New("FTP2S3_AUTH: http needs FTP2S3_AUTH_URL (the identity service)"))
	}
	if c.AuthTimeout <= 0 {
		p = append(p, fmt.Errorf("FTP2S3_AUTH_TIMEOUT: must be a positive duration, got %s", c.AuthTimeout))
	}
	if c.AuthCacheTTL < 0 {
		p = append(p, fmt.Errorf("FTP2S3_AUTH_CACHE_TTL: must be 0 (off) or a positive duration, got %s", c.AuthCacheTTL))
	}
	return p
}

// identity is what FTP2S3_AUTH wires: the authenticator and, for static
// users, the store that reloads.
type identity struct {
	authn session.Authenticator
	homes []session.Home    // where users write, as known at start (the abandoned-upload sweep)
	users *auth.StaticUsers // nil unless FTP2S3_AUTH=users
}

func newIdentity(cfg *Config, log *slog.Logger, backend *storage.Backend, m *ops.Metrics, defaultHome session.Home) (*identity, error) {
	switch cfg.Auth {
	case "users":
		users := cfg.StaticUsers // LoadConfig read them
		if users == nil {
			var problems []error
			if users, problems = auth.LoadStaticUsers(cfg.Users, cfg.UsersFile, defaultHome); len(problems) > 0 {
				return nil, errors.Join(problems...)
			}
		}
		if users.Len() == 0 {
			log.Warn("no users configured (FTP2S3_USERS / FTP2S3_USERS_FILE): nobody can log in")
		}
		m.WatchUsers(func() ops.UsersStats {
			st := users.ReloadStats()
			return ops.UsersStats{Users: st.Users, Reloads: st.Reloads, Failures: st.Failures, LastOK: st.LastOK}
		})
		return &identity{authn: users, homes: users.WriteHomes(), users: users}, nil
	case "s3":
		if cfg.Users != "" || cfg.UsersFile != "" {
			log.Warn("FTP2S3_USERS/FTP2S3_USERS_FILE are ignored with FTP2S3_AUTH=s3: logins are S3 access keys")
		}
		// Per-user backends share the default one's memory budget, upload set
		// and listing budget; their clients derive from the undecorated base, so
		// each request passes the metrics middleware once.
		return &identity{authn: auth.NewS3Auth(backend.BaseClient(), backend.Options(), defaultHome, cfg.Storage.S3AuthTTL),
			homes: []session.Home{defaultHome}}, nil
	case "http":
		if cfg.Users != "" || cfg.UsersFile != "" {
			log.Warn("FTP2S3_USERS/FTP2S3_USERS_FILE are ignored with FTP2S3_AUTH=http: the identity service decides")
		}
		if u := cfg.AuthURL.URL; u != nil && u.Scheme == "http" && !loopbackHost(u.Hostname()) {
			log.Warn("FTP2S3_AUTH_URL is plain http to another host: FTP passwords cross the network unencrypted",
				"host", u.Host)
		}
		m.WatchAuth()
		a := auth.NewHTTPAuth(auth.HTTPAuthOptions{URL: cfg.AuthURL.URL, Token: cfg.AuthToken,
			Timeout: cfg.AuthTimeout, CacheTTL: cfg.AuthCacheTTL, Buckets: cfg.Buckets, Log: log, Observe: m.ObserveAuth})
		return &identity{authn: a, homes: httpAuthSwept(cfg, defaultHome)}, nil
	}
	return nil, fmt.Errorf("FTP2S3_AUTH: %q is not implemented", cfg.Auth)
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// httpAuthSwept is what the abandoned-upload sweep covers under
// FTP2S3_AUTH=http, where the service's homes are unknown before its users
// log in: the default home, and the buckets of FTP2S3_BUCKETS (a
// multi-bucket home, swept over exactly those), since the service may give
// homes only there when it is set. Without it, the service could name any
// bucket the credentials reach, which may be other applications'.
func httpAuthSwept(cfg *Config, defaultHome session.Home) []session.Home {
	var homes []session.Home
	if cfg.Bucket != "" {
		homes = append(homes, defaultHome)
	}
	if len(cfg.Buckets) > 0 {
		homes = append(homes, session.Home{})
	}
	return homes
}

// ReloadUsers reads FTP2S3_USERS_FILE again (SIGHUP): nothing to do unless
// FTP2S3_AUTH=users. A file with errors keeps the users in force; the
// problems are logged and returned.
func (g *Gateway) ReloadUsers() error {
	if g.users == nil {
		return nil
	}
	return g.users.Reload(g.Log)
}

// watchUsers follows FTP2S3_USERS_FILE until ctx ends (Serve runs it).
func (g *Gateway) watchUsers(ctx context.Context) {
	if g.users == nil || g.Config.UsersFile == "" {
		return
	}
	every := g.Config.UsersFilePoll
	if every <= 0 {
		every = defaultUsersFilePoll
	}
	g.users.Watch(ctx, every, g.Log)
}
