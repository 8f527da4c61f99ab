package gateway

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway/auth"
	"github.com/ftp2s3/ftp2s3/gateway/datachan"
	"github.com/ftp2s3/ftp2s3/gateway/notify"
	"github.com/ftp2s3/ftp2s3/gateway/ops"
	"github.com/ftp2s3/ftp2s3/gateway/uploadcheck"
	"github.com/ftp2s3/ftp2s3/session"
	"github.com/ftp2s3/ftp2s3/storage"
)

// The session looks for these optional parts of its file system; a renamed
// method would lose MFMT or STOR's refusal before its 150 without a word.
var (
	_ session.FS                = (*storage.Backend)(nil)
	_ session.ModTimeSetter     = (*storage.Backend)(nil)
	_ session.StoreTargetKnower = (*storage.Backend)(nil)
)

// Gateway is a fully wired ftp2s3: storage, authentication, data channels, the
// control-connection server and its metrics.
type Gateway struct {
	Config  Config
	Log     *slog.Logger
	Backend *storage.Backend
	Data    *datachan.DataChannels
	Server  *Server
	Metrics *ops.Metrics
	// Certs is the TLS certificate (nil without FTPS); ReloadTLS reloads it.
	Certs *Certificates
	// Bans is the failed-login guard; its Stats feed the metrics.
	Bans *auth.Bans
	// TLSStats counts FTPS handshakes and refusals, and the PROT P uploads
	// that ended without close_notify; ops.Metrics.WatchTLS exports them.
	TLSStats *session.TLSStats
	// Notify posts events to FTP2S3_NOTIFY_URL (nil when unset); Serve
	// flushes it on shutdown, an embedder that only calls Server.Serve closes
	// it. UploadCheck is FTP2S3_UPLOAD_CHECK_URL's checker (nil when unset).
	Notify      *notify.Sender
	UploadCheck *uploadcheck.Checker
	// ReadyCheckInterval is how often /readyz's background check asks S3.
	ReadyCheckInterval time.Duration

	ready *ops.Readiness
	homes []session.Home // where users may write, for the abandoned-upload sweep
	// bucketsMade: the buckets Run made or found (FTP2S3_CREATE_BUCKETS; nil
	// otherwise), so that a users reload creates only new ones. Written by
	// Run before serving, then only under the users' reload lock.
	bucketsMade map[string]bool
	authn       session.Authenticator // before the anonymous wrapper, for invalidate
	users       *auth.StaticUsers     // FTP2S3_AUTH=users: reloaded on SIGHUP and when the file changes
}

// New wires a gateway from its configuration: the binary and every test start
// here. The S3 client comes from the AWS SDK's configuration chain unless
// cfg.S3 names an endpoint.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Gateway, error) {
	client, err := newS3Client(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	m := ops.NewMetrics()
	backend := storage.New(client, storageOptions(&cfg, log, m))
	return newGateway(cfg, log, backend, m)
}

func newGateway(cfg Config, log *slog.Logger, backend *storage.Backend, m *ops.Metrics) (*Gateway, error) {
	id, err := newIdentity(&cfg, log, backend, m, cfg.DefaultHome())
	if err != nil {
		return nil, err
	}
	sec, err := newSecurity(&cfg, id.authn)
	if err != nil {
		return nil, err
	}
	if sec.certs != nil {
		warnWeakTLS(&cfg, log)
	}
	data := datachan.New(datachan.Options{
		Ports: cfg.PassivePorts, PublicHost: cfg.PublicHost, Overrides: cfg.PassiveHostOverrides,
		DataTimeout: cfg.DataTimeout, MaxPerClient: cfg.MaxConnectionsPerIP, Log: log,
		DialPeer: cfg.ActiveDialPeer,
	})
	sender, check := eventsOut(&cfg, log, m)
	var events session.Events // a nil *notify.Sender must stay a nil interface
	if sender != nil {
		events = sender
	}
	srv := NewServer(ServerOptions{
		Session: &session.Config{
			FS:               backend,
			Auth:             sec.authn,
			Data:             data,
			ActiveMode:       cfg.ActiveMode,
			IdleTimeout:      cfg.IdleTimeout,
			DataTimeout:      cfg.DataTimeout,
			CommandTimeout:   cfg.CommandTimeout(),
			Logger:           log,
			Observer:         m,
			ProgressInterval: cfg.ProgressInterval,
			TLS:              sec.tlsConfig(),
			TLSRequired:      cfg.TLS == "required" || cfg.TLS == "implicit",
			TLSSessionReuse:  cfg.TLSSessionReuse == ReuseRequired,
			TLSStrictEOF:     cfg.TLSStrictEOF,
			PathEncoding:     cfg.PathEncoding.Encoding,
			IgnoreSetStat:    cfg.SetStat == "ignore",
			LoginTimeout:     cfg.LoginTimeout,
			Guard:            sec.bans,
			TLSStats:         sec.tlsStats,
			ObjectMetadata:   session.ObjectMetadata(cfg.ObjectMetadata),
			UploadCheck:      check,
			Events:           events,
		},
		MaxConnections:      cfg.MaxConnections,
		MaxConnectionsPerIP: cfg.MaxConnectionsPerIP,
		Proxy:               &ProxyPolicy{Mode: string(cfg.ProxyProtocol), Trusted: cfg.ProxyTrusted, Log: log},
		Bans:                sec.bans,
	})
	m.WatchDataChannels(func() ops.DataStats { return ops.DataStats(data.Stats()) })
	m.WatchCache(backend)
	m.WatchTLS(sec.tlsStats)
	m.WatchMemory(backend)
	m.WatchRefused(srv.Refused)
	m.WatchBans(func() (int, int64) { st := sec.bans.Stats(); return st.BannedNow, st.Bans })
	gw := &Gateway{
		Config: cfg, Log: log, Backend: backend, Data: data, Server: srv, Metrics: m,
		Certs: sec.certs, Bans: sec.bans, TLSStats: sec.tlsStats, Notify: sender,
		ReadyCheckInterval: 5 * time.Second,
		ready:              ops.NewReadiness(backend.Client(), string(cfg.Bucket), cfg.Auth == "s3", log),
		homes:              id.homes,
		authn:              id.authn,
		users:              id.users,
	}
	if c, ok := check.Checker.(*uploadcheck.Checker); ok {
		gw.UploadCheck = c
	}
	return gw, nil
}

