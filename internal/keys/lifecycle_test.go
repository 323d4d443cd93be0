package keys_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/keys"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/store"
)

// lifecycleConfig is testConfig with a short rotation period, so that tests
// step through several rotations.
var lifecycleConfig = keys.Config{
	Alg:              keys.ES256,
	JWKSMaxAge:       15 * time.Minute,
	PublishLead:      30 * time.Minute,
	RotationPeriod:   24 * time.Hour,
	MaxTokenLifetime: 2 * time.Hour,
}

// newLifecycle returns an ensured Manager with cfg on a database of the
// test's own.
func newLifecycle(t *testing.T, cfg keys.Config) (*keys.Manager, *store.Store, *clock) {
	t.Helper()
	st := pgtest.NewStore(t)
	clk := newClock()
	m := keys.New(st, newRing(t, testKEK(1)), cfg, clk.Now, quietLog())
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatalf("ensure: %v", err)
	}
	return m, st, clk
}

// freshOn empties st's signing keys and returns an ensured Manager with cfg
// on it. The subtests of a test share one database, one after another:
// creating a database takes longer than most subtests.
func freshOn(t *testing.T, st *store.Store, cfg keys.Config) (*keys.Manager, *store.Store, *clock) {
	t.Helper()
	if _, err := st.Pool().Exec(context.Background(), `DELETE FROM signing_keys`); err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	m := keys.New(st, newRing(t, testKEK(1)), cfg, clk.Now, quietLog())
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatalf("ensure: %v", err)
	}
	return m, st, clk
}

func maintain(t *testing.T, m *keys.Manager) bool {
	t.Helper()
	changed, err := m.Maintain(context.Background())
	if err != nil {
		t.Fatalf("Maintain: %v", err)
	}
	return changed
}

