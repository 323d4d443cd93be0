package keys_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyward/keyward/internal/keys"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

const testIssuer = "https://issuer.test"

var testConfig = keys.Config{
	Bits:             2048,
	JWKSMaxAge:       15 * time.Minute,
	PublishLead:      30 * time.Minute,
	MaxTokenLifetime: 24 * time.Hour,
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock {
	// Whole microseconds, as Postgres stores them, so that times read back
	// compare equal.
	return &clock{t: time.Now().UTC().Truncate(time.Microsecond)}
}

func testKEK(b byte) []byte { return bytes.Repeat([]byte{b}, secret.KEKSize) }

func newRing(t testing.TB, keks ...[]byte) *secret.Keyring {
	t.Helper()
	r, err := secret.NewKeyring(keks...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newManager returns an ensured Manager on a database of the test's own.
func newManager(t *testing.T) (*keys.Manager, *store.Store, *clock) {
	t.Helper()
	st := pgtest.NewStore(t)
	clk := newClock()
	m := keys.New(st, newRing(t, testKEK(1)), testConfig, clk.Now, quietLog())
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatalf("ensure: %v", err)
	}
	return m, st, clk
}

// byState returns the kids of the stored keys by state.
func byState(t *testing.T, st *store.Store) map[string][]string {
	t.Helper()
	ks, err := st.SigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, k := range ks {
		out[k.State] = append(out[k.State], k.KID)
	}
	return out
}

func keyByKID(t *testing.T, st *store.Store, kid string) store.SigningKey {
	t.Helper()
	ks, err := st.SigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if k.KID == kid {
			return k
		}
	}
	t.Fatalf("no signing key %s", kid)
	return store.SigningKey{}
}

// jwksKIDs returns the kids of the manager's JWKS document.
func jwksKIDs(t *testing.T, m *keys.Manager) []string {
	t.Helper()
	body, _ := m.JWKS()
	var doc struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("JWKS: %v: %s", err, body)
	}
	var out []string
	for _, k := range doc.Keys {
		out = append(out, k.KID)
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func wantTime(t *testing.T, what string, got *time.Time, want time.Time) {
	t.Helper()
	if got == nil {
		t.Errorf("%s is null, want %s", what, want)
		return
	}
	if d := got.Sub(want); d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("%s = %s, want %s", what, got.UTC(), want.UTC())
	}
}

func TestEnsure(t *testing.T) {
	t.Parallel()

	t.Run("on an empty database it creates exactly one active and one next key", func(t *testing.T) {
		t.Parallel()
		m, st, clk := newManager(t)
		states := byState(t, st)
		if len(states) != 2 || len(states[store.KeyActive]) != 1 || len(states[store.KeyNext]) != 1 {
			t.Fatalf("keys by state %v, want one active and one next", states)
		}
		if !m.Ready() || m.ActiveKID() != states[store.KeyActive][0] {
			t.Errorf("Ready %v, ActiveKID %q, want the active key %s", m.Ready(), m.ActiveKID(), states[store.KeyActive][0])
		}
		next := keyByKID(t, st, states[store.KeyNext][0])
		wantTime(t, "the next key's activate_time", next.ActivateTime, clk.Now().Add(testConfig.PublishLead))
		if got := jwksKIDs(t, m); !slices.Equal(got, sorted(states[store.KeyActive][0], states[store.KeyNext][0])) {
			t.Errorf("JWKS kids %v, want the active and the next key", got)
		}
	})

	t.Run("a second Ensure changes nothing", func(t *testing.T) {
		t.Parallel()
		m, st, _ := newManager(t)
		before := byState(t, st)
		if err := m.Ensure(context.Background()); err != nil {
			t.Fatal(err)
		}
		if after := byState(t, st); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("keys %v after a second Ensure, want %v", after, before)
		}
	})

	t.Run("managers of several replicas calling Ensure at once leave exactly one active key", func(t *testing.T) {
		t.Parallel()
		dbURL := pgtest.NewDatabase(t)
		const replicas = 3
		ms := make([]*keys.Manager, replicas)
		for i := range ms {
			st, err := store.Open(context.Background(), dbURL, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(st.Close)
			ms[i] = keys.New(st, newRing(t, testKEK(1)), testConfig, newClock().Now, quietLog())
		}
		start := make(chan struct{})
		errs := make(chan error, replicas)
		for _, m := range ms {
			go func() {
				<-start
				errs <- m.Ensure(context.Background())
			}()
		}
		close(start)
		for range replicas {
			if err := <-errs; err != nil {
				t.Errorf("Ensure: %v", err)
			}
		}
		st, err := store.Open(context.Background(), dbURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		states := byState(t, st)
		if len(states) != 2 || len(states[store.KeyActive]) != 1 || len(states[store.KeyNext]) != 1 {
			t.Fatalf("keys by state %v, want one active and one next", states)
		}
		for i, m := range ms {
			if m.ActiveKID() != states[store.KeyActive][0] {
				t.Errorf("replica %d signs with %q, want %s", i, m.ActiveKID(), states[store.KeyActive][0])
			}
		}
	})
}

func TestRotate(t *testing.T) {
	t.Parallel()

	t.Run("before the publish lead it returns TooEarlyError and changes nothing", func(t *testing.T) {
		t.Parallel()
		m, st, clk := newManager(t)
		before, err := st.SigningKeys(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_, etag := m.JWKS()
		active := m.ActiveKID()
		next := byState(t, st)[store.KeyNext][0]

		clk.Advance(testConfig.PublishLead - time.Second)
		err = m.Rotate(context.Background())
		var tooEarly *keys.TooEarlyError
		if !errors.As(err, &tooEarly) {
			t.Fatalf("Rotate = %v, want a *keys.TooEarlyError", err)
		}
		if tooEarly.KID != next || !tooEarly.Until.Equal(keyByKID(t, st, next).CreateTime.Add(testConfig.PublishLead)) {
			t.Errorf("TooEarlyError %+v, want kid %s until its create_time plus the lead", tooEarly, next)
		}
		after, err := st.SigningKeys(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("keys changed:\n before %+v\n after  %+v", before, after)
		}
		if _, etag2 := m.JWKS(); etag2 != etag || m.ActiveKID() != active {
			t.Errorf("JWKS or active key changed")
		}
	})

	t.Run("after the publish lead next becomes active, active retires and a new next is published", func(t *testing.T) {
		t.Parallel()
		m, st, clk := newManager(t)
		oldActive, oldNext := m.ActiveKID(), byState(t, st)[store.KeyNext][0]
		tok := signTestToken(t, m, clk)

		clk.Advance(testConfig.PublishLead)
		if err := m.Rotate(context.Background()); err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		now := clk.Now()
		states := byState(t, st)
		if !slices.Equal(states[store.KeyActive], []string{oldNext}) || !slices.Equal(states[store.KeyRetired], []string{oldActive}) ||
			len(states[store.KeyNext]) != 1 || states[store.KeyNext][0] == oldNext {
			t.Fatalf("keys by state %v, want %s active, %s retired and a new next", states, oldNext, oldActive)
		}
		if m.ActiveKID() != oldNext {
			t.Errorf("signs with %s, want %s", m.ActiveKID(), oldNext)
		}
		retired := keyByKID(t, st, oldActive)
		wantTime(t, "retire_time", retired.RetireTime, now)
		wantTime(t, "remove_time", retired.RemoveTime, now.Add(testConfig.MaxTokenLifetime+keys.ClockSkew))
		wantTime(t, "the new active key's activate_time", keyByKID(t, st, oldNext).ActivateTime, now)
		newNext := keyByKID(t, st, states[store.KeyNext][0])
		wantTime(t, "the new next key's create_time", &newNext.CreateTime, now)
		wantTime(t, "the new next key's activate_time", newNext.ActivateTime, now.Add(testConfig.PublishLead))
		if got, want := jwksKIDs(t, m), sorted(oldActive, oldNext, newNext.KID); !slices.Equal(got, want) {
			t.Errorf("JWKS kids %v, want %v", got, want)
		}
		if _, err := m.Verify(tok, testIssuer); err != nil {
			t.Errorf("a token signed by the now retired key does not verify: %v", err)
		}
		if _, err := m.Verify(signTestToken(t, m, clk), testIssuer); err != nil {
			t.Errorf("a token signed by the new active key does not verify: %v", err)
		}
		// The new next key must now wait its own lead.
		var tooEarly *keys.TooEarlyError
		if err := m.Rotate(context.Background()); !errors.As(err, &tooEarly) {
			t.Errorf("a second rotation at once = %v, want TooEarlyError", err)
		}
	})

	t.Run("a retired key stays in the JWKS until its remove_time and leaves it then", func(t *testing.T) {
		t.Parallel()
		m, st, clk := newManager(t)
		retiredKID := m.ActiveKID()
		clk.Advance(testConfig.PublishLead)
		if err := m.Rotate(context.Background()); err != nil {
			t.Fatal(err)
		}
		remove := *keyByKID(t, st, retiredKID).RemoveTime

		clk.Advance(remove.Sub(clk.Now()) - time.Second)
		if err := m.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(jwksKIDs(t, m), retiredKID) {
			t.Fatalf("the retired key left the JWKS a second before its remove_time")
		}
		clk.Advance(time.Second)
		if err := m.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := jwksKIDs(t, m); slices.Contains(got, retiredKID) || len(got) != 2 {
			t.Errorf("JWKS kids %v at remove_time, want the active and next keys without %s", got, retiredKID)
		}
		for _, k := range m.Keys() {
			if k.KID == retiredKID {
				t.Errorf("Keys still lists the removed key %s", retiredKID)
			}
		}
	})
}

// signTestToken signs a valid access token with the manager's active key.
func signTestToken(t *testing.T, m *keys.Manager, clk *clock) string {
	t.Helper()
	now := clk.Now().Unix()
	payload, _ := json.Marshal(map[string]any{
		"iss": testIssuer, "sub": "m2m_test", "client_id": "m2m_test", "aud": testIssuer,
		"iat": now, "nbf": now, "exp": now + 3600, "jti": "j1",
	})
	tok, err := m.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// openPrivate opens a stored key's sealed private half, as only a holder
// of the key-encryption key can.
func openPrivate(t *testing.T, ring *secret.Keyring, k store.SigningKey) (*rsa.PrivateKey, []byte) {
	t.Helper()
	der, err := ring.Open(k.SealedPrivate, []byte(k.KID), k.KEKID)
	if err != nil {
		t.Fatalf("open %s: %v", k.KID, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatalf("key %s: %v", k.KID, err)
	}
	return parsed.(*rsa.PrivateKey), der
}

func TestPrivateKeysAreSealedAtRest(t *testing.T) {
	t.Parallel()
	m, st, clk := newManager(t)
	clk.Advance(testConfig.PublishLead)
	if err := m.Rotate(context.Background()); err != nil { // three keys: retired, active, next
		t.Fatal(err)
	}
	ctx := context.Background()

	// Every byte of every row, as the driver receives it and as text.
	var dump bytes.Buffer
	rows, err := st.Pool().Query(ctx, `SELECT * FROM signing_keys`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
		for _, v := range rows.RawValues() {
			dump.Write(v)
		}
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	textRows, err := st.Pool().Query(ctx, `SELECT k::text FROM signing_keys k`)
	if err != nil {
		t.Fatal(err)
	}
	for textRows.Next() {
		var s string
		if err := textRows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		dump.WriteString(s)
	}
	if n != 3 {
		t.Fatalf("%d rows, want 3", n)
	}
	raw := dump.Bytes()
	lower := bytes.ToLower(raw)

	ring := newRing(t, testKEK(1))
	ks, err := st.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		priv, der := openPrivate(t, ring, k)
		secrets := map[string][]byte{
			"the PKCS#8 DER":                  der,
			"the private exponent":            priv.D.Bytes(),
			"the first prime":                 priv.Primes[0].Bytes(),
			"the second prime":                priv.Primes[1].Bytes(),
			"the private exponent in hex":     []byte(hex.EncodeToString(priv.D.Bytes())),
			"the PKCS#8 DER in hex":           []byte(hex.EncodeToString(der)),
			"the private exponent in base64":  []byte(base64.RawURLEncoding.EncodeToString(priv.D.Bytes())),
			"the PKCS#8 DER in base64 (PEM)":  []byte(base64.StdEncoding.EncodeToString(der)[:64]),
			"the first prime in hex":          []byte(hex.EncodeToString(priv.Primes[0].Bytes())),
			"the first prime in base64url":    []byte(base64.RawURLEncoding.EncodeToString(priv.Primes[0].Bytes())),
			"the second prime in base64url":   []byte(base64.RawURLEncoding.EncodeToString(priv.Primes[1].Bytes())),
			"the private exponent's tail hex": []byte(hex.EncodeToString(priv.D.Bytes()[200:])),
		}
		for what, b := range secrets {
			if bytes.Contains(raw, b) || bytes.Contains(lower, bytes.ToLower(b)) {
				t.Errorf("the signing_keys rows contain %s of key %s", what, k.KID)
			}
		}
		var pub map[string]any
		if err := json.Unmarshal(k.PublicJWK, &pub); err != nil {
			t.Fatal(err)
		}
		for _, member := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := pub[member]; ok {
				t.Errorf("public_jwk of %s has the private member %q", k.KID, member)
			}
		}
	}
	if bytes.Contains(lower, []byte("private key")) {
		t.Error(`the signing_keys rows contain the text "PRIVATE KEY"`)
	}
}

func TestKeyEncryptionKeys(t *testing.T) {
	t.Parallel()
	m, st, clk := newManager(t)
	tests := []struct {
		name    string
		keks    [][]byte
		wantErr error
	}{
		{"a replica with the same key-encryption key loads the keys and signs", [][]byte{testKEK(1)}, nil},
		{"a replica with another key-encryption key cannot load the keys", [][]byte{testKEK(2)}, secret.ErrUnknownKEK},
		{"a replica with a new key-encryption key and the old one loads the keys and signs", [][]byte{testKEK(2), testKEK(1)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			replica := keys.New(st, newRing(t, tt.keks...), testConfig, clk.Now, quietLog())
			err := replica.Reload(context.Background())
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Reload = %v, want %v", err, tt.wantErr)
				}
				if replica.Ready() {
					t.Error("a replica that could not load the keys says it is ready")
				}
				if _, err := replica.Sign([]byte(`{}`)); !errors.Is(err, keys.ErrNoActiveKey) {
					t.Errorf("Sign = %v, want ErrNoActiveKey", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Reload: %v", err)
			}
			if replica.ActiveKID() != m.ActiveKID() {
				t.Errorf("replica signs with %s, want %s", replica.ActiveKID(), m.ActiveKID())
			}
			if _, err := m.Verify(signTestToken(t, replica, clk), testIssuer); err != nil {
				t.Errorf("the replica's token does not verify: %v", err)
			}
		})
	}
}

// forge builds a compact JWS from a header and claims, signed by sign.
func forge(header, claims map[string]any, sign func(signingInput string) []byte) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(header) + "." + enc(claims)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign(input))
}

func TestVerify(t *testing.T) {
	t.Parallel()
	m, st, clk := newManager(t)
	ring := newRing(t, testKEK(1))
	kid := m.ActiveKID()
	active := keyByKID(t, st, kid)
	priv, _ := openPrivate(t, ring, active)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	now := clk.Now()

	claims := func(edit ...func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{
			"iss": testIssuer, "sub": "m2m_test", "client_id": "m2m_test", "aud": testIssuer,
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "j1",
			"scope": "read:logs", "org_id": "org_test",
		}
		for _, e := range edit {
			e(c)
		}
		return c
	}
	set := func(k string, v any) func(jwt.MapClaims) { return func(c jwt.MapClaims) { c[k] = v } }
	del := func(k string) func(jwt.MapClaims) { return func(c jwt.MapClaims) { delete(c, k) } }
	// sign signs with golang-jwt; header edits apply after kid and typ are set.
	sign := func(method jwt.SigningMethod, key any, c jwt.MapClaims, header map[string]any) string {
		tok := jwt.NewWithClaims(method, c)
		tok.Header["kid"], tok.Header["typ"] = kid, "at+jwt"
		for k, v := range header {
			if v == nil {
				delete(tok.Header, k)
			} else {
				tok.Header[k] = v
			}
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rs256 := func(c jwt.MapClaims, header map[string]any) string {
		return sign(jwt.SigningMethodRS256, priv, c, header)
	}
	valid := rs256(claims(), nil)
	parts := strings.Split(valid, ".")
	nearLimit := rs256(claims(set("pad", strings.Repeat("x", 5500))), nil)
	overLimit := rs256(claims(set("pad", strings.Repeat("x", 6200))), nil)
	if len(nearLimit) > 8<<10 || len(overLimit) <= 8<<10 {
		t.Fatalf("tokens of %d and %d bytes do not straddle 8 KiB", len(nearLimit), len(overLimit))
	}

	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"a token made as keyward makes them verifies", valid, true},
		{"a token keyward signed verifies", signTestToken(t, m, clk), true},
		{"a token that expired less than the clock skew ago verifies", rs256(claims(set("exp", now.Add(-keys.ClockSkew/2).Unix())), nil), true},
		{"a token valid from less than the clock skew ahead verifies", rs256(claims(set("nbf", now.Add(keys.ClockSkew/2).Unix())), nil), true},
		{"a token of almost 8 KiB verifies", nearLimit, true},

		{"a token signed by another key with the same kid is rejected", sign(jwt.SigningMethodRS256, other, claims(), nil), false},
		{"a token signed by another key that embeds it as jwk is rejected", sign(jwt.SigningMethodRS256, other, claims(),
			map[string]any{"jwk": map[string]any{"kty": "RSA", "kid": kid, "n": base64.RawURLEncoding.EncodeToString(other.N.Bytes()), "e": "AQAB"}}), false},
		{"a token with alg none is rejected", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(), nil), false},
		{"a token with alg none and the real signature is rejected",
			forge(map[string]any{"alg": "none", "kid": kid, "typ": "at+jwt"}, claims(), func(string) []byte { b, _ := base64.RawURLEncoding.DecodeString(parts[2]); return b }), false},
		{"an HS256 token keyed with the public key PEM is rejected", sign(jwt.SigningMethodHS256, pubPEM, claims(), nil), false},
		{"an HS256 token keyed with the public key DER is rejected", sign(jwt.SigningMethodHS256, pubDER, claims(), nil), false},
		{"an HS256 token keyed with the public JWK is rejected", sign(jwt.SigningMethodHS256, []byte(active.PublicJWK), claims(), nil), false},
		{"an RS384 token signed by the active key is rejected", sign(jwt.SigningMethodRS384, priv, claims(), nil), false},
		{"a PS256 token signed by the active key is rejected", sign(jwt.SigningMethodPS256, priv, claims(), nil), false},
		{"a token without kid is rejected", rs256(claims(), map[string]any{"kid": nil}), false},
		{"a token with an unknown kid is rejected", rs256(claims(), map[string]any{"kid": "no-such-key"}), false},
		{"a token with typ JWT is rejected", rs256(claims(), map[string]any{"typ": "JWT"}), false},
		{"a token without typ is rejected", rs256(claims(), map[string]any{"typ": nil}), false},
		{"a token from another issuer is rejected", rs256(claims(set("iss", "https://evil.example")), nil), false},
		{"a token without issuer is rejected", rs256(claims(del("iss")), nil), false},
		{"an expired token is rejected", rs256(claims(set("exp", now.Add(-keys.ClockSkew-time.Second).Unix())), nil), false},
		{"a token without exp is rejected", rs256(claims(del("exp")), nil), false},
		{"a token not valid yet is rejected", rs256(claims(set("nbf", now.Add(keys.ClockSkew+time.Second).Unix())), nil), false},
		{"a token without sub is rejected", rs256(claims(del("sub")), nil), false},
		{"a token over 8 KiB is rejected", overLimit, false},
		{"a token whose claims are not a JSON object is rejected",
			forge(map[string]any{"alg": "RS256", "kid": kid, "typ": "at+jwt"}, nil, rsaSigner(priv)), false},
		{"a token with a tampered payload is rejected",
			parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+testIssuer+`","sub":"m2m_admin","exp":9999999999}`)) + "." + parts[2], false},
		{"a token in JWS JSON serialization is rejected",
			`{"protected":"` + parts[0] + `","payload":"` + parts[1] + `","signature":"` + parts[2] + `"}`, false},
		{"an empty token is rejected", "", false},
		{"garbage is rejected", "garbage", false},
		{"three empty segments are rejected", "..", false},
		{"three garbage segments are rejected", "a.b.c", false},
		{"a header and payload without signature are rejected", parts[0] + "." + parts[1] + ".", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := m.Verify(tt.token, testIssuer)
			switch {
			case tt.ok && err != nil:
				t.Fatalf("Verify: %v (token of %d bytes)", err, len(tt.token))
			case !tt.ok && err == nil:
				t.Fatalf("Verify accepted it: %+v", v)
			case tt.ok && (v.Subject != "m2m_test" || v.ClientID != "m2m_test" || v.Issuer != testIssuer):
				t.Errorf("Verified %+v", v)
			}
		})
	}
}

func rsaSigner(priv *rsa.PrivateKey) func(string) []byte {
	return func(input string) []byte {
		sig, err := jwt.SigningMethodRS256.Sign(input, priv)
		if err != nil {
			panic(err)
		}
		return sig
	}
}
