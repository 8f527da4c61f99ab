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
}

// New wires a gateway from its configuration. The S3 client comes from the AWS
// SDK's configuration chain.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Gateway, error) {
	client, err := storage.NewClient(ctx, cfg.S3PathStyle)
	if err != nil {
		return nil, err
	}
	backend := storage.New(client, storage.Options{
		PartSize:            int64(cfg.PartSize),
		UploadConcurrency:   cfg.UploadConcurrency,
		DownloadChunk:       int64(cfg.DownloadChunk),
		DownloadConcurrency: cfg.DownloadConcurrency,
		CacheEntries:        cfg.CacheEntries,
		CacheTTL:            cfg.CacheTTL,
		MaxRenameKeys:       cfg.MaxRenameKeys,
		HashCopyLimit:       hashCopyLimit(cfg.HashCopyLimit),
		Logger:              log,
	})
	return NewWithBackend(cfg, log, backend)
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
	default:
		return nil, fmt.Errorf("FTP2S3_AUTH: %q is not implemented yet", cfg.Auth)
	}
	data, err := NewDataChannels(&cfg, log)
	if err != nil {
		return nil, fmt.Errorf("FTP2S3_PASSIVE_HOST_OVERRIDES: %w", err)
	}
	srv := NewServer(ServerOptions{
		Session: &session.Config{
			FS:          backend,
			Auth:        auth,
			Data:        data,
			ActiveMode:  cfg.ActiveMode,
			IdleTimeout: cfg.IdleTimeout,
			DataTimeout: cfg.DataTimeout,
			Logger:      log,
		},
		MaxConnections:      cfg.MaxConnections,
		MaxConnectionsPerIP: cfg.MaxConnectionsPerIP,
	})
	return &Gateway{Config: cfg, Log: log, Backend: backend, Data: data, Server: srv}, nil
}

// Run listens on FTP2S3_LISTEN and serves until ctx is cancelled, then shuts down
// gracefully within FTP2S3_SHUTDOWN_GRACE.
func (g *Gateway) Run(ctx context.Context) error {
	l, err := net.Listen("tcp", g.Config.Listen)
	if err != nil {
		return fmt.Errorf("FTP2S3_LISTEN: %w", err)
	}
	g.Log.Info("ftp2s3 listening", "addr", l.Addr().String(), "passive_ports", g.Config.PassivePorts.String(), "public_host", g.Config.PublicHost)
	errc := make(chan error, 1)
	go func() { errc <- g.Server.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	g.Log.Info("shutting down", "grace", g.Config.ShutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), g.Config.ShutdownGrace)
	defer cancel()
	if err := g.Server.Shutdown(sctx); err != nil {
		g.Log.Warn("shutdown grace period over; remaining sessions were aborted")
	}
	<-errc
	return nil
}

// hashCopyLimit maps FTP2S3_HASH_COPY_LIMIT to storage's option, where 0 means
// the default and a negative value means never.
func hashCopyLimit(s Size) int64 {
	if s == 0 {
		return -1
	}
	return int64(s)
}