// storedKeys returns the rows of signing_keys, oldest first.
func storedKeys(t *testing.T, st *store.Store) []store.SigningKey {
	t.Helper()
	ks, err := st.SigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// describe is the keys' states in a form that compares and prints well.
func describe(ks []store.SigningKey) string {
	var out []string
	for _, k := range ks {
		out = append(out, k.KID[:8]+":"+k.State+":"+k.Alg)
	}
	return fmt.Sprint(out)
}

func TestMaintain(t *testing.T) {
	t.Parallel()
	shared := pgtest.NewStore(t)
	ctx := context.Background()
	cfg := lifecycleConfig

	t.Run("on an empty database the first key signs at once and a next key is published", func(t *testing.T) {
		st := shared
		if _, err := st.Pool().Exec(ctx, `DELETE FROM signing_keys`); err != nil {
			t.Fatal(err)
		}
		clk := newClock()
		m := keys.New(st, newRing(t, testKEK(1)), cfg, clk.Now, quietLog())
		if !maintain(t, m) {
			t.Fatal("Maintain on an empty database reports no change")
		}
		states := byState(t, st)
		if len(states[store.KeyActive]) != 1 || len(states[store.KeyNext]) != 1 || len(states) != 2 {
			t.Fatalf("keys %v, want one active and one next", states)
		}
		active := keyByKID(t, st, states[store.KeyActive][0])
		wantTime(t, "the first key's activate_time", active.ActivateTime, clk.Now())
		if active.Alg != keys.ES256 || m.ActiveKID() != active.KID {
			t.Errorf("alg %s, signing with %q; want ES256 and %s", active.Alg, m.ActiveKID(), active.KID)
		}
		if maintain(t, m) {
			t.Error("a second Maintain at once changed the keys")
		}
	})

	t.Run("it rotates when the period has passed, not before", func(t *testing.T) {
		m, st, clk := freshOn(t, shared, cfg)
		first, next := m.ActiveKID(), byState(t, st)[store.KeyNext][0]
		before := describe(storedKeys(t, st))
		clk.Advance(cfg.RotationPeriod - time.Second)
		if maintain(t, m) || describe(storedKeys(t, st)) != before {
			t.Fatalf("Maintain a second before the period changed the keys to %s", describe(storedKeys(t, st)))
		}
		clk.Advance(time.Second)
		if !maintain(t, m) {
			t.Fatal("Maintain at the end of the period changed nothing")
		}
		now := clk.Now()
		if m.ActiveKID() != next {
			t.Errorf("signing with %s, want the next key %s", m.ActiveKID(), next)
		}
		retired := keyByKID(t, st, first)
		if retired.State != store.KeyRetired {
			t.Fatalf("the old key is %s, want retired", retired.State)
		}
		wantTime(t, "retire_time", retired.RetireTime, now)
		wantTime(t, "remove_time", retired.RemoveTime, now.Add(cfg.MaxTokenLifetime+keys.ClockSkew))
		if n := len(byState(t, st)[store.KeyNext]); n != 1 {
			t.Errorf("%d next keys after the rotation, want 1", n)
		}
	})

	t.Run("it never makes a key sign before it has been published for the lead", func(t *testing.T) {
		m, st, clk := freshOn(t, shared, cfg)
		first := m.ActiveKID()
		// The next key disappears (an operator deleted it): the one
		// Maintain publishes instead must wait out its lead, however
		// overdue the rotation is.
		if _, err := st.Pool().Exec(ctx, `DELETE FROM signing_keys WHERE state = 'next'`); err != nil {
			t.Fatal(err)
		}
		if err := m.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		clk.Advance(cfg.RotationPeriod + time.Hour)
		maintain(t, m)
		next := byState(t, st)[store.KeyNext]
		if len(next) != 1 || m.ActiveKID() != first {
			t.Fatalf("after Maintain: active %s, next %v; want %s still active and a new next key", m.ActiveKID(), next, first)
		}
		clk.Advance(cfg.PublishLead - time.Second)
		maintain(t, m)
		if m.ActiveKID() != first {
			t.Fatalf("%s signs a second before it has been published for the lead", m.ActiveKID())
		}
		clk.Advance(time.Second)
		maintain(t, m)
		if m.ActiveKID() != next[0] {
			t.Errorf("signing with %s once the lead has passed, want %s", m.ActiveKID(), next[0])
		}
	})

	t.Run("it deletes a retired key when its last token has expired, and it leaves the JWKS", func(t *testing.T) {
		m, st, clk := freshOn(t, shared, cfg)
		first := m.ActiveKID()
		clk.Advance(cfg.RotationPeriod)
		maintain(t, m)
		remove := *keyByKID(t, st, first).RemoveTime
		clk.Advance(remove.Sub(clk.Now()) - time.Second)
		maintain(t, m)
		if !slices.Contains(jwksKIDs(t, m), first) {
			t.Fatal("the retired key left the JWKS a second before its remove_time")
		}
		clk.Advance(time.Second)
		if !maintain(t, m) {
			t.Fatal("Maintain at remove_time changed nothing")
		}
		for _, k := range storedKeys(t, st) {
			if k.KID == first {
				t.Errorf("the retired key is still stored (%s) at its remove_time", k.State)
			}
		}
		if slices.Contains(jwksKIDs(t, m), first) {
			t.Error("the retired key is still in the JWKS at its remove_time")
		}
	})

	t.Run("three replicas due at once rotate exactly once", func(t *testing.T) {
		if _, err := shared.Pool().Exec(ctx, `DELETE FROM signing_keys`); err != nil {
			t.Fatal(err)
		}
		dbURL := shared.Pool().Config().ConnString()
		clk := newClock()
		var ms []*keys.Manager
		for range 3 {
			st, err := store.Open(ctx, dbURL, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(st.Close)
			m := keys.New(st, newRing(t, testKEK(1)), cfg, clk.Now, quietLog())
			if err := m.Ensure(ctx); err != nil {
				t.Fatal(err)
			}
			ms = append(ms, m)
		}
		clk.Advance(cfg.RotationPeriod)
		errs := make(chan error, len(ms))
		changes := make(chan bool, len(ms))
		for _, m := range ms {
			go func() {
				c, err := m.Maintain(ctx)
				errs <- err
				changes <- c
			}()
		}
		changed := 0
		for range ms {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
			if <-changes {
				changed++
			}
		}
		st, err := store.Open(ctx, dbURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		states := byState(t, st)
		if changed != 1 || len(states[store.KeyRetired]) != 1 || len(states[store.KeyActive]) != 1 || len(states[store.KeyNext]) != 1 {
			t.Fatalf("%d replicas changed the keys, now %v; want one rotation: one retired, one active, one next", changed, states)
		}
		for i, m := range ms {
			if m.ActiveKID() != states[store.KeyActive][0] {
				t.Errorf("replica %d signs with %s, want %s", i, m.ActiveKID(), states[store.KeyActive][0])
			}
		}
	})

	t.Run("with nothing due it does not touch the database", func(t *testing.T) {
		m, st, clk := freshOn(t, shared, cfg)
		clk.Advance(cfg.RotationPeriod / 2)
		// A lock held elsewhere would make a locked transaction wait;
		// Maintain returns at once because it decides from memory.
		conn, err := st.Pool().Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `LOCK TABLE signing_keys IN ACCESS EXCLUSIVE MODE`); err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if changed, err := m.Maintain(short); err != nil || changed {
			t.Errorf("Maintain with nothing due = %v, %v; want false, nil without waiting for the database", changed, err)
		}
	})

	t.Run("Ensure supplies what is missing and nothing else", func(t *testing.T) {
		m, st, clk := freshOn(t, shared, cfg)
		// A command run with other settings (RS256) once the rotation is
		// overdue must neither rotate nor replace the ES256 next key.
		clk.Advance(cfg.RotationPeriod * 2)
		before := describe(storedKeys(t, st))
		other := keys.New(st, newRing(t, testKEK(1)), withAlg(cfg, keys.RS256), clk.Now, quietLog())
		if err := other.Ensure(ctx); err != nil {
			t.Fatal(err)
		}
		if after := describe(storedKeys(t, st)); after != before {
			t.Errorf("Ensure changed the keys from %s to %s", before, after)
		}
		if other.ActiveKID() != m.ActiveKID() {
			t.Errorf("Ensure loaded %s, want %s", other.ActiveKID(), m.ActiveKID())
		}
	})
}

func TestNextRotation(t *testing.T) {
	t.Parallel()
	m, st, clk := newLifecycle(t, lifecycleConfig)
	at, ok := m.NextRotation()
	active := keyByKID(t, st, m.ActiveKID())
	if !ok || !at.Equal(active.ActivateTime.Add(lifecycleConfig.RotationPeriod)) {
		t.Fatalf("NextRotation = %s, %v; want the active key's activate_time plus the period", at, ok)
	}
	clk.Advance(at.Sub(clk.Now()))
	maintain(t, m)
	if m.ActiveKID() == active.KID {
		t.Fatalf("no rotation at the time NextRotation gave")
	}
	at2, ok := m.NextRotation()
	if !ok || !at2.Equal(clk.Now().Add(lifecycleConfig.RotationPeriod)) {
		t.Errorf("after the rotation NextRotation = %s, %v; want a period from now", at2, ok)
	}
	// An algorithm change rotates as soon as the new next key has been
	// published for the lead, without waiting for the period.
	changed := keys.New(st, newRing(t, testKEK(1)), withAlg(lifecycleConfig, keys.EdDSA), clk.Now, quietLog())
	if _, err := changed.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	at3, ok := changed.NextRotation()
	if !ok || !at3.Equal(clk.Now().Add(lifecycleConfig.PublishLead)) {
		t.Errorf("after an algorithm change NextRotation = %s, %v; want the lead from now", at3, ok)
	}
}

func TestAlgorithmChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := lifecycleConfig
	cfg.Alg = keys.RS256
	old, st, clk := newLifecycle(t, cfg)
	rsaKID := old.ActiveKID()
	rsaNext := byState(t, st)[store.KeyNext][0]
	rsaToken := issue(t, old, clk.Now(), cfg.MaxTokenLifetime, "rsa")

	// The replica restarts with ES256.
	clk.Advance(time.Minute)
	m := keys.New(st, newRing(t, testKEK(1)), withAlg(cfg, keys.ES256), clk.Now, quietLog())
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	maintain(t, m)
	published := clk.Now()
	states := byState(t, st)
	if len(states[store.KeyNext]) != 1 || keyByKID(t, st, states[store.KeyNext][0]).Alg != keys.ES256 {
		t.Fatalf("after the change: %s; want one next key, of ES256", describe(storedKeys(t, st)))
	}
	esKID := states[store.KeyNext][0]
	t.Run("the RS256 next key that never signed is deleted", func(t *testing.T) {
		for _, k := range storedKeys(t, st) {
			if k.KID == rsaNext {
				t.Errorf("the old next key is still stored as %s", k.State)
			}
		}
	})
	t.Run("the ES256 key is published and advertised before it signs", func(t *testing.T) {
		if m.ActiveKID() != rsaKID {
			t.Errorf("signing with %s, want the RS256 key until the ES256 one has been published for the lead", m.ActiveKID())
		}
		if algs, _ := m.Algorithms(); !slices.Equal(algs, []string{keys.ES256, keys.RS256}) {
			t.Errorf("published algorithms %v, want [ES256 RS256]", algs)
		}
	})

	clk.Advance(published.Add(cfg.PublishLead).Sub(clk.Now()) - time.Second)
	maintain(t, m)
	if m.ActiveKID() != rsaKID {
		t.Fatalf("the ES256 key signs before it has been published for the lead")
	}
	clk.Advance(time.Second)
	maintain(t, m)
	t.Run("the ES256 key signs once published for the lead, not a rotation period later", func(t *testing.T) {
		if m.ActiveKID() != esKID {
			t.Fatalf("signing with %s, want %s", m.ActiveKID(), esKID)
		}
		tok := issue(t, m, clk.Now(), time.Hour, "es")
		if alg := headerOf(t, tok)["alg"]; alg != keys.ES256 {
			t.Errorf("new token alg %v, want ES256", alg)
		}
		body, _ := m.JWKS()
		if _, err := verifyToken(parseJWKS(t, body), tok, clk.Now); err != nil {
			t.Errorf("the ES256 token does not verify: %v", err)
		}
		if keyByKID(t, st, rsaKID).State != store.KeyRetired {
			t.Errorf("the RS256 key is %s, want retired", keyByKID(t, st, rsaKID).State)
		}
	})
	t.Run("tokens the RS256 key signed verify until they expire", func(t *testing.T) {
		body, _ := m.JWKS()
		if _, err := verifyToken(parseJWKS(t, body), rsaToken, clk.Now); err != nil {
			t.Errorf("the RS256 token does not verify: %v", err)
		}
		if _, err := m.Verify(rsaToken, testIssuer); err != nil {
			t.Errorf("Verify of the RS256 token: %v", err)
		}
	})
	t.Run("RS256 leaves the JWKS and the metadata once its last token has expired", func(t *testing.T) {
		clk.Advance(cfg.MaxTokenLifetime + keys.ClockSkew)
		maintain(t, m)
		if algs, _ := m.Algorithms(); !slices.Equal(algs, []string{keys.ES256}) {
			t.Errorf("published algorithms %v, want [ES256]", algs)
		}
	})
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	shared := pgtest.NewStore(t)
	ctx := context.Background()
	cfg := lifecycleConfig

	t.Run("revoking the active key withdraws it at once and the next key signs", func(t *testing.T) {
		m, st, clk := freshOn(t, shared, cfg)
		dbURL := st.Pool().Config().ConnString()
		otherStore, err := store.Open(ctx, dbURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer otherStore.Close()
		other := keys.New(otherStore, newRing(t, testKEK(1)), cfg, clk.Now, quietLog())
		if err := other.Ensure(ctx); err != nil {
			t.Fatal(err)
		}
		revoked, next := m.ActiveKID(), byState(t, st)[store.KeyNext][0]
		old := issue(t, m, clk.Now(), time.Hour, "before")
		clk.Advance(time.Minute) // the next key is far younger than the lead

		if err := m.Revoke(ctx, revoked); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		k := keyByKID(t, st, revoked)
		if k.State != store.KeyRevoked {
			t.Fatalf("the key is %s, want revoked", k.State)
		}
		wantTime(t, "revoke_time", k.RevokeTime, clk.Now())
		if slices.Contains(jwksKIDs(t, m), revoked) {
			t.Error("the revoked key is still in the JWKS")
		}
		if m.ActiveKID() != next {
			t.Errorf("signing with %s, want the former next key %s", m.ActiveKID(), next)
		}
		states := byState(t, st)
		if len(states[store.KeyNext]) != 1 || states[store.KeyNext][0] == next {
			t.Errorf("next keys %v, want a new one", states[store.KeyNext])
		}
		tok := issue(t, m, clk.Now(), time.Hour, "after")
		if kid := headerOf(t, tok)["kid"]; kid == revoked || kid != next {
			t.Errorf("a new token carries kid %v, want %s", kid, next)
		}
		if _, err := m.Verify(old, testIssuer); err == nil {
			t.Error("a token of the revoked key still verifies")
		}
		if _, err := m.Verify(tok, testIssuer); err != nil {
			t.Errorf("a token of the new active key does not verify: %v", err)
		}
		body, _ := m.JWKS()
		if _, err := verifyToken(parseJWKS(t, body), old, clk.Now); !errors.As(err, new(errUnknownKID)) {
			t.Errorf("a resource server fetching the JWKS now accepts the revoked key's token (%v)", err)
		}
		// Another replica takes it up with its next reload (a
		// notification, in a running server).
		if err := other.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(jwksKIDs(t, other), revoked) || other.ActiveKID() != next {
			t.Errorf("the other replica publishes %v and signs with %s", jwksKIDs(t, other), other.ActiveKID())
		}
		if _, err := other.Verify(old, testIssuer); err == nil {
			t.Error("a token of the revoked key still verifies at the other replica")
		}
		// The record goes once its tokens have all expired.
		clk.Advance(k.RemoveTime.Sub(clk.Now()))
		maintain(t, m)
		for _, k := range storedKeys(t, st) {
			if k.KID == revoked {
				t.Error("the revoked key is still stored after its remove_time")
			}
		}
	})

	t.Run("revoking the active key when there is no next key makes a new one sign at once", func(t *testing.T) {
		m, st, _ := freshOn(t, shared, cfg)
		revoked := m.ActiveKID()
		if _, err := st.Pool().Exec(ctx, `DELETE FROM signing_keys WHERE state = 'next'`); err != nil {
			t.Fatal(err)
		}
		if err := m.Revoke(ctx, revoked); err != nil {
			t.Fatal(err)
		}
		states := byState(t, st)
		if len(states[store.KeyActive]) != 1 || len(states[store.KeyNext]) != 1 || m.ActiveKID() == revoked ||
			m.ActiveKID() != states[store.KeyActive][0] {
			t.Errorf("after revoking: %s, signing with %s; want a new active and a new next key", describe(storedKeys(t, st)), m.ActiveKID())
		}
	})

	t.Run("revoking the next key publishes another", func(t *testing.T) {
		m, st, _ := freshOn(t, shared, cfg)
		active, next := m.ActiveKID(), byState(t, st)[store.KeyNext][0]
		if err := m.Revoke(ctx, next); err != nil {
			t.Fatal(err)
		}
		states := byState(t, st)
		if m.ActiveKID() != active || len(states[store.KeyNext]) != 1 || states[store.KeyNext][0] == next {
			t.Errorf("after revoking the next key: %s, signing with %s", describe(storedKeys(t, st)), m.ActiveKID())
		}
		if slices.Contains(jwksKIDs(t, m), next) {
			t.Error("the revoked next key is still in the JWKS")
		}
	})

	t.Run("revoking a retired key withdraws its tokens and changes nothing else", func(t *testing.T) {
		m, st, clk := freshOn(t, shared, cfg)
		first := m.ActiveKID()
		clk.Advance(cfg.RotationPeriod)
		tok := issue(t, m, clk.Now(), time.Hour, "old")
		maintain(t, m)
		active := m.ActiveKID()
		if active == first {
			t.Fatal("no rotation")
		}
		if _, err := m.Verify(tok, testIssuer); err != nil {
			t.Fatalf("before the revocation the retired key's token does not verify: %v", err)
		}
		if err := m.Revoke(ctx, first); err != nil {
			t.Fatal(err)
		}
		if m.ActiveKID() != active || len(byState(t, st)[store.KeyNext]) != 1 {
			t.Errorf("after revoking a retired key: %s, signing with %s", describe(storedKeys(t, st)), m.ActiveKID())
		}
		if _, err := m.Verify(tok, testIssuer); err == nil {
			t.Error("a token of the revoked retired key still verifies")
		}
	})

	t.Run("an unknown kid is not found and a revoked key cannot be revoked again", func(t *testing.T) {
		m, st, _ := freshOn(t, shared, cfg)
		if err := m.Revoke(ctx, "no-such-kid"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Revoke of an unknown kid = %v, want store.ErrNotFound", err)
		}
		kid := m.ActiveKID()
		if err := m.Revoke(ctx, kid); err != nil {
			t.Fatal(err)
		}
		before := describe(storedKeys(t, st))
		if err := m.Revoke(ctx, kid); !errors.Is(err, keys.ErrAlreadyRevoked) {
			t.Errorf("a second Revoke = %v, want ErrAlreadyRevoked", err)
		}
		if after := describe(storedKeys(t, st)); after != before {
			t.Errorf("a refused Revoke changed the keys from %s to %s", before, after)
		}
	})
}

func TestCrashInTheMiddleOfARotation(t *testing.T) {
	t.Parallel()
	shared := pgtest.NewStore(t)
	ctx := context.Background()
	cfg := lifecycleConfig
	errCrash := errors.New("the replica died here")

	for _, step := range []string{"retired", "activated", "published"} {
		for _, how := range []string{"an error", "a cancelled context"} {
			t.Run("failing after the key is "+step+" with "+how+" leaves the old state, which the next Maintain completes", func(t *testing.T) {
				m, st, clk := freshOn(t, shared, cfg)
				before := describe(storedKeys(t, st))
				active, next := m.ActiveKID(), byState(t, st)[store.KeyNext][0]
				clk.Advance(cfg.RotationPeriod)

				mctx, cancel := context.WithCancel(ctx)
				defer cancel()
				m.SetFailpoint(func(_ context.Context, s string) error {
					if s != step {
						return nil
					}
					if how == "an error" {
						return errCrash
					}
					cancel() // the next statement fails, as on a lost connection
					return nil
				})
				if _, err := m.Maintain(mctx); err == nil {
					t.Fatal("Maintain succeeded through the crash")
				}
				if after := describe(storedKeys(t, st)); after != before {
					t.Fatalf("after the crash the keys are %s, want them unchanged: %s", after, before)
				}
				if m.ActiveKID() != active {
					t.Errorf("after the crash the replica signs with %s, want %s", m.ActiveKID(), active)
				}
				if _, err := m.Verify(issue(t, m, clk.Now(), time.Hour, "mid"), testIssuer); err != nil {
					t.Errorf("after the crash tokens do not verify: %v", err)
				}

				m.SetFailpoint(nil)
				if !maintain(t, m) {
					t.Fatal("the next Maintain did not complete the rotation")
				}
				states := byState(t, st)
				if !slices.Equal(states[store.KeyActive], []string{next}) || !slices.Equal(states[store.KeyRetired], []string{active}) ||
					len(states[store.KeyNext]) != 1 {
					t.Errorf("after the next Maintain: %v; want %s active, %s retired, one new next", states, next, active)
				}
			})
		}
	}

	t.Run("a crash in the middle of a revocation leaves the key active and published", func(t *testing.T) {
		m, st, _ := freshOn(t, shared, cfg)
		before := describe(storedKeys(t, st))
		kid := m.ActiveKID()
		m.SetFailpoint(func(_ context.Context, s string) error {
			if s == "activated" {
				return errCrash
			}
			return nil
		})
		if err := m.Revoke(ctx, kid); !errors.Is(err, errCrash) {
			t.Fatalf("Revoke = %v, want the crash", err)
		}
		if after := describe(storedKeys(t, st)); after != before {
			t.Fatalf("after the crash the keys are %s, want %s", after, before)
		}
		m.SetFailpoint(nil)
		if err := m.Revoke(ctx, kid); err != nil {
			t.Fatalf("Revoke again: %v", err)
		}
		if m.ActiveKID() == kid || keyByKID(t, st, kid).State != store.KeyRevoked {
			t.Errorf("after revoking again: %s", describe(storedKeys(t, st)))
		}
	})
}

// TestRunTakesUpChanges runs a replica's loop for real: a change another
// replica makes reaches it by notification, long before its poll.
func TestRunTakesUpChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := lifecycleConfig
	m, st, clk := newLifecycle(t, cfg)
	other, err := store.Open(ctx, st.Pool().Config().ConnString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	replica := keys.New(other, newRing(t, testKEK(1)), cfg, clk.Now, quietLog())
	if err := replica.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		replica.Run(runCtx, time.Hour) // no poll within the test
	}()
	defer func() {
		stop()
		<-done
	}()
	// Listening starts asynchronously; a change made before it would be
	// found by the Resync reload anyway.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("the running replica did not take up %s within 10s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	revoked := m.ActiveKID()
	if err := m.Revoke(ctx, revoked); err != nil {
		t.Fatal(err)
	}
	waitFor("the revocation", func() bool {
		return replica.ActiveKID() == m.ActiveKID() && !slices.Contains(jwksKIDs(t, replica), revoked)
	})

	clk.Advance(cfg.RotationPeriod)
	before := m.ActiveKID()
	if _, err := m.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if m.ActiveKID() == before {
		t.Fatal("no rotation")
	}
	waitFor("the rotation", func() bool { return replica.ActiveKID() == m.ActiveKID() })
}
