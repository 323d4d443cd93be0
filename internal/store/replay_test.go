package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/store"
)

// The replay store of assertion jtis and the revoked token jtis: one
// statement both checks and records a jti; expired rows are taken over or
// purged.
func TestReplayAndRevocationStores(t *testing.T) {
	t.Parallel()
	st := pgtest.NewStore(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	for _, id := range []string{"m2m_a", "m2m_b"} {
		if _, err := st.CreateClient(ctx, store.Client{ID: id, Name: id, AuthMethod: store.AuthPrivateKeyJWT, Expiry: 3600, CreateTime: now}, nil); err != nil {
			t.Fatal(err)
		}
	}
	use := func(client, jti string, exp, at time.Time) bool {
		t.Helper()
		fresh, err := st.UseAssertionJTI(ctx, client, jti, exp, at)
		if err != nil {
			t.Fatal(err)
		}
		return fresh
	}
	exp := now.Add(5 * time.Minute)
	t.Run("a jti is accepted once until its exp", func(t *testing.T) {
		if !use("m2m_a", "j1", exp, now) {
			t.Fatal("a new jti was refused")
		}
		if use("m2m_a", "j1", exp, now.Add(time.Minute)) {
			t.Fatal("a replayed jti was accepted")
		}
		if use("m2m_a", "j1", exp.Add(time.Hour), exp.Add(-time.Second)) {
			t.Fatal("a replayed jti with another exp was accepted before the first exp")
		}
	})
	t.Run("jtis are per client", func(t *testing.T) {
		if !use("m2m_b", "j1", exp, now) {
			t.Fatal("another client's jti was refused")
		}
	})
	t.Run("a row whose exp has passed is taken over", func(t *testing.T) {
		if !use("m2m_a", "j1", exp.Add(time.Hour), exp) {
			t.Fatal("a jti was refused after its exp")
		}
	})
	t.Run("an unknown client is not found", func(t *testing.T) {
		if _, err := st.UseAssertionJTI(ctx, "m2m_gone", "j", exp, now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("a revoked token is revoked, once or twice", func(t *testing.T) {
		for range 2 {
			if err := st.RevokeToken(ctx, "tok1", "m2m_a", exp, now); err != nil {
				t.Fatal(err)
			}
		}
		for jti, want := range map[string]bool{"tok1": true, "tok2": false} {
			if got, err := st.TokenRevoked(ctx, jti); err != nil || got != want {
				t.Errorf("TokenRevoked(%s) = %v, %v; want %v", jti, got, err, want)
			}
		}
	})
	t.Run("the purge deletes only what expired before its time", func(t *testing.T) {
		// Left: m2m_a/j1 (exp+1h), m2m_b/j1 (exp), tok1 (exp).
		n, err := st.PurgeExpired(ctx, exp)
		if err != nil || n != 0 {
			t.Fatalf("purge at exp removed %d (%v), want 0", n, err)
		}
		if n, err = st.PurgeExpired(ctx, exp.Add(time.Second)); err != nil || n != 2 {
			t.Fatalf("purge after exp removed %d (%v), want 2", n, err)
		}
		if revoked, _ := st.TokenRevoked(ctx, "tok1"); revoked {
			t.Error("an expired revocation outlived the purge")
		}
		if use("m2m_a", "j1", exp.Add(time.Hour), exp.Add(time.Second)) {
			t.Error("the purge removed a jti that has not expired")
		}
	})
	t.Run("a client's rows go with it", func(t *testing.T) {
		if err := st.RevokeToken(ctx, "tok3", "m2m_b", exp, now); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Pool().Exec(ctx, `DELETE FROM clients WHERE id = 'm2m_b'`); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM assertion_jtis WHERE client_id = 'm2m_b')
			+ (SELECT count(*) FROM revoked_tokens WHERE client_id = 'm2m_b')`).Scan(&n); err != nil || n != 0 {
			t.Errorf("%d rows of a deleted client left (%v)", n, err)
		}
	})
}
