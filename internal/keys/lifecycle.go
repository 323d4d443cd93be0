package keys

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/store"
)

// The lifecycle of a key, as every replica keeps it:
//
//	next     published in the JWKS, not signing; created at least PublishLead
//	         before it may sign, so every verifier's cached JWKS holds it by then
//	active   signing; exactly one key at any instant (a unique index)
//	retired  published, not signing, until remove_time: its last token has
//	         expired (MaxTokenLifetime) plus ClockSkew
//	removed  deleted from the database and the JWKS
//	revoked  withdrawn at once (Revoke); its tokens no longer verify
//
// Every change happens in a transaction holding the signing-key lock that
// first reads the keys again (store.WithKeysLocked): a compare-and-swap, so
// that with any number of replicas a due change happens exactly once.

// maintainInterval bounds how often Run checks whether something is due.
// The check reads only memory, so it may be frequent.
const maintainInterval = 5 * time.Second

// plan is what the lifecycle has to do to the stored keys.
type plan struct {
	remove    []store.SigningKey // retired or revoked keys whose tokens have all expired
	drop      []store.SigningKey // next keys that will never sign: another algorithm, or spares
	retire    *store.SigningKey  // the active key, when it hands over
	activate  *store.SigningKey  // the key that signs from now
	newActive bool               // nothing signs and nothing is published to take over
	first     bool               // there are no keys at all: a first start
	newNext   bool               // publish a new next key of the configured algorithm
}

func (p plan) empty() bool {
	return len(p.remove) == 0 && len(p.drop) == 0 && p.retire == nil && p.activate == nil && !p.newActive && !p.newNext
}

// decide compares the stored keys with the schedule at now. With full false
// it only supplies what is missing (an active key, a next key), which is
// right under any configuration; with full true it also removes, rotates and
// changes the algorithm.
func decide(ks []store.SigningKey, cfg Config, now time.Time, full bool) plan {
	var p plan
	var active *store.SigningKey
	var nexts []*store.SigningKey
	for i := range ks {
		k := &ks[i]
		switch k.State {
		case store.KeyActive:
			active = k
		case store.KeyNext:
			nexts = append(nexts, k)
		case store.KeyRetired, store.KeyRevoked:
			if full && removed(*k, now) {
				p.remove = append(p.remove, *k)
			}
		}
	}
	// The next key is the oldest of the configured algorithm.
	var next *store.SigningKey
	for _, k := range nexts {
		if next == nil && (k.Alg == cfg.Alg || !full) {
			next = k
		}
	}

	if active == nil {
		// Nothing signs, so no token can be waiting for a key. Prefer a
		// key already published (of any algorithm: verifiers may hold it);
		// otherwise a new key signs at once.
		switch {
		case next != nil:
			p.activate, next = next, nil
		case len(nexts) > 0:
			p.activate = nexts[0]
		default:
			p.newActive, p.first = true, len(ks) == 0
		}
	} else if full && next != nil && !now.Before(rotateAt(*active, *next, cfg)) {
		p.retire, p.activate, next = active, next, nil
	}
	if full {
		for _, k := range nexts {
			if k != next && k != p.activate {
				p.drop = append(p.drop, *k)
			}
		}
	}
	p.newNext = next == nil
	return p
}

// rotateAt is when next takes over from active: once active has signed for
// the rotation period (at once when it has another algorithm than the
// configured one), and never before next has been published for the lead.
func rotateAt(active, next store.SigningKey, cfg Config) time.Time {
	eligible := next.CreateTime.Add(cfg.PublishLead)
	due := active.CreateTime
	if active.ActivateTime != nil {
		due = *active.ActivateTime
	}
	due = due.Add(cfg.RotationPeriod)
	if active.Alg != cfg.Alg {
		due = eligible
	}
	if due.Before(eligible) {
		return eligible
	}
	return due
}

