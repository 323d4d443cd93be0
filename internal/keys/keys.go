// Package keys owns the server's token-signing keys: generating and sealing
// them, their next -> active -> retired states, signing access tokens with
// the active one, verifying tokens against the published ones, and the JWKS
// document built from them.
package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

// ClockSkew is how far clocks of keyward and its verifiers may disagree. A
// retired key stays published this much longer than its last token lives.
const ClockSkew = time.Minute

// Config sets the key lifecycle's timing.
type Config struct {
	Bits int // RSA modulus size of new keys
	// JWKSMaxAge is how long verifiers may cache the JWKS.
	JWKSMaxAge time.Duration
	// PublishLead is how long a key is published as next before it may sign;
	// at least JWKSMaxAge, so every correctly caching verifier holds it by then.
	PublishLead time.Duration
	// MaxTokenLifetime is the longest a token may live: a retired key stays
	// published that long (plus ClockSkew) after its last signature.
	MaxTokenLifetime time.Duration
}

// ErrNoActiveKey is returned by Sign before a key has been loaded.
var ErrNoActiveKey = errors.New("no active signing key is loaded")

// TooEarlyError is returned by Rotate when the next key has not been
// published long enough for every verifier's cache to hold it.
type TooEarlyError struct {
	KID   string
	Until time.Time
}

func (e *TooEarlyError) Error() string {
	return fmt.Sprintf("the next key %s may not sign before %s", e.KID, e.Until.UTC().Format(time.RFC3339))
}

// Manager keeps the loaded key state of one replica. The database is the
// source of truth; every replica reloads from it, so they all agree on the
// active key.
type Manager struct {
	store *store.Store
	ring  *secret.Keyring
	cfg   Config
	now   func() time.Time
	log   *slog.Logger

	state atomic.Pointer[keyState]

	mu      sync.Mutex                 // serialises reloads
	private map[string]*rsa.PrivateKey // opened private keys by kid
}

type keyState struct {
	keys     []store.SigningKey // as listed: everything not yet removed
	activeID string
	signKey  jwk.Key // the active private key, kid and alg set
	verify   jwk.Set // the published public keys
	jwks     []byte
	etag     string
}

// New returns a Manager with nothing loaded; call Ensure before Sign.
func New(st *store.Store, ring *secret.Keyring, cfg Config, now func() time.Time, log *slog.Logger) *Manager {
	m := &Manager{store: st, ring: ring, cfg: cfg, now: now, log: log, private: map[string]*rsa.PrivateKey{}}
	m.state.Store(&keyState{verify: jwk.NewSet(), jwks: []byte(`{"keys":[]}`), etag: etagOf([]byte(`{"keys":[]}`))})
	return m
}