// eventsOut builds the events sender and the upload check the configuration
// asks for, with their metrics (docs/events.md).
func eventsOut(cfg *Config, log *slog.Logger, m *ops.Metrics) (*notify.Sender, session.UploadCheck) {
	var sender *notify.Sender
	if cfg.NotifyURL.Set() {
		sender = notify.New(notify.Options{URL: cfg.NotifyURL.String(), Token: cfg.NotifyToken, Queue: cfg.NotifyQueue, Log: log})
		m.WatchNotify(func() (int64, int64, int64, int) {
			st := sender.Stats()
			return st.Sent, st.Retried, st.Dropped, st.Queued
		})
	}
	var check session.UploadCheck
	if cfg.UploadCheckURL.Set() {
		c := &uploadcheck.Checker{URL: cfg.UploadCheckURL.String(), Token: cfg.UploadCheckToken, Timeout: cfg.UploadCheckTimeout}
		check = session.UploadCheck{Checker: c, Timeout: cfg.UploadCheckTimeout, AcceptOnFailure: cfg.UploadCheckFailure == CheckFailureAccept}
		m.WatchUploadCheck(func() (int64, int64, int64) {
			st := c.Stats()
			return st.Passed, st.Rejected, st.Unavailable
		})
	}
	return sender, check
}

// Run creates the served buckets when FTP2S3_CREATE_BUCKETS asks, listens on
// FTP2S3_LISTEN (and FTP2S3_METRICS_LISTEN when set) and serves
// until ctx is cancelled, then shuts down gracefully within FTP2S3_SHUTDOWN_GRACE.
func (g *Gateway) Run(ctx context.Context) error {
	if g.Config.CreateBuckets {
		if err := createBuckets(ctx, g.Backend, &g.Config, g.users, g.Log); err != nil {
			if ctx.Err() != nil {
				return nil // stopped while waiting for S3: not a failure
			}
			return err
		}
		g.bucketsMade = map[string]bool{}
		for _, name := range servedBuckets(&g.Config, g.users) {
			g.bucketsMade[name] = true
		}
	}
	var ls listeners
	if err := ls.open(
		listenOn{"FTP2S3_LISTEN", g.Config.Listen, &ls.ctrl},
		listenOn{"FTP2S3_METRICS_LISTEN", g.Config.MetricsListen, &ls.ops},
	); err != nil {
		return err
	}
	return g.serve(ctx, ls)
}

// Serve serves FTP on ctrl and, when ops is not nil, /metrics, /healthz and
// /readyz on ops, and the configured implicit-FTPS and S3 events listeners,
// until ctx is cancelled. Then it drains: /readyz turns unready, new
// connections get 421, running transfers have FTP2S3_SHUTDOWN_GRACE to finish
// and the rest are aborted. It returns nil after a shutdown, or the error that
// stopped a listener.
func (g *Gateway) Serve(ctx context.Context, ctrl, opsL net.Listener) error {
	return g.serve(ctx, listeners{ctrl: ctrl, ops: opsL})
}