// NextRotation returns when the scheduled lifecycle will next make a new key
// sign, given the stored keys and cfg; ok is false when it cannot tell yet
// (no active key, or no next key of the configured algorithm published).
func NextRotation(ks []store.SigningKey, cfg Config) (at time.Time, ok bool) {
	cfg = cfg.withDefaults()
	var active, next *store.SigningKey
	for i := range ks {
		switch k := &ks[i]; {
		case k.State == store.KeyActive:
			active = k
		case k.State == store.KeyNext && k.Alg == cfg.Alg && next == nil:
			next = k
		}
	}
	if active == nil || next == nil {
		return time.Time{}, false
	}
	return rotateAt(*active, *next, cfg), true
}

// NextRotation returns when this replica expects the next scheduled
// rotation, from the keys it has loaded (see the package function).
func (m *Manager) NextRotation() (time.Time, bool) { return NextRotation(m.Keys(), m.cfg) }

// Ensure makes sure an active key and a next key exist (creating them on a
// first start: the first key signs at once, since nothing can depend on a
// cached JWKS yet) and loads the key state. It changes nothing else, so a
// command run with settings other than the servers' cannot disturb them.
// Replicas starting at once agree: the check runs under the signing-key
// lock.
func (m *Manager) Ensure(ctx context.Context) error {
	if _, err := m.apply(ctx, false); err != nil {
		return fmt.Errorf("ensure signing keys: %w", err)
	}
	return m.Reload(ctx)
}

// Maintain brings the stored keys in line with the schedule at the injected
// clock's now: it keeps one active key and a next key of the configured
// algorithm, rotates when the active key has signed for the rotation period
// (or has another algorithm) and the next key has been published for the
// lead, retires the old key until its last token has expired, and deletes
// keys whose tokens have all expired. Every replica calls it on a ticker
// (Run); it touches the database only when the keys this replica last read
// say something is due, and then decides again on what it reads under the
// signing-key lock. It reloads after any change and reports whether it made
// one; errors are the store's.
func (m *Manager) Maintain(ctx context.Context) (changed bool, err error) {
	if seen := m.seen.Load(); seen != nil && decide(*seen, m.cfg, m.now().UTC(), true).empty() {
		return false, nil
	}
	changed, err = m.apply(ctx, true)
	if err != nil {
		return false, fmt.Errorf("maintain signing keys: %w", err)
	}
	// Reload even when another replica did the work first, so that this
	// one stops finding it due.
	return changed, m.Reload(ctx)
}

func (m *Manager) apply(ctx context.Context, full bool) (changed bool, err error) {
	err = m.store.WithKeysLocked(ctx, func(tx store.KeyTx) error {
		ks, err := tx.Keys(ctx)
		if err != nil {
			return err
		}
		now := m.now().UTC()
		p := decide(ks, m.cfg, now, full)
		if p.empty() {
			return nil
		}
		changed = true
		return m.carryOut(ctx, tx, p, now)
	})
	return changed && err == nil, err
}

