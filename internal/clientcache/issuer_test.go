package clientcache_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/store"
)

// issuerCounting also counts the lookups of issuers.
type issuerCounting struct {
	*counting
	issuerLoads atomic.Int64
}

func (c *issuerCounting) ClientIDByIssuer(ctx context.Context, iss string) (string, error) {
	c.issuerLoads.Add(1)
	return c.Store.ClientIDByIssuer(ctx, iss)
}

func setAliases(t *testing.T, st *store.Store, id string, aliases ...string) {
	t.Helper()
	_, err := st.UpdateClient(context.Background(), "org_a", id, time.Now(), func(c *store.Client) error {
		c.ClientSigned.IssuerAliases = aliases
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A client is found by its id or an issuer alias from memory once cached;
// an issuer that names no client is remembered as unknown until
// NegativeTTL, or until any client changes.
func TestCacheFindsClientsByIssuer(t *testing.T) {
	t.Parallel()
	base, clk, ids := setup(t)
	db := &issuerCounting{counting: base}
	setAliases(t, db.Store, ids[0], "ops@example.com", "ops2@example.com")
	c := newCache(db, clk)
	byIssuer := func(iss string) (store.Client, error) { return c.ClientByIssuer(context.Background(), iss) }
	loads := func() int64 { return db.loads.Load() + db.issuerLoads.Load() }

	got, err := byIssuer("ops@example.com")
	if err != nil || got.ID != ids[0] {
		t.Fatalf("by alias: %v, %v; want %s", got.ID, err, ids[0])
	}
	if n := loads(); n != 2 {
		t.Fatalf("a cold alias cost %d queries, want 2 (the issuer, then the client)", n)
	}
	for _, iss := range []string{"ops@example.com", "ops2@example.com", ids[0]} {
		if got, err := byIssuer(iss); err != nil || got.ID != ids[0] {
			t.Fatalf("%s: %v, %v", iss, got.ID, err)
		}
	}
	if n := loads(); n != 2 {
		t.Fatalf("warm lookups by alias and id cost %d queries in all, want still 2", n)
	}

	for range 3 {
		if _, err := byIssuer("nobody@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("an unknown issuer: %v, want ErrNotFound", err)
		}
	}
	if n := db.issuerLoads.Load(); n != 2 {
		t.Fatalf("three lookups of an unknown issuer cost %d issuer queries in all, want 2", n)
	}
	clk.Advance(cfg.NegativeTTL)
	byIssuer("nobody@example.com")
	if n := db.issuerLoads.Load(); n != 3 {
		t.Fatalf("after the negative TTL: %d issuer queries, want 3", n)
	}

	// The alias moves to another client; the change's notification reaches
	// the cache as an invalidation of both clients.
	setAliases(t, db.Store, ids[0])
	setAliases(t, db.Store, ids[1], "ops@example.com", "nobody@example.com")
	c.Invalidate(ids[0])
	c.Invalidate(ids[1])
	if got, err := byIssuer("nobody@example.com"); err != nil || got.ID != ids[1] {
		t.Fatalf("an issuer remembered as unknown, then added: %v, %v; want %s at once", got.ID, err, ids[1])
	}
	if got, err := byIssuer("ops@example.com"); err != nil || got.ID != ids[1] {
		t.Fatalf("the moved alias reads %v, %v; want %s", got.ID, err, ids[1])
	}
	if _, err := byIssuer("ops2@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a removed alias: %v, want ErrNotFound", err)
	}
}

// A client evicted by the periodic version check (its notification was
// missed) takes its aliases out of the index with it.
func TestCacheForgetsTheAliasesOfAnEvictedClient(t *testing.T) {
	t.Parallel()
	base, clk, ids := setup(t)
	db := &issuerCounting{counting: base}
	setAliases(t, db.Store, ids[0], "ops@example.com")
	c := newCache(db, clk)
	if _, err := c.ClientByIssuer(context.Background(), "ops@example.com"); err != nil {
		t.Fatal(err)
	}
	setAliases(t, db.Store, ids[0])
	// The periodic check evicts the changed client without an invalidation.
	if err := c.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ClientByIssuer(context.Background(), "ops@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an alias the client no longer holds: %v, want ErrNotFound", err)
	}
}
