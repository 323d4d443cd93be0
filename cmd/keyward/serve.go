package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/admin"
	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/clientcache"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/httpserver"
	"github.com/keyward/keyward/internal/keys"
	"github.com/keyward/keyward/internal/lastused"
	"github.com/keyward/keyward/internal/oauth"
	"github.com/keyward/keyward/internal/ratelimit"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/signer"
	"github.com/keyward/keyward/internal/store"
)

// lastUsedFlushInterval is how often secrets' last_used_time reaches the
// database: often enough for a console, rare enough to cost nothing.
const lastUsedFlushInterval = 5 * time.Second

// clientCheckInterval is how often cached clients are compared with the
// database, the safety net under change notifications. It also confirms
// entries fresh, so it must stay well below --stale-client-ttl.
const clientCheckInterval = 30 * time.Second

// rateLimitKeys bounds the sources and client ids each failure limiter
// remembers.
const rateLimitKeys = 100000

// auditFailureKeys bounds the distinct (client, source, reason) rows of
// failed authentications written per second; the rest fold into one row.
const auditFailureKeys = 1000

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, rest, err := load("serve", config.UsesDatabase|config.UsesKEK|config.UsesServe, args, getenv, stderr)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return &usageError{"serve takes no arguments, got " + strings.Join(rest, " ")}
	}
	log := newLogger(stderr, cfg.LogLevel)
	ring, err := secret.NewKeyring(cfg.KEKs...)
	if err != nil {
		return &config.Error{Setting: "KEYWARD_KEY_ENCRYPTION_KEY", Problem: err.Error()}
	}
	if cfg.BootstrapClientID != "" {
		if err := checkBootstrapCredentials(cfg.BootstrapClientID, cfg.BootstrapClientSecret); err != nil {
			return err
		}
	}

	memLimit := memoryLimit(cfg, getenv)
	if memLimit > 0 {
		debug.SetMemoryLimit(memLimit)
	}
	st, err := openStore(ctx, cfg.DatabaseURL, log, 30*time.Second)
	if err != nil {
		return err
	}
	defer st.Close()
	if !cfg.NoMigrate {
		n, err := st.MigrateUp(ctx, nil)
		if err != nil {
			return err
		}
		if n > 0 {
			log.Info("applied database migrations", "count", n)
		}
	}

	km := keys.New(st, ring, keysConfig(cfg), time.Now, log)
	defer km.Close() // last: after the server and the key reloads have stopped
	if err := km.Ensure(ctx); err != nil {
		return err
	}
	if cfg.BootstrapClientID != "" {
		created, err := ensureBootstrapClient(ctx, st, ring, cfg.BootstrapClientID, cfg.BootstrapClientSecret)
		if err != nil {
			return err
		}
		log.Info("bootstrap admin client is ready", "client_id", cfg.BootstrapClientID, "created", created)
	}

	usage := lastused.New(st.RecordCredentialUse, log)
	clients := clientcache.New(st, clientcache.Config{
		Size:          cfg.ClientCacheSize,
		NegativeTTL:   5 * time.Second,
		StaleTTL:      cfg.StaleClientTTL,
		CheckInterval: clientCheckInterval,
	}, time.Now, log)
	reg, tokenObserver := newMetrics(km, clients, st, time.Now)
	failures := audit.NewFailures(st, log, auditFailureKeys)
	handler := httpserver.New(httpserver.Deps{
		Log:              log,
		Issuer:           cfg.Issuer,
		Keys:             km,
		Ping:             st.Ping,
		MaxTokenRequests: cfg.MaxTokenRequests,
		Metrics:          reg,
		Token: oauth.TokenDeps{
			Log: log, Issuer: cfg.Issuer, Clients: clients, Ring: ring, Signer: km, Usage: usage, Now: time.Now,
			Store: st, Tokens: km,
			FailuresBySource: ratelimit.New(cfg.AuthFailuresPerSource, time.Minute, rateLimitKeys, time.Now),
			FailuresByClient: ratelimit.New(cfg.AuthFailuresPerClient, time.Minute, rateLimitKeys, time.Now),
			Observer:         tokenObserver,
			Failures:         failures,
		},
		Admin: admin.Deps{
			Log: log, Store: st, Keys: km, Ring: ring, Issuer: cfg.Issuer,
			MaxExpiry: int(cfg.MaxTokenExpiry.Seconds()), Now: time.Now, ClientChanged: clients.Invalidate,
		},
	})
	srv := httpserver.Server(handler, log)
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return &config.Error{Setting: "--tls-cert", Problem: "cannot load the certificate and key: " + err.Error()}
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if srv.TLSConfig != nil {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}

	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { km.Run(bg, cfg.KeyReloadInterval) })
	wg.Go(func() { usage.Run(bg, lastUsedFlushInterval) })
	listener, listening := store.FirstResync(clients)
	wg.Go(func() { st.Listen(bg, log, listener, store.ChannelClients) })
	wg.Go(func() { clients.Run(bg) })
	wg.Go(func() { purgeExpired(bg, st, log) })
	wg.Go(func() { failures.Run(bg, time.Second, time.Now) })
	defer func() {
		stopBG()
		wg.Wait()
	}()

	// Serve once change notifications are listened for: the clients the
	// first requests cache then miss no change, and no load of theirs is
	// thrown away by the first Resync.
	select {
	case <-listening:
	case <-time.After(listenWait):
		log.Warn("serving before change notifications are listened for; cached clients are checked every "+
			clientCheckInterval.String()+" meanwhile", "waited", listenWait.String())
	case <-ctx.Done():
		ln.Close()
		return nil
	}
	log.Info("keyward is listening", "addr", ln.Addr().String(), "issuer", cfg.Issuer,
		"signing_kid", km.ActiveKID(), "version", versionString(), "signer", signer.Description(), "memory_limit_bytes", memLimit)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown did not finish in time", "err", err)
	}
	return nil
}