// carryOut makes the changes of p inside the locked transaction, in an
// order that keeps at most one key active at every statement.
func (m *Manager) carryOut(ctx context.Context, tx store.KeyTx, p plan, now time.Time) error {
	for _, k := range append(p.remove, p.drop...) {
		if err := tx.Delete(ctx, k.KID); err != nil {
			return err
		}
		m.log.Info("removed a signing key", "kid", k.KID, "alg", k.Alg, "state", k.State)
	}
	if err := m.fail(ctx, "removed"); err != nil {
		return err
	}
	if p.retire != nil {
		k := *p.retire
		remove := now.Add(m.cfg.MaxTokenLifetime + ClockSkew)
		k.State, k.RetireTime, k.RemoveTime = store.KeyRetired, &now, &remove
		if err := tx.Update(ctx, k); err != nil {
			return err
		}
		m.log.Info("retired a signing key", "kid", k.KID, "leaves_jwks", remove)
		if err := m.fail(ctx, "retired"); err != nil {
			return err
		}
	}
	if p.activate != nil {
		k := *p.activate
		k.State, k.ActivateTime = store.KeyActive, &now
		if err := tx.Update(ctx, k); err != nil {
			return err
		}
		m.log.Info("a new signing key signs", "kid", k.KID, "alg", k.Alg)
		if err := m.fail(ctx, "activated"); err != nil {
			return err
		}
	}
	if p.newActive {
		k, err := m.generate(store.KeyActive, now)
		if err != nil {
			return err
		}
		if err := tx.Insert(ctx, k); err != nil {
			return err
		}
		if p.first {
			m.log.Info("created the first signing key", "kid", k.KID, "alg", k.Alg)
		} else {
			m.log.Warn("created a signing key that signs at once, without being published first", "kid", k.KID, "alg", k.Alg)
		}
		if err := m.fail(ctx, "created"); err != nil {
			return err
		}
	}
	if p.newNext {
		k, err := m.generate(store.KeyNext, now)
		if err != nil {
			return err
		}
		if err := tx.Insert(ctx, k); err != nil {
			return err
		}
		m.log.Info("published a next signing key", "kid", k.KID, "alg", k.Alg, "may_sign_from", *k.ActivateTime)
		if err := m.fail(ctx, "published"); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) fail(ctx context.Context, step string) error {
	if m.failpoint == nil {
		return nil
	}
	return m.failpoint(ctx, step)
}

// Rotate makes the next key active, retires the active one and publishes a
// new next key, all in one transaction, whatever the schedule says. When
// the next key has been published for less than the publish lead it returns
// a *TooEarlyError and changes nothing, because verifiers might not have
// fetched it yet; when there is no next key it publishes one and returns a
// *TooEarlyError saying when it may sign. A rotation commits the request's
// pending audit row (store.WithAudit) with it; a refusal leaves it pending.
func (m *Manager) Rotate(ctx context.Context) error {
	var tooEarly *TooEarlyError
	err := m.store.WithKeysLocked(ctx, func(tx store.KeyTx) error {
		ks, err := tx.Keys(ctx)
		if err != nil {
			return err
		}
		now := m.now().UTC()
		active, next := activeAndNext(ks, m.cfg.Alg)
		if next == nil {
			k, err := m.generate(store.KeyNext, now)
			if err != nil {
				return err
			}
			tooEarly = &TooEarlyError{KID: k.KID, Until: *k.ActivateTime}
			return tx.Insert(ctx, k)
		}
		if eligible := next.CreateTime.Add(m.cfg.PublishLead); now.Before(eligible) {
			tooEarly = &TooEarlyError{KID: next.KID, Until: eligible}
			return nil
		}
		if err := m.carryOut(ctx, tx, plan{retire: active, activate: next, newNext: true}, now); err != nil {
			return err
		}
		// Only a rotation is the change asked for: a next key published
		// on the way to a refusal is what the schedule would have done.
		tx.Audit("")
		return nil
	})
	if err != nil {
		return fmt.Errorf("rotate signing key: %w", err)
	}
	if err := m.Reload(ctx); err != nil {
		return err
	}
	if tooEarly != nil {
		return tooEarly
	}
	return nil
}

// activeAndNext returns the active key and the next key that would take
// over: the oldest of algorithm alg, else the oldest of any.
func activeAndNext(ks []store.SigningKey, alg string) (active, next *store.SigningKey) {
	for i := range ks {
		switch k := &ks[i]; k.State {
		case store.KeyActive:
			active = k
		case store.KeyNext:
			if next == nil || (next.Alg != alg && k.Alg == alg) {
				next = k
			}
		}
	}
	return active, next
}

// Revoke withdraws the key kid at once, for when its private key may have
// leaked: it leaves the JWKS, tokens it signed no longer verify, and when it
// was active the next key signs from now (a new key when there is none,
// although verifiers may not hold it yet: the price of an emergency). A new
// next key is published when none is left. The revoked key is deleted once
// every token it signed has expired. The revocation commits the request's
// pending audit row (store.WithAudit) with it. Revoke returns
// store.ErrNotFound (wrapped) for an unknown kid and ErrAlreadyRevoked for a
// revoked key.
func (m *Manager) Revoke(ctx context.Context, kid string) error {
	err := m.store.WithKeysLocked(ctx, func(tx store.KeyTx) error {
		ks, err := tx.Keys(ctx)
		if err != nil {
			return err
		}
		now := m.now().UTC()
		i := slices.IndexFunc(ks, func(k store.SigningKey) bool { return k.KID == kid })
		if i < 0 {
			return fmt.Errorf("signing key %s: %w", kid, store.ErrNotFound)
		}
		k := ks[i]
		if k.State == store.KeyRevoked {
			return ErrAlreadyRevoked
		}
		was := k.State
		k.State, k.RevokeTime = store.KeyRevoked, &now
		if k.RemoveTime == nil {
			remove := now.Add(m.cfg.MaxTokenLifetime + ClockSkew)
			k.RemoveTime = &remove
		}
		if err := tx.Update(ctx, k); err != nil {
			return err
		}
		m.log.Warn("revoked a signing key", "kid", kid, "was", was)
		if err := m.fail(ctx, "revoked"); err != nil {
			return err
		}
		rest := slices.Delete(slices.Clone(ks), i, i+1)
		active, next := activeAndNext(rest, m.cfg.Alg)
		var p plan
		if active == nil {
			p.activate, next = next, nil
			p.newActive = p.activate == nil
		}
		p.newNext = next == nil || next.Alg != m.cfg.Alg
		if err := m.carryOut(ctx, tx, p, now); err != nil {
			return err
		}
		tx.Audit(kid)
		return nil
	})
	if err != nil {
		return fmt.Errorf("revoke signing key %s: %w", kid, err)
	}
	return m.Reload(ctx)
}

// generate makes a key of the configured algorithm, its private half sealed
// under the primary key-encryption key with the kid as associated data. A
// next key's activate_time is the earliest time it may sign.
func (m *Manager) generate(state string, now time.Time) (store.SigningKey, error) {
	alg := m.cfg.Alg
	priv, err := newPrivateKey(alg, m.cfg.Bits)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("generate %s key: %w", alg, err)
	}
	kid, err := thumbprintKID(priv.Public())
	if err != nil {
		return store.SigningKey{}, err
	}
	pub, err := publicJWK(kid, alg, priv.Public())
	if err != nil {
		return store.SigningKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, err
	}
	sealed, kekID := m.ring.Seal(der, []byte(kid))
	clear(der)
	activate := now
	if state == store.KeyNext {
		activate = now.Add(m.cfg.PublishLead)
	}
	return store.SigningKey{
		KID: kid, Alg: alg, State: state, PublicJWK: pub,
		SealedPrivate: sealed, KEKID: kekID, CreateTime: now, ActivateTime: &activate,
	}, nil
}