// serve opens the configured listeners ls does not hold yet and serves them
// all (Serve's contract).
func (g *Gateway) serve(ctx context.Context, ls listeners) error {
	if err := ls.open(
		listenOn{"FTP2S3_TLS_LISTEN", g.Config.implicitListen(), &ls.implicit},
		listenOn{"FTP2S3_S3_EVENTS_LISTEN", g.Config.S3EventsListen, &ls.events},
	); err != nil {
		return err
	}
	ctrl, opsL, events := ls.ctrl, ls.ops, ls.events
	attrs := []any{"addr", ctrl.Addr().String(), "passive_ports", g.Config.PassivePorts.String(),
		"public_host", g.Config.PublicHost, "proxy_protocol", g.Config.ProxyProtocol}
	opsCtx, stopOps := context.WithCancel(context.Background())
	var running sync.WaitGroup // the readiness check, the HTTP servers and the sweep
	opsErr := make(chan error, 1)
	if opsL != nil {
		attrs = append(attrs, "metrics_addr", opsL.Addr().String())
		running.Add(2)
		go func() { defer running.Done(); g.ready.Run(opsCtx, g.ReadyCheckInterval) }()
		go func() {
			defer running.Done()
			if err := ops.Serve(opsCtx, opsL, ops.Handler(g.Metrics, g.ready), g.Log); err != nil {
				opsErr <- err
			}
		}()
	}
	if events != nil {
		attrs = append(attrs, "s3_events_addr", events.Addr().String())
		running.Add(1)
		go func() {
			defer running.Done()
			if err := ops.ServeEvents(opsCtx, events, &ops.EventsHandler{Invalidate: g.invalidate, Log: g.Log, Token: string(g.Config.S3EventsToken)}); err != nil {
				select {
				case opsErr <- err:
				default:
				}
			}
		}()
	}
	if g.users != nil && g.bucketsMade != nil {
		// Buckets of homes added by a reload, as Run made those at start.
		g.users.OnReload(func() { g.createReloaded(opsCtx) })
		defer g.users.OnReload(nil)
	}
	if g.users != nil && g.Config.UsersFile != "" {
		running.Add(1)
		go func() { defer running.Done(); g.watchUsers(opsCtx) }()
	}
	if age := g.Config.AbandonedUploadAge; age > 0 {
		g.warnUnswept()
		running.Add(1)
		go func() {
			defer running.Done()
			g.Backend.SweepAbandoned(opsCtx, g.servedPlaces, age, sweepInterval(age))
		}()
	}
	defer func() { stopOps(); running.Wait() }()
	g.Log.Info("ftp2s3 listening", attrs...)

	errc := make(chan error, 2)
	go func() { errc <- g.Server.Serve(ctrl) }()
	serving := 1
	if ls.implicit != nil {
		g.Log.Info("ftp2s3 listening for implicit FTPS", "addr", ls.implicit.Addr().String())
		go func() { errc <- g.Server.ServeImplicitTLS(ls.implicit) }()
		serving++
	}
	wait := func() {
		for ; serving > 0; serving-- {
			<-errc
		}
	}
	select {
	case err := <-errc:
		serving--
		_ = g.Close()
		wait()
		g.closeNotify(context.Background())
		return err
	case err := <-opsErr:
		_ = g.Close()
		wait()
		g.closeNotify(context.Background())
		return err
	case <-ctx.Done():
	}
	g.ready.Drain()
	g.Log.Info("shutting down: refusing new connections, waiting for running transfers",
		"grace", g.Config.ShutdownGrace.String(), "sessions", g.Server.ActiveSessions())
	sctx, cancel := context.WithTimeout(context.Background(), g.Config.ShutdownGrace)
	defer cancel()
	if err := g.Shutdown(sctx); err != nil {
		g.Log.Warn("shutdown grace period over; the remaining transfers were aborted")
	}
	wait()
	g.closeNotify(sctx) // what is left of the grace goes to the queued events
	g.Log.Info("shutdown complete")
	return nil
}

// closeNotify sends the queued events until ctx ends (bounded by the
// shutdown grace in any case) and says how many were lost since start.
func (g *Gateway) closeNotify(ctx context.Context) {
	if g.Notify == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, g.Config.ShutdownGrace)
	defer cancel()
	g.Notify.Close(ctx)
	if st := g.Notify.Stats(); st.Dropped > 0 {
		g.Log.Warn("notify: events lost since start (queue overflow, refused by the receiver, or unsent within the grace)",
			"dropped_total", st.Dropped)
	}
}

// Shutdown drains the FTP server (Server.Shutdown) and then closes the data
// channels, whose idle passive ports would otherwise keep listening.
func (g *Gateway) Shutdown(ctx context.Context) error {
	err := g.Server.Shutdown(ctx)
	_ = g.Data.Close()
	return err
}

// Close ends every session at once (Server.Close) and closes the data channels.
func (g *Gateway) Close() error {
	err := g.Server.Close()
	_ = g.Data.Close()
	return err
}

// invalidate forgets bucket/key in every cache of the gateway (the S3 events
// endpoint, ops.EventsHandler): the shared backend's and, under
// FTP2S3_AUTH=s3, each signed-in user's.
func (g *Gateway) invalidate(bucket, key string) {
	g.Backend.Invalidate(bucket, key)
	if a, ok := g.authn.(*auth.S3Auth); ok {
		a.EachBackend(func(b *storage.Backend) { b.Invalidate(bucket, key) })
	}
}
