// Package audit writes keyward's audit log: a row for every admin mutation,
// whatever its outcome, and for failed client authentications, which come
// in floods and are folded into one row per client, source and reason per
// second.
package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/keyward/keyward/internal/jsonhttp"
	"github.com/keyward/keyward/internal/store"
)

// Appender stores audit events.
type Appender interface {
	AppendAudit(ctx context.Context, events []store.AuditEvent) error
}

// Who says who made a request.
type Who struct {
	// Actor is the authenticated caller's client id.
	Actor func(*http.Request) string
	// Source is the address the request came from.
	Source func(*http.Request) string
	// Organization is the organization an event about orgID belongs to,
	// as far as the caller may know.
	Organization func(r *http.Request, orgID string) string
}

// Middleware records every request with a mutating method that reaches the
// handler: who (actor), on which organization, which action and target,
// from where, and the outcome. It runs after authentication; actor and
// source read them from the request.
//
// A change the request makes carries its row: the store commits the pending
// row (store.WithAudit) in the change's own transaction, as a success, so a
// change is never committed without its row, and a row that cannot be
// written rolls the change back and fails the request. When no change
// wrote it (the request failed, or changed nothing), the row is written
// here, after the handler and before the response leaves.
func Middleware(log *slog.Logger, app Appender, who Who, now func() time.Time) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
				next.ServeHTTP(w, r)
				return
			}
			// The router names the route, and so the action and target,
			// only once it has routed the request: after this middleware,
			// before the handler's change.
			event := func() store.AuditEvent {
				action, target := describe(r)
				return store.AuditEvent{
					Time: now().UTC(), ActorClientID: who.Actor(r), OrganizationID: who.Organization(r, chi.URLParam(r, "org_id")),
					Action: action, Target: target, SourceAddress: who.Source(r), Count: 1,
				}
			}
			ctx, pending := store.WithAudit(r.Context(), event)
			rec := &recorder{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(rec, r.WithContext(ctx))
			if pending.Written() {
				if rec.status >= 400 {
					// The change and its row (a success) are committed: the
					// row says what happened to the data, the answer does not.
					log.ErrorContext(r.Context(), "a change was committed with its audit row, but the request answers an error",
						"status", rec.status, "method", r.Method, "path", r.URL.Path)
				}
				rec.flush()
				return
			}
			e := event()
			if e.Target == "" && rec.status < 300 {
				e.Target = createdID(rec.body.Bytes())
			}
			if chi.URLParam(r, "org_id") == "" && e.Action == "organization.create" {
				e.OrganizationID = who.Organization(r, e.Target)
			}
			e.Result = result(rec.status, rec.body.Bytes())
			// The request may have been cancelled; the row must still land.
			actx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
			defer cancel()
			if err := app.AppendAudit(actx, []store.AuditEvent{e}); err != nil {
				log.ErrorContext(r.Context(), "could not write an audit event", "action", e.Action, "target", e.Target, "err", err)
				if rec.status < 400 {
					// A success must not be answered without its row. No
					// route changes anything outside the store, so this
					// should not happen; if it does, the caller hears of a
					// failure rather than of an unaudited success.
					jsonhttp.WriteError(w, r, log, unwritten(err))
					return
				}
			}
			rec.flush()
		})
	}
}

// unwritten is the answer when an audit row could not be written: the
// store's failures answer as they do everywhere else.
func unwritten(err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return jsonhttp.Unavailable()
	}
	return err
}

// recorder holds the response until the audit row is written, and keeps
// its status and body to describe the outcome.
type recorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	return r.body.Write(b)
}

func (r *recorder) flush() {
	r.ResponseWriter.WriteHeader(r.status)
	r.ResponseWriter.Write(r.body.Bytes())
}

// describe names the action from the route pattern, e.g.
// /api/v1/organizations/{org_id}/clients/{client_id} with PATCH is
// client.update of the client id; /api/v1/keys/{kid}/revoke is key.revoke.
func describe(r *http.Request) (action, target string) {
	rc := chi.RouteContext(r.Context())
	pattern := ""
	if rc != nil {
		pattern = rc.RoutePattern()
	}
	segs := strings.Split(strings.Trim(strings.TrimPrefix(pattern, "/api/v1"), "/"), "/")
	param := func(s string) bool { return strings.HasPrefix(s, "{") }
	value := func(s string) string { return chi.URLParam(r, strings.Trim(s, "{}")) }
	n := len(segs)
	if n == 0 || segs[0] == "" {
		return "unknown", ""
	}
	last := segs[n-1]
	switch {
	case param(last) && n >= 2: // a verb on one thing: client.update
		return singular(segs[n-2]) + "." + verb(r.Method), value(last)
	case strings.HasSuffix(last, "s"): // a collection: organization.create
		return singular(last) + "." + verb(r.Method), ""
	case n >= 3 && param(segs[n-2]): // an action on one thing: key.revoke
		return singular(segs[n-3]) + "." + last, value(segs[n-2])
	case n >= 2: // an action on a collection: key.rotate
		return singular(segs[n-2]) + "." + last, ""
	}
	return last, ""
}

