// Package httpserver owns keyward's HTTP surface: the router with every
// route in routes.go, the middleware every request passes through, the
// health checks, the well-known documents and the admin console's files.
package httpserver

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/keyward/keyward/internal/admin"
	"github.com/keyward/keyward/internal/jsonhttp"
	"github.com/keyward/keyward/internal/keys"
	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/internal/oauth"
)

// Deps is everything the routes need.
type Deps struct {
	Log    *slog.Logger
	Issuer string
	// MaxTokenRequests bounds the token requests served at once; more are
	// answered 503 at once instead of queueing. Zero means no bound.
	MaxTokenRequests int
	// Metrics is served at /metrics (an empty registry when nil).
	Metrics *metrics.Registry
	Keys    *keys.Manager
	// Ping checks the database for /readyz.
	Ping  func(ctx context.Context) error
	Token oauth.TokenDeps
	Admin admin.Deps
}

// New returns keyward's HTTP handler.
func New(d Deps) http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.RequestID, requestIDHeader, accessLog(d.Log), recoverer(d.Log), limitBody(d.Log), middleware.GetHead)
	r.NotFound(func(w http.ResponseWriter, req *http.Request) {
		jsonhttp.WriteError(w, req, d.Log, jsonhttp.NewError(http.StatusNotFound, "not_found", "no such endpoint"))
	})
	r.MethodNotAllowed(methodNotAllowed(d.Log, r))
	routes(r, d)
	return r
}

// methodNotAllowed answers 405 with the methods the path does allow.
func methodNotAllowed(log *slog.Logger, mux *chi.Mux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete} {
			if mux.Match(chi.NewRouteContext(), m, r.URL.Path) {
				allowed = append(allowed, m)
			}
		}
		desc := "the method " + r.Method + " is not allowed here"
		e := jsonhttp.NewError(http.StatusMethodNotAllowed, "invalid_request", desc)
		for i, m := range allowed {
			if i == 0 {
				e = e.With("Allow", m)
				e.Description = desc + "; use " + m
			} else {
				e.Header.Add("Allow", m)
				e.Description += " or " + m
			}
		}
		jsonhttp.WriteError(w, r, log, e)
	}
}

func requestIDHeader(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", middleware.GetReqID(r.Context()))
		next.ServeHTTP(w, r)
	})
}

// accessLog writes one line per request; it never logs headers or bodies,
// which may carry credentials.
func accessLog(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r)
			log.LogAttrs(r.Context(), slog.LevelDebug, "request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", ww.Status()), slog.Duration("duration", time.Since(start)))
		})
	}
}

// recoverer turns a panic into a 500 that reveals nothing, and logs it.
func recoverer(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.ErrorContext(r.Context(), "panic serving request", "path", r.URL.Path, "panic", v)
					jsonhttp.WriteError(w, r, log, jsonhttp.NewError(http.StatusInternalServerError, "internal_error", "internal error"))
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// limitBody caps every request body at jsonhttp.MaxBodyBytes; a declared
// length over the cap is refused before reading.
func limitBody(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > jsonhttp.MaxBodyBytes {
				jsonhttp.WriteError(w, r, log, jsonhttp.TooLarge())
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, jsonhttp.MaxBodyBytes)
			next.ServeHTTP(w, r)
		})
	}
}

// shed serves at most limit requests at once and answers the rest 503 with
// Retry-After at once: under overload a fast refusal that clients retry
// beats a queue that grows until every request times out.
func shed(log *slog.Logger, limit int, next http.Handler) http.Handler {
	if limit <= 0 {
		return next
	}
	slots := make(chan struct{}, limit)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			next.ServeHTTP(w, r)
		default:
			w.Header().Set("Cache-Control", "no-store")
			jsonhttp.WriteError(w, r, log, jsonhttp.NewError(http.StatusServiceUnavailable, "temporarily_unavailable",
				"the server is busy; retry shortly").With("Retry-After", "1"))
		}
	})
}

// WithRequestID wraps a log handler so that every record logged with a
// request's context carries its request id.
func WithRequestID(h slog.Handler) slog.Handler { return requestIDHandler{h} }

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := middleware.GetReqID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// handleMetrics serves the registry in the Prometheus text format.
func handleMetrics(reg *metrics.Registry) http.HandlerFunc {
	if reg == nil {
		reg = metrics.New()
	}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", metrics.ContentType)
		w.Header().Set("Cache-Control", "no-store")
		reg.Write(w)
	}
}

// Server returns an http.Server for handler with keyward's limits: slow or
// idle clients are cut off, and headers are bounded (a larger request gets
// 431 before any handler runs).
func Server(handler http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// MaxHeaderBytes bounds a request's header block.
const MaxHeaderBytes = 64 << 10