// Ensure makes sure an active key and a next key exist (creating them on a
// first start) and loads the key state. Replicas starting at once agree: the
// check runs under the signing-key lock.
func (m *Manager) Ensure(ctx context.Context) error {
	err := m.store.WithKeysLocked(ctx, func(tx store.KeyTx) error {
		ks, err := tx.Keys(ctx)
		if err != nil {
			return err
		}
		now := m.now().UTC()
		var hasActive, hasNext bool
		for _, k := range ks {
			hasActive = hasActive || k.State == store.KeyActive
			hasNext = hasNext || k.State == store.KeyNext
		}
		if !hasActive {
			// Nothing signs yet, so no verifier can depend on a cached JWKS:
			// the first key may sign at once.
			k, err := m.generate(store.KeyActive, now, now)
			if err != nil {
				return err
			}
			if err := tx.Insert(ctx, k); err != nil {
				return err
			}
			m.log.Info("created the first signing key", "kid", k.KID, "alg", k.Alg)
		}
		if !hasNext {
			k, err := m.generate(store.KeyNext, now, now.Add(m.cfg.PublishLead))
			if err != nil {
				return err
			}
			if err := tx.Insert(ctx, k); err != nil {
				return err
			}
			m.log.Info("published a next signing key", "kid", k.KID, "may_sign_from", k.ActivateTime)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ensure signing keys: %w", err)
	}
	return m.Reload(ctx)
}

// Rotate makes the next key active, retires the active one and publishes a
// new next key, all in one transaction. When the next key has been published
// for less than the publish lead it returns a *TooEarlyError and changes
// nothing, because verifiers might not have fetched it yet.
func (m *Manager) Rotate(ctx context.Context) error {
	var tooEarly *TooEarlyError
	err := m.store.WithKeysLocked(ctx, func(tx store.KeyTx) error {
		ks, err := tx.Keys(ctx)
		if err != nil {
			return err
		}
		now := m.now().UTC()
		var active, next *store.SigningKey
		for i := range ks {
			switch ks[i].State {
			case store.KeyActive:
				active = &ks[i]
			case store.KeyNext:
				if next == nil {
					next = &ks[i]
				}
			}
		}
		if next == nil {
			// Publish one now; it may sign once verifiers have had time to
			// fetch it.
			k, err := m.generate(store.KeyNext, now, now.Add(m.cfg.PublishLead))
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
		if active != nil {
			remove := now.Add(m.cfg.MaxTokenLifetime + ClockSkew)
			active.State, active.RetireTime, active.RemoveTime = store.KeyRetired, &now, &remove
			if err := tx.Update(ctx, *active); err != nil {
				return err
			}
		}
		next.State, next.ActivateTime = store.KeyActive, &now
		if err := tx.Update(ctx, *next); err != nil {
			return err
		}
		k, err := m.generate(store.KeyNext, now, now.Add(m.cfg.PublishLead))
		if err != nil {
			return err
		}
		if err := tx.Insert(ctx, k); err != nil {
			return err
		}
		m.log.Info("rotated the signing key", "active_kid", next.KID, "next_kid", k.KID)
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

func (m *Manager) generate(state string, now, activate time.Time) (store.SigningKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, m.cfg.Bits)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("generate RSA key: %w", err)
	}
	pub, err := jwk.FromRaw(&priv.PublicKey)
	if err != nil {
		return store.SigningKey{}, err
	}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return store.SigningKey{}, err
	}
	kid := base64.RawURLEncoding.EncodeToString(thumb)
	publicJWK, err := json.Marshal(map[string]string{
		"kty": "RSA",
		"kid": kid,
		"use": "sig",
		"alg": string(jwa.RS256),
		"n":   base64.RawURLEncoding.EncodeToString(priv.N.Bytes()),
		"e":   base64.RawURLEncoding.EncodeToString(bigEndian(priv.E)),
	})
	if err != nil {
		return store.SigningKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, err
	}
	sealed, kekID := m.ring.Seal(der, []byte(kid))
	clear(der)
	m.mu.Lock()
	m.private[kid] = priv
	m.mu.Unlock()
	return store.SigningKey{
		KID: kid, Alg: string(jwa.RS256), State: state, PublicJWK: publicJWK,
		SealedPrivate: sealed, KEKID: kekID, CreateTime: now, ActivateTime: &activate,
	}, nil
}

func bigEndian(e int) []byte {
	var b []byte
	for ; e > 0; e >>= 8 {
		b = append([]byte{byte(e)}, b...)
	}
	return b
}

// Reload reads the keys from the database and swaps in the new state. The
// previous state stays in use if anything fails.
func (m *Manager) Reload(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ks, err := m.store.SigningKeys(ctx)
	if err != nil {
		return err
	}
	now := m.now()
	st := &keyState{verify: jwk.NewSet()}
	var published []json.RawMessage
	for _, k := range ks {
		if k.State == store.KeyRetired && k.RemoveTime != nil && !now.Before(*k.RemoveTime) {
			delete(m.private, k.KID)
			continue // its tokens have all expired: it leaves the JWKS
		}
		st.keys = append(st.keys, k)
		if k.State == store.KeyRevoked {
			delete(m.private, k.KID)
			continue
		}
		pub, err := jwk.ParseKey(k.PublicJWK)
		if err != nil {
			return fmt.Errorf("signing key %s: public JWK: %w", k.KID, err)
		}
		if err := st.verify.AddKey(pub); err != nil {
			return err
		}
		published = append(published, k.PublicJWK)
		if k.State != store.KeyActive {
			continue
		}
		priv, err := m.open(k)
		if err != nil {
			return err
		}
		sk, err := jwk.FromRaw(priv)
		if err != nil {
			return err
		}
		_ = sk.Set(jwk.KeyIDKey, k.KID)
		_ = sk.Set(jwk.AlgorithmKey, jwa.RS256)
		st.signKey, st.activeID = sk, k.KID
	}
	if st.signKey == nil {
		return fmt.Errorf("load signing keys: %w", ErrNoActiveKey)
	}
	if published == nil {
		published = []json.RawMessage{}
	}
	st.jwks, err = json.Marshal(map[string]any{"keys": published})
	if err != nil {
		return err
	}
	st.etag = etagOf(st.jwks)
	if old := m.state.Load(); old.activeID != st.activeID {
		m.log.Info("signing with key", "kid", st.activeID)
	}
	m.state.Store(st)
	return nil
}

func (m *Manager) open(k store.SigningKey) (*rsa.PrivateKey, error) {
	if p, ok := m.private[k.KID]; ok {
		return p, nil
	}
	der, err := m.ring.Open(k.SealedPrivate, []byte(k.KID), k.KEKID)
	if err != nil {
		return nil, fmt.Errorf("open signing key %s: %w", k.KID, err)
	}
	defer clear(der)
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", k.KID, err)
	}
	priv, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s is %T, want RSA", k.KID, parsed)
	}
	m.private[k.KID] = priv
	return priv, nil
}

func etagOf(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
}

// Run rereads the keys every interval until ctx is done, so that a rotation
// made by another replica is taken up. A failed reload keeps the loaded
// state and is logged.
func (m *Manager) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Reload(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("reload signing keys", "err", err)
			}
		}
	}
}