// Run keeps this replica's keys current until ctx is done. It runs Maintain
// at once and then every few seconds (a look at the loaded keys that goes to
// the database only when something is due), reloads as soon as any replica
// changes the keys (LISTEN on store.ChannelKeys), and reloads every poll as
// well, in case notifications were lost. Failures keep the loaded state and
// are logged.
func (m *Manager) Run(ctx context.Context, poll time.Duration) {
	changes := make(notifier, 1)
	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { m.store.Listen(lctx, m.log, changes, store.ChannelKeys) })
	defer func() {
		stop()
		wg.Wait()
	}()

	maintain := func() {
		if _, err := m.Maintain(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("maintain signing keys", "err", err)
		}
	}
	reload := func() {
		if err := m.Reload(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("reload signing keys", "err", err)
		}
	}
	maintain()
	tick := time.NewTicker(min(poll, maintainInterval))
	defer tick.Stop()
	polls := time.NewTicker(poll)
	defer polls.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changes:
			reload()
		case <-polls.C:
			reload()
		case <-tick.C:
			maintain()
		}
	}
}

// notifier turns change notifications into at most one pending reload.
type notifier chan struct{}

func (n notifier) Notify(channel, payload string) { n.signal() }
func (n notifier) Resync()                        { n.signal() }

func (n notifier) signal() {
	select {
	case n <- struct{}{}:
	default:
	}
}
