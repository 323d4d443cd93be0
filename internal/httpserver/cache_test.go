package httpserver_test

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/pgtest"
)

// eventually polls cond until it holds or the deadline passes: the bound
// within which replicas must agree, not a measurement of speed.
func eventually(t *testing.T, within time.Duration, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two replicas on one database: what an admin changes through one takes
// effect on the other's token endpoint within 2 s, although the other
// serves the client from memory.
func TestCacheReplicasTakeUpChangesWithinTwoSeconds(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	a := newTestServerOn(t, db, nil)
	b := newTestServerOn(t, db, nil)
	adminTok := a.adminToken(t)

	type client struct{ org, id, plain, secretID string }
	newClient := func(t *testing.T) client {
		org := a.createOrg(t, adminTok, "Acme")
		r := a.do(t, "POST", "/api/v1/organizations/"+org+"/clients", adminTok,
			map[string]any{"name": "svc", "scopes": []string{"read", "write"}})
		if r.Status != http.StatusCreated {
			t.Fatalf("create client: %d %s", r.Status, r.Body)
		}
		m := r.JSON(t)
		c := m["client"].(map[string]any)
		return client{org: org, id: c["client_id"].(string), plain: m["plain_secret"].(string),
			secretID: c["secrets"].([]any)[0].(map[string]any)["id"].(string)}
	}

	t.Run("a client created on one replica works at once on the other", func(t *testing.T) {
		c := newClient(t)
		b.token(t, c.id, c.plain)
	})

	tests := []struct {
		name   string
		change func(t *testing.T, c client) apiResponse
		scope  string // asked for after the change
		want   string // error the other replica must answer with
	}{
		{"a deleted client stops getting tokens", func(t *testing.T, c client) apiResponse {
			return a.do(t, "DELETE", "/api/v1/organizations/"+c.org+"/clients/"+c.id, adminTok, nil)
		}, "", "invalid_client"},
		{"a deleted organization's client stops getting tokens", func(t *testing.T, c client) apiResponse {
			return a.do(t, "DELETE", "/api/v1/organizations/"+c.org, adminTok, nil)
		}, "", "invalid_client"},
		{"a deactivated secret stops authenticating", func(t *testing.T, c client) apiResponse {
			return a.do(t, "PATCH", "/api/v1/organizations/"+c.org+"/clients/"+c.id+"/secrets/"+c.secretID, adminTok,
				map[string]any{"status": "INACTIVE"})
		}, "", "invalid_client"},
		{"a deleted secret stops authenticating", func(t *testing.T, c client) apiResponse {
			return a.do(t, "DELETE", "/api/v1/organizations/"+c.org+"/clients/"+c.id+"/secrets/"+c.secretID, adminTok, nil)
		}, "", "invalid_client"},
		{"a removed scope is no longer granted", func(t *testing.T, c client) apiResponse {
			return a.do(t, "PATCH", "/api/v1/organizations/"+c.org+"/clients/"+c.id, adminTok,
				map[string]any{"scopes": []string{"read"}})
		}, "write", "invalid_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t)
			form := url.Values{"grant_type": {"client_credentials"}}
			if tt.scope != "" {
				form.Set("scope", tt.scope)
			}
			// Both replicas hold the client in memory.
			for _, ts := range []*testServer{a, b} {
				if tr := ts.postToken(t, c.id, c.plain, form); tr.Status != http.StatusOK {
					t.Fatalf("before the change: %d %s", tr.Status, tr.Error)
				}
			}
			if r := tt.change(t, c); r.Status >= 300 {
				t.Fatalf("change: %d %s", r.Status, r.Body)
			}
			// The replica that made the change refuses at once.
			if tr := a.postToken(t, c.id, c.plain, form); tr.Error != tt.want {
				t.Fatalf("the changing replica answered %d %q, want %s at once", tr.Status, tr.Error, tt.want)
			}
			var last tokenResponse
			if !eventually(t, 2*time.Second, func() bool {
				last = b.postToken(t, c.id, c.plain, form)
				return last.Error == tt.want
			}) {
				t.Fatalf("the other replica still answers %d %q after 2 s, want %s", last.Status, last.Error, tt.want)
			}
		})
	}
}

// queryCounter counts every query a pool runs, and remembers the last.
type queryCounter struct {
	n    atomic.Int64
	mu   sync.Mutex
	last string
}

func (q *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	q.n.Add(1)
	q.mu.Lock()
	q.last = d.SQL
	q.mu.Unlock()
	return ctx
}
func (q *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// A warm token request makes no database round trip; a cold one makes one.
func TestCacheWarmTokenRequestsMakeNoQueries(t *testing.T) {
	t.Parallel()
	queries := &queryCounter{}
	ts := newTestServerOn(t, pgtest.NewDatabase(t), queries)
	adminTok := ts.adminToken(t)
	org := ts.createOrg(t, adminTok, "Acme")
	id, plain := ts.createClient(t, adminTok, org, map[string]any{"scopes": []string{"read"}})

	before := queries.n.Load()
	ts.token(t, id, plain)
	if n := queries.n.Load() - before; n != 1 {
		t.Fatalf("a cold token request ran %d queries, want 1", n)
	}

	// The creation's own change notifications arrive asynchronously and
	// may evict the entry once more; wait until requests stay quiet.
	if !eventually(t, 10*time.Second, func() bool {
		n := queries.n.Load()
		for range 5 {
			ts.token(t, id, plain)
			time.Sleep(20 * time.Millisecond)
		}
		return queries.n.Load() == n
	}) {
		t.Fatal("token requests kept querying the database")
	}

	before = queries.n.Load()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < 1000; i += 8 {
				if ts.postToken(t, id, plain, url.Values{"grant_type": {"client_credentials"}}).Status != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of 1000 token requests failed", failed.Load())
	}
	if n := queries.n.Load() - before; n != 0 {
		t.Fatalf("1000 warm token requests ran %d queries, want 0; the last: %s", n, queries.last)
	}
	hits, _ := ts.Clients.Stats()
	if hits < 1000 {
		t.Fatalf("the cache served %d hits, want at least 1000", hits)
	}
}