// Ready reports whether an active key is loaded.
func (m *Manager) Ready() bool { return m.state.Load().signKey != nil }

// Keys returns the keys not yet removed, oldest first.
func (m *Manager) Keys() []store.SigningKey { return m.state.Load().keys }

// JWKS returns the JWKS document and its entity tag. The bytes are shared:
// callers must not modify them.
func (m *Manager) JWKS() (body []byte, etag string) {
	st := m.state.Load()
	return st.jwks, st.etag
}

// MaxAge is how long verifiers may cache the JWKS.
func (m *Manager) MaxAge() time.Duration { return m.cfg.JWKSMaxAge }

// Sign signs payload, the JSON claims of an access token, with the active
// key as an RS256 JWS in compact form with typ at+jwt. It returns
// ErrNoActiveKey before a key is loaded.
func (m *Manager) Sign(payload []byte) (string, error) {
	st := m.state.Load()
	if st.signKey == nil {
		return "", ErrNoActiveKey
	}
	h := jws.NewHeaders()
	_ = h.Set(jws.TypeKey, "at+jwt")
	_ = h.Set(jws.KeyIDKey, st.activeID)
	out, err := jws.Sign(payload, jws.WithKey(jwa.RS256, st.signKey, jws.WithProtectedHeaders(h)))
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return string(out), nil
}

// ActiveKID returns the kid of the key that signs now ("" before loading).
func (m *Manager) ActiveKID() string { return m.state.Load().activeID }

var errTokenTooLarge = errors.New("token is too large")

// maxTokenSize bounds what Verify parses; keyward's own tokens are far smaller.
const maxTokenSize = 8 << 10

// Verified is what Verify learned from a valid access token.
type Verified struct {
	Subject  string   `json:"sub"`
	ClientID string   `json:"client_id"`
	OrgID    string   `json:"org_id"`
	Scope    string   `json:"scope"`
	Issuer   string   `json:"iss"`
	JTI      string   `json:"jti"`
	Expiry   int64    `json:"exp"`
	NotBef   int64    `json:"nbf"`
	Audience audience `json:"aud"`
}

type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// Verify checks that token is an access token this server issued: a compact
// RS256 JWS with typ at+jwt whose kid names a published key, from issuer,
// within its validity (ClockSkew allowed). Any failure is an error whose
// text may be shown to the caller.
func (m *Manager) Verify(token, issuer string) (Verified, error) {
	if len(token) > maxTokenSize {
		return Verified{}, errTokenTooLarge
	}
	st := m.state.Load()
	var msg jws.Message
	// WithCompact: access tokens are compact JWTs (RFC 9068); without it jwx
	// would also accept the JWS JSON serialization.
	payload, err := jws.Verify([]byte(token), jws.WithCompact(),
		jws.WithKeySet(st.verify, jws.WithRequireKid(true)), jws.WithMessage(&msg))
	if err != nil {
		return Verified{}, errors.New("the token's signature does not verify against this server's keys")
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 || sigs[0].ProtectedHeaders().Algorithm() != jwa.RS256 ||
		sigs[0].ProtectedHeaders().Type() != "at+jwt" {
		return Verified{}, errors.New("the token is not an RS256 access token (typ at+jwt)")
	}
	var v Verified
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&v); err != nil {
		return Verified{}, errors.New("the token's claims are malformed")
	}
	now := m.now()
	switch {
	case v.Issuer != issuer:
		return Verified{}, errors.New("the token was issued by another issuer")
	case v.Expiry == 0 || now.After(time.Unix(v.Expiry, 0).Add(ClockSkew)):
		return Verified{}, errors.New("the token has expired")
	case v.NotBef != 0 && now.Add(ClockSkew).Before(time.Unix(v.NotBef, 0)):
		return Verified{}, errors.New("the token is not valid yet")
	case v.Subject == "":
		return Verified{}, errors.New("the token has no subject")
	}
	return v, nil
}
