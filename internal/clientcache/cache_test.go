package clientcache_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clientcache"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/store"
)

// counting wraps the real store, counting loads and letting a test hold a
// load open or cut the database off.
type counting struct {
	*store.Store
	loads   atomic.Int64
	hold    chan struct{} // when not nil, loads wait for it to close
	offline atomic.Bool
}

func (c *counting) ClientByID(ctx context.Context, id string) (store.Client, error) {
	c.loads.Add(1)
	if c.hold != nil {
		<-c.hold
	}
	if c.offline.Load() {
		return store.Client{}, store.ErrUnavailable
	}
	return c.Store.ClientByID(ctx, id)
}

func (c *counting) ClientVersions(ctx context.Context, ids []string) (map[string]int64, error) {
	if c.offline.Load() {
		return nil, store.ErrUnavailable
	}
	return c.Store.ClientVersions(ctx, ids)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var cfg = clientcache.Config{Size: 3, NegativeTTL: 5 * time.Second, StaleTTL: 5 * time.Minute, CheckInterval: time.Minute}

func setup(t *testing.T) (*counting, *clock, []string) {
	t.Helper()
	st := pgtest.NewStore(t)
	ctx := context.Background()
	org, err := st.CreateOrganization(ctx, store.Organization{ID: "org_a", DisplayName: "A", CreateTime: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, id := range []string{"m2m_1", "m2m_2", "m2m_3", "m2m_4", "m2m_5"} {
		sec := store.Secret{ID: "sks_" + id, ClientID: id, Hash: []byte("h"), Sealed: []byte("s"), KEKID: "k",
			Suffix: "abcd", Status: store.SecretActive, CreateTime: time.Now()}
		_, err := st.CreateClient(ctx, store.Client{ID: id, OrganizationID: org.ID, Name: id,
			AuthMethod: store.AuthClientSecret, Expiry: 3600, CreateTime: time.Now()}, &sec)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return &counting{Store: st}, &clock{t: time.Now()}, ids
}

func newCache(l clientcache.Loader, c *clock) *clientcache.Cache {
	return clientcache.New(l, cfg, c.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func get(t *testing.T, c *clientcache.Cache, id string) (store.Client, error) {
	t.Helper()
	return c.ClientByID(context.Background(), id)
}

func TestCacheIsBoundedAndKeepsTheMostRecentlyUsed(t *testing.T) {
	t.Parallel()
	db, clk, ids := setup(t)
	c := newCache(db, clk)
	for _, id := range ids { // 1..5: 1 and 2 fall out
		if _, err := get(t, c, id); err != nil {
			t.Fatal(err)
		}
	}
	if c.Len() != cfg.Size {
		t.Fatalf("Len = %d, want the bound %d", c.Len(), cfg.Size)
	}
	db.loads.Store(0)
	for _, id := range ids[2:] {
		get(t, c, id)
	}
	if n := db.loads.Load(); n != 0 {
		t.Fatalf("the 3 most recent clients cost %d loads, want 0", n)
	}
	get(t, c, ids[0])
	if n := db.loads.Load(); n != 1 {
		t.Fatalf("an evicted client cost %d loads, want 1", n)
	}
}

func TestCacheServesFromMemoryAndTrimsSecrets(t *testing.T) {
	t.Parallel()
	db, clk, ids := setup(t)
	c := newCache(db, clk)
	first, err := get(t, c, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	again, _ := get(t, c, ids[0])
	if db.loads.Load() != 1 || again.ID != first.ID {
		t.Fatalf("two lookups cost %d loads, want 1", db.loads.Load())
	}
	// The sealed copy stays: client_secret_jwt assertions are verified
	// with the secret itself, from memory.
	if len(again.Secrets) != 1 || string(again.Secrets[0].Sealed) != "s" || again.Secrets[0].CreateTime != (time.Time{}) {
		t.Fatalf("cached secrets = %+v, want the active one with its sealed copy and without bookkeeping", again.Secrets)
	}
}

func TestCacheRemembersUnknownIDsBriefly(t *testing.T) {
	t.Parallel()
	db, clk, _ := setup(t)
	c := newCache(db, clk)
	for range 3 {
		if _, err := get(t, c, "m2m_nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	}
	if n := db.loads.Load(); n != 1 {
		t.Fatalf("three lookups of an unknown id cost %d loads, want 1", n)
	}
	clk.Advance(cfg.NegativeTTL)
	get(t, c, "m2m_nobody")
	if n := db.loads.Load(); n != 2 {
		t.Fatalf("after the negative TTL the lookup cost %d loads in all, want 2", n)
	}
}

func TestCacheConcurrentMissesShareOneLoad(t *testing.T) {
	t.Parallel()
	db, clk, ids := setup(t)
	db.hold = make(chan struct{})
	c := newCache(db, clk)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := get(t, c, ids[0]); err != nil {
				t.Error(err)
			}
		})
	}
	// Every lookup has missed, so each has started or joined a load.
	for _, misses := c.Stats(); misses < 10; _, misses = c.Stats() {
		time.Sleep(time.Millisecond)
	}
	close(db.hold)
	wg.Wait()
	if n := db.loads.Load(); n != 1 {
		t.Fatalf("10 concurrent misses cost %d loads, want 1", n)
	}
}

func TestCacheDoesNotKeepALoadThatAChangeOvertook(t *testing.T) {
	t.Parallel()
	db, clk, ids := setup(t)
	db.hold = make(chan struct{})
	c := newCache(db, clk)
	done := make(chan struct{})
	go func() {
		defer close(done)
		get(t, c, ids[0])
	}()
	for db.loads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	c.Invalidate(ids[0]) // a change arrives while the load reads
	close(db.hold)
	<-done
	get(t, c, ids[0])
	if n := db.loads.Load(); n != 2 {
		t.Fatalf("loads = %d, want 2: the overtaken load must not be cached", n)
	}
}

func TestCacheCheckFindsChangesItWasNotToldOf(t *testing.T) {
	t.Parallel()
	db, clk, ids := setup(t)
	c := newCache(db, clk)
	for _, id := range ids[:3] {
		get(t, c, id)
	}
	ctx := context.Background()
	// Changed and deleted behind the cache's back (no listener runs here).
	if _, err := db.Pool().Exec(ctx, `UPDATE clients SET scopes = '{x}' WHERE id = $1`, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool().Exec(ctx, `DELETE FROM clients WHERE id = $1`, ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := c.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 1 {
		t.Fatalf("after the check %d entries remain, want 1 (the unchanged client)", c.Len())
	}
	got, err := get(t, c, ids[0])
	if err != nil || len(got.Scopes) != 1 || got.Scopes[0] != "x" {
		t.Fatalf("the changed client reads %v, %v; want its new scopes", got.Scopes, err)
	}
	if _, err := get(t, c, ids[1]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the deleted client reads err %v, want ErrNotFound", err)
	}
}

// With the database down, a client confirmed within StaleTTL keeps being
// served; one confirmed longer ago is not, and an unseen one is 503.
func TestCacheServesStaleEntriesOnlyWithinStaleTTL(t *testing.T) {
	t.Parallel()
	db, clk, ids := setup(t)
	c := newCache(db, clk)
	get(t, c, ids[0])
	get(t, c, ids[1])
	clk.Advance(cfg.StaleTTL - time.Minute)
	if err := c.Check(context.Background()); err != nil { // confirms both
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	db.offline.Store(true)
	if _, err := get(t, c, ids[0]); err != nil {
		t.Fatalf("a client confirmed 2 minutes ago, database down: %v, want served", err)
	}
	if _, err := get(t, c, ids[2]); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("an unseen client, database down: %v, want ErrUnavailable", err)
	}
	clk.Advance(cfg.StaleTTL)
	if _, err := get(t, c, ids[1]); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("a client confirmed longer than StaleTTL ago, database down: %v, want ErrUnavailable", err)
	}
}
