package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/ftp2s3/ftp2s3/session"
	"github.com/ftp2s3/ftp2s3/storage"
)

// Gateway is a fully wired ftp2s3: storage, authentication, data channels and the
// control-connection server.
type Gateway struct {
	Config  Config
	Log     *slog.Logger
	Backend *storage.Backend
	Data    *DataChannels
	Server  *Server
	// Certs is the TLS certificate (nil without FTPS); SIGHUP reloads it.
	Certs *Certificates
	// Bans is the failed-login guard; its Stats feed the metrics.
	Bans *Bans
	// TLSStats counts FTPS handshakes and refusals, for the metrics.
	TLSStats *session.TLSStats
}

// New wires a gateway from its configuration. The S3 client comes from the AWS
// SDK's configuration chain.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Gateway, error) {
	client, err := storage.NewClient(ctx, cfg.S3PathStyle)
	if err != nil {
		return nil, err
	}
	backend := storage.New(client, storageOptions(&cfg, log))
	return NewWithBackend(cfg, log, backend)
}

// storageOptions are the storage settings of the configuration.
func storageOptions(cfg *Config, log *slog.Logger) storage.Options {
	return storage.Options{
		PartSize:            int64(cfg.PartSize),
		UploadConcurrency:   cfg.UploadConcurrency,
		DownloadChunk:       int64(cfg.DownloadChunk),
		DownloadConcurrency: cfg.DownloadConcurrency,
		CacheEntries:        cfg.CacheEntries,
		CacheTTL:            cfg.CacheTTL,
		Logger:              log,
	}
}

// NewWithBackend wires a gateway around an existing storage backend.
func NewWithBackend(cfg Config, log *slog.Logger, backend *storage.Backend) (*Gateway, error) {
	defaultHome := session.Home{}
	if cfg.Bucket != "" {
		h, err := session.ParseHome(cfg.Bucket + "/" + cfg.Prefix)
		if err != nil {
			return nil, fmt.Errorf("FTP2S3_BUCKET/FTP2S3_PREFIX: %w", err)
		}
		defaultHome = h
	}
	var auth session.Authenticator
	switch cfg.Auth {
	case "users":
		users, problems := LoadStaticUsers(cfg.Users, cfg.UsersFile, defaultHome)
		if len(problems) > 0 {
			return nil, errors.Join(problems...)
		}
		if users.Len() == 0 {
			log.Warn("no users configured (FTP2S3_USERS / FTP2S3_USERS_FILE): nobody can log in")
		}
		auth = users
	case "s3":
		if cfg.Users != "" || cfg.UsersFile != "" {
			log.Warn("FTP2S3_USERS/FTP2S3_USERS_FILE are ignored with FTP2S3_AUTH=s3: logins are S3 access keys")
		}
		auth = NewS3Auth(backend.Client(), storageOptions(&cfg, log), defaultHome)
	default:
		return nil, fmt.Errorf("FTP2S3_AUTH: %q is not implemented", cfg.Auth)
	}
	sec, err := newSecurity(&cfg, auth)
	if err != nil {
		return nil, err
	}
	data, err := NewDataChannels(&cfg, log)
	if err != nil {
		return nil, fmt.Errorf("FTP2S3_PASSIVE_HOST_OVERRIDES: %w", err)
	}
	srv := NewServer(ServerOptions{
		Session: &session.Config{
			FS:              backend,
			Auth:            sec.auth,
			Data:            data,
			ActiveMode:      cfg.ActiveMode,
			IdleTimeout:     cfg.IdleTimeout,
			DataTimeout:     cfg.DataTimeout,
			Logger:          log,
			TLS:             sec.tlsConfig(),
			TLSRequired:     cfg.TLS == "required" || cfg.TLS == "implicit",
			TLSSessionReuse: cfg.TLSSessionReuse == "required",
			LoginTimeout:    cfg.LoginTimeout,
			Guard:           sec.bans,
			TLSStats:        sec.tlsStats,
		},
		MaxConnections:      cfg.MaxConnections,
		MaxConnectionsPerIP: cfg.MaxConnectionsPerIP,
		Bans:                sec.bans,
	})
	return &Gateway{Config: cfg, Log: log, Backend: backend, Data: data, Server: srv, Certs: sec.certs, Bans: sec.bans, TLSStats: sec.tlsStats}, nil
}

// Run listens on FTP2S3_LISTEN and serves until ctx is cancelled, then shuts down
// gracefully within FTP2S3_SHUTDOWN_GRACE.
func (g *Gateway) Run(ctx context.Context) error {
	l, err := net.Listen("tcp", g.Config.Listen)
	if err != nil {
		return fmt.Errorf("FTP2S3_LISTEN: %w", err)
	}
	g.Log.Info("ftp2s3 listening", "addr", l.Addr().String(), "passive_ports", g.Config.PassivePorts.String(), "public_host", g.Config.PublicHost)
	errc := make(chan error, 2)
	go func() { errc <- g.Server.Serve(l) }()
	serving := 1
	if addr := g.Config.implicitListen(); addr != "" {
		tl, err := net.Listen("tcp", addr)
		if err != nil {
			_ = l.Close()
			return fmt.Errorf("FTP2S3_TLS_LISTEN: %w", err)
		}
		g.Log.Info("ftp2s3 listening for implicit FTPS", "addr", tl.Addr().String())
		go func() { errc <- g.Server.ServeImplicitTLS(tl) }()
		serving++
	}
	if g.Certs != nil {
		g.Certs.ReloadOnSIGHUP(ctx, g.Log)
	}
	select {
	case err := <-errc:
		_ = g.Server.Close()
		for ; serving > 1; serving-- {
			<-errc
		}
		return err
	case <-ctx.Done():
	}
	g.Log.Info("shutting down", "grace", g.Config.ShutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), g.Config.ShutdownGrace)
	defer cancel()
	if err := g.Server.Shutdown(sctx); err != nil {
		g.Log.Warn("shutdown grace period over; remaining sessions were aborted")
	}
	for ; serving > 0; serving-- {
		<-errc
	}
	return nil
}
