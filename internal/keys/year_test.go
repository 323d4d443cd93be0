package keys_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/keys"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/store"
)

// cachingVerifier is a resource server that caches the JWKS exactly as
// long as max-age allows and refetches when the copy expires, never
// earlier: the slowest a correct verifier may be to learn of a new key.
// With maxAge zero it fetches for every check instead, as one that has just
// started (or refetched for an unknown kid) does: the first to miss a key
// removed too early.
type cachingVerifier struct {
	maxAge  time.Duration
	fetched time.Time // when the cached copy was fetched
	keys    map[string]publicKey
}

// expire refetches if the cached copy expired by now. It fetches as of the
// expiry instant, from jwks, the document as it was before this step's
// changes: the worst a verifier refetching at expiry can see.
func (v *cachingVerifier) expire(now time.Time, jwks func() map[string]publicKey) {
	for v.maxAge > 0 && !now.Before(v.fetched.Add(v.maxAge)) {
		v.fetched = v.fetched.Add(v.maxAge)
		v.keys = jwks()
	}
}

// TestSimulatedYear runs three replicas' lifecycles on one database for a
// simulated year, in steps shorter than the JWKS max-age, with every
// replica issuing a token at every step. Four resource servers cache the
// JWKS for exactly max-age, out of phase with each other; a fifth does not
// cache. Halfway through, the replicas are restarted one per step with a
// new signing algorithm, as in a rolling deployment.
//
// The timings keep the defaults' shape (lead twice max-age, rotation every
// 720h, tokens up to 24h) but with max-age scaled up to 12h, so that a year
// takes a few thousand steps.
func TestSimulatedYear(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := keys.Config{
		Alg:              keys.EdDSA,
		JWKSMaxAge:       12 * time.Hour,
		PublishLead:      24 * time.Hour,
		RotationPeriod:   720 * time.Hour,
		MaxTokenLifetime: 24 * time.Hour,
	}
	const (
		replicas  = 3
		pollEvery = 6 // steps between reloads that do not wait for a change
	)
	rng := rand.New(rand.NewPCG(2026, 3))
	dbURL := pgtest.NewDatabase(t)
	clk := newClock()
	ring := newRing(t, testKEK(1))
	stores := make([]*store.Store, replicas)
	ms := make([]*keys.Manager, replicas)
	for i := range ms {
		st, err := store.Open(ctx, dbURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Close)
		stores[i] = st
		ms[i] = keys.New(st, ring, cfg, clk.Now, quietLog())
		if err := ms[i].Ensure(ctx); err != nil {
			t.Fatal(err)
		}
	}
	start := clk.Now()
	// Four verifiers whose caches expire a quarter of max-age apart, and
	// one that does not cache.
	verifiers := []*cachingVerifier{{maxAge: 0}}
	for i := range 4 {
		verifiers = append(verifiers, &cachingVerifier{maxAge: cfg.JWKSMaxAge, fetched: start.Add(-time.Duration(i) * cfg.JWKSMaxAge / 4)})
	}
	// fetch is a verifier's GET of the JWKS from a random replica. The
	// document changes a few dozen times a year, so each one is parsed once.
	parsed := map[string]map[string]publicKey{}
	fetch := func() map[string]publicKey {
		body, _ := ms[rng.IntN(replicas)].JWKS()
		if _, ok := parsed[string(body)]; !ok {
			parsed[string(body)] = parseJWKS(t, body)
		}
		return parsed[string(body)]
	}
	for _, v := range verifiers {
		v.keys = fetch()
	}

	type token struct {
		raw, kid    string
		issued, exp time.Time
	}
	var live []token
	var issued, checks, unknownKID int
	actives := []string{ms[0].ActiveKID()}
	activeSince := map[string]time.Time{actives[0]: start}
	firstPublished := map[string]time.Time{}
	rollout := start.Add(182 * 24 * time.Hour)
	rolled := 0
	minStep, maxStep := cfg.JWKSMaxAge/6, cfg.JWKSMaxAge/2
	steps := 0

	// issueBy has replica i issue a token, half of them for the longest
	// lifetime allowed.
	issueBy := func(i int, now time.Time) {
		life := cfg.MaxTokenLifetime
		if rng.IntN(2) == 0 {
			life = time.Hour + time.Duration(rng.Int64N(int64(cfg.MaxTokenLifetime-time.Hour)))
		}
		raw := issue(t, ms[i], now, life, fmt.Sprintf("s%d-r%d", steps, i))
		kid, _ := headerOf(t, raw)["kid"].(string)
		live = append(live, token{raw: raw, kid: kid, issued: now, exp: now.Add(life).Truncate(time.Second)})
		issued++
	}

	for end := start.AddDate(1, 0, 0); clk.Now().Before(end); steps++ {
		// The next step comes after a random interval, or earlier: a
		// second before the last token of a key that no longer signs
		// expires, the instant at which removing the key too early would
		// first break a token.
		next := clk.Now().Add(minStep + time.Duration(rng.Int64N(int64(maxStep-minStep))))
		for _, tok := range live {
			if p := tok.exp.Add(-time.Second); tok.kid != ms[0].ActiveKID() && p.After(clk.Now()) && p.Before(next) {
				next = p
			}
		}
		clk.Advance(next.Sub(clk.Now()))
		now := clk.Now()

		// Caches that expired since the last step were refetched at their
		// expiry, when the replicas still served the last step's keys.
		for _, v := range verifiers {
			v.expire(now, fetch)
		}

		// The rolling deployment: one replica per step restarts with
		// ES256, so for two steps replicas disagree.
		if !now.Before(rollout) && rolled < replicas {
			ms[rolled] = keys.New(stores[rolled], ring, withAlg(cfg, keys.ES256), clk.Now, quietLog())
			if err := ms[rolled].Ensure(ctx); err != nil {
				t.Fatal(err)
			}
			rolled++
		}

		// Replica 0 issues a token just before the lifecycle step: at a
		// rotation, the last token the retiring key signs.
		issueBy(0, now)

		// Every replica's ticker fires: the lifecycle step, all at once.
		var changed atomic.Bool
		var wg sync.WaitGroup
		for _, m := range ms {
			wg.Go(func() {
				c, err := m.Maintain(ctx)
				if err != nil {
					t.Errorf("%s: Maintain: %v", now, err)
				}
				if c {
					changed.Store(true)
				}
			})
		}
		wg.Wait()
		// A change reaches every replica by notification within seconds,
		// far less than a step; the poll catches up regardless.
		if changed.Load() || steps%pollEvery == 0 {
			for _, m := range ms {
				if err := m.Reload(ctx); err != nil {
					t.Fatalf("%s: Reload: %v", now, err)
				}
			}
		}

		// Exactly one key is active, and every replica signs with it. Only
		// Maintain changes the keys here, so checking after each step that
		// changed them checks every instant.
		if changed.Load() {
			var nActive int
			if err := stores[0].Pool().QueryRow(ctx, `SELECT count(*) FROM signing_keys WHERE state = 'active'`).Scan(&nActive); err != nil {
				t.Fatal(err)
			}
			if nActive != 1 {
				t.Fatalf("%s: %d active keys, want exactly one", now, nActive)
			}
		}
		for i, m := range ms {
			if m.ActiveKID() != ms[0].ActiveKID() {
				t.Fatalf("%s: replica %d signs with %s, replica 0 with %s", now, i, m.ActiveKID(), ms[0].ActiveKID())
			}
		}
		published := fetch()
		for kid := range published {
			if _, ok := firstPublished[kid]; !ok {
				firstPublished[kid] = now
			}
		}
		// Retired keys leave on time: the JWKS never accumulates keys.
		if len(published) > 4 {
			t.Fatalf("%s: the JWKS holds %d keys", now, len(published))
		}
		if kid := ms[0].ActiveKID(); kid != actives[len(actives)-1] {
			prev := actives[len(actives)-1]
			if since := now.Sub(activeSince[prev]); since < cfg.RotationPeriod && now.Before(rollout) {
				t.Errorf("%s: %s signed for only %s before %s took over", now, prev, since, kid)
			}
			if lead := now.Sub(firstPublished[kid]); lead < cfg.PublishLead {
				t.Errorf("%s: %s signs after being published for only %s", now, kid, lead)
			}
			actives = append(actives, kid)
			activeSince[kid] = now
		}

		// The others issue theirs just after it: at a rotation, the first
		// tokens the new key signs.
		for i := 1; i < replicas; i++ {
			issueBy(i, now)
		}

		// Every verifier checks every token that has not expired. The key
		// a kid names never changes, so a token is verified in full (with
		// golang-jwt, by one of the verifiers in turn) when it is issued;
		// from then until it expires its kid must be in every verifier's
		// cached JWKS.
		for _, v := range verifiers {
			if v.maxAge == 0 {
				v.keys = fetch()
			}
		}
		kept := live[:0]
		for _, tok := range live {
			if !now.Before(tok.exp) {
				continue
			}
			kept = append(kept, tok)
			for vi, v := range verifiers {
				checks++
				if !tok.issued.Equal(now) || vi != checks%len(verifiers) {
					if _, ok := v.keys[tok.kid]; !ok {
						unknownKID++
						t.Errorf("%s: verifier %d: a token of %s, valid until %s, names a kid not in its cached JWKS", now, vi, tok.kid, tok.exp)
					}
					continue
				}
				if _, err := verifyToken(v.keys, tok.raw, clk.Now); err != nil {
					var unknown errUnknownKID
					if errors.As(err, &unknown) {
						unknownKID++
					}
					t.Errorf("%s: verifier %d: a token of %s, valid until %s, does not verify: %v", now, vi, tok.kid, tok.exp, err)
				}
			}
		}
		live = kept
		if t.Failed() {
			t.FailNow()
		}
	}

	if unknownKID != 0 {
		t.Errorf("%d unknown-kid failures, want none", unknownKID)
	}
	// Twelve scheduled rotations (365 days / 30) and one for the
	// algorithm change.
	if n := len(actives) - 1; n < 12 || n > 13 {
		t.Errorf("%d rotations in a year, want 12 or 13", n)
	}
	algs, _ := ms[0].Algorithms()
	if fmt.Sprint(algs) != "[ES256]" {
		t.Errorf("after the rollout the published algorithms are %v, want [ES256]", algs)
	}
	t.Logf("%d steps, %d tokens, %d checks, %d rotations", steps, issued, checks, len(actives)-1)
}

func withAlg(cfg keys.Config, alg string) keys.Config {
	cfg.Alg = alg
	return cfg
}