func singular(s string) string { return strings.TrimSuffix(s, "s") }

func verb(method string) string {
	switch method {
	case http.MethodPatch:
		return "update"
	case http.MethodPut:
		return "replace"
	case http.MethodDelete:
		return "delete"
	case http.MethodPost:
		return "create"
	}
	return strings.ToLower(method)
}

// createdID finds the id of what a create answered with: an "id" of a
// top-level object (the created thing), else a "client_id" (a client, or
// credentials naming their client).
func createdID(body []byte) string {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return ""
	}
	names := make([]string, 0, len(top))
	for k := range top {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, field := range []string{"id", "client_id"} {
		for _, name := range names {
			var obj map[string]any
			if json.Unmarshal(top[name], &obj) != nil {
				continue
			}
			if s, ok := obj[field].(string); ok {
				return s
			}
		}
	}
	return ""
}

// result is "success", or "failure: STATUS code".
func result(status int, body []byte) string {
	if status < 400 {
		return store.AuditSuccess
	}
	var e struct {
		Error string `json:"error"`
	}
	json.Unmarshal(body, &e)
	return strings.TrimSpace("failure: " + strconv.Itoa(status) + " " + e.Error)
}

// Failures gathers failed client authentications and writes them once per
// interval, one row per client id, source and reason with their count. It
// holds at most maxKeys distinct ones per interval; past that, the rest are
// folded into one row, so a flood of made-up ids cannot grow it.
type Failures struct {
	app     Appender
	log     *slog.Logger
	maxKeys int

	mu      sync.Mutex
	pending map[failureKey]*store.AuditEvent
	extra   int
}

type failureKey struct{ client, source, reason string }

// NewFailures returns an empty batch.
func NewFailures(app Appender, log *slog.Logger, maxKeys int) *Failures {
	return &Failures{app: app, log: log, maxKeys: maxKeys, pending: map[failureKey]*store.AuditEvent{}}
}

// AuthFailed records one failed client authentication; it never blocks on
// I/O.
func (f *Failures) AuthFailed(clientID, source, reason string, t time.Time) {
	k := failureKey{clientID, source, reason}
	f.mu.Lock()
	defer f.mu.Unlock()
	if e := f.pending[k]; e != nil {
		e.Count++
		return
	}
	if len(f.pending) >= f.maxKeys {
		f.extra++
		return
	}
	f.pending[k] = &store.AuditEvent{
		Time: t.UTC(), ActorClientID: clientID, Action: "client.authenticate", Target: clientID,
		SourceAddress: source, Result: "failure: " + reason, Count: 1, OrganizationOfActor: true,
	}
}

// Flush writes what was gathered. On failure the events are dropped and
// logged: the audit log must not grow memory without bound while the
// database is away.
func (f *Failures) Flush(ctx context.Context, now time.Time) error {
	f.mu.Lock()
	events := make([]store.AuditEvent, 0, len(f.pending)+1)
	for _, e := range f.pending {
		events = append(events, *e)
	}
	if f.extra > 0 {
		events = append(events, store.AuditEvent{Time: now.UTC(), Action: "client.authenticate",
			Result: "failure: more failed authentications than one row each can hold", Count: f.extra})
	}
	f.pending, f.extra = map[failureKey]*store.AuditEvent{}, 0
	f.mu.Unlock()
	if err := f.app.AppendAudit(ctx, events); err != nil {
		n := 0
		for _, e := range events {
			n += e.Count
		}
		f.log.Warn("could not write failed authentications to the audit log", "events", n, "err", err)
		return err
	}
	return nil
}

// Run flushes every interval until ctx is done, then once more.
func (f *Failures) Run(ctx context.Context, interval time.Duration, now func() time.Time) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			f.Flush(final, now())
			cancel()
			return
		case <-t.C:
			f.Flush(ctx, now())
		}
	}
}