// listenWait bounds how long serve waits for change notifications before it
// serves: the database answered moments ago, so this is only for a
// database that went away since.
const listenWait = 5 * time.Second

// purgeInterval is how often a replica deletes the assertion jtis and
// revoked token jtis that have expired; every replica does, harmlessly.
const purgeInterval = time.Minute

// purgeExpired purges the replay and revocation stores every purgeInterval
// until ctx is done. A row is kept a clock skew past its exp, as long as a
// token may still verify somewhere.
func purgeExpired(ctx context.Context, st *store.Store, log *slog.Logger) {
	t := time.NewTicker(purgeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := st.PurgeExpired(ctx, time.Now().Add(-keys.ClockSkew))
			switch {
			case err != nil && ctx.Err() == nil:
				log.Warn("purge expired jtis", "err", err)
			case n > 0:
				log.Debug("purged expired jtis", "count", n)
			}
		}
	}
}

// newLogger writes JSON lines; a line logged for a request carries its
// request id.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(httpserver.WithRequestID(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})))
}

// openStore connects to the database, waiting up to wait for it to come up
// (a database started beside keyward may still be starting).
func openStore(ctx context.Context, url string, log *slog.Logger, wait time.Duration) (*store.Store, error) {
	deadline := time.Now().Add(wait)
	for attempt := 0; ; attempt++ {
		st, err := store.Open(ctx, url, nil)
		if err == nil {
			return st, nil
		}
		if errors.Is(err, store.ErrBadURL) {
			return nil, &config.Error{Setting: "KEYWARD_DATABASE_URL", Problem: err.Error()}
		}
		if !errors.Is(err, store.ErrUnavailable) || time.Now().After(deadline) {
			return nil, fmt.Errorf("cannot reach the database: %w", err)
		}
		if attempt == 0 && log != nil {
			log.Warn("waiting for the database", "err", err, "for_up_to", wait.String())
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// memoryLimit is the Go heap's soft limit for cfg, or 0 for none. The
// client cache is most of the heap under load (about 400 bytes a client,
// twice that between collections without a limit); auto bounds it for the
// configured cache size so memory stays flat, with room to spare for
// clients with many secrets, keys or claims. GOMEMLIMIT, when set, is
// already in force and wins over auto.
func memoryLimit(cfg config.Config, getenv func(string) string) int64 {
	switch {
	case cfg.MemoryLimit == 0:
		return 0
	case cfg.MemoryLimit > 0:
		return cfg.MemoryLimit
	case getenv("GOMEMLIMIT") != "":
		return 0
	}
	return 64<<20 + int64(cfg.ClientCacheSize)*1300
}
