package keys_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyward/keyward/internal/keys"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/store"
)

func TestAlgorithms(t *testing.T) {
	t.Parallel()
	shared := pgtest.NewStore(t)
	tests := []struct {
		alg      string
		bits     int
		kty, crv string
	}{
		{keys.RS256, 3072, "RSA", ""},
		{keys.ES256, 0, "EC", "P-256"},
		{keys.EdDSA, 0, "OKP", "Ed25519"},
	}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			cfg := withAlg(testConfig, tt.alg)
			if tt.bits != 0 {
				cfg.Bits = tt.bits
			}
			m, st, clk := freshOn(t, shared, cfg)
			body, _ := m.JWKS()
			pub := parseJWKS(t, body) // exactly the members of the kty
			var doc struct{ Keys []map[string]string }
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Keys) != 2 {
				t.Fatalf("JWKS has %d keys, want the active and the next", len(doc.Keys))
			}
			for _, k := range doc.Keys {
				if k["kty"] != tt.kty || k["alg"] != tt.alg || (tt.crv != "" && k["crv"] != tt.crv) {
					t.Errorf("JWKS entry %v, want kty %s crv %q alg %s", k, tt.kty, tt.crv, tt.alg)
				}
				if tt.alg == keys.RS256 {
					if n, _ := base64.RawURLEncoding.DecodeString(k["n"]); len(n)*8 != tt.bits {
						t.Errorf("modulus of %d bits, want %d", len(n)*8, tt.bits)
					}
				}
			}
			for _, k := range storedKeys(t, st) {
				if k.Alg != tt.alg {
					t.Errorf("stored key %s has alg %s, want %s", k.KID, k.Alg, tt.alg)
				}
			}

			tok := issue(t, m, clk.Now(), time.Hour, "alg")
			t.Run("tokens carry the algorithm and verify with golang-jwt against the JWKS", func(t *testing.T) {
				if h := headerOf(t, tok); h["alg"] != tt.alg || h["typ"] != "at+jwt" || h["kid"] != m.ActiveKID() {
					t.Errorf("header %v, want alg %s, typ at+jwt, kid %s", h, tt.alg, m.ActiveKID())
				}
				claims, err := verifyToken(pub, tok, clk.Now)
				if err != nil {
					t.Fatalf("golang-jwt: %v", err)
				}
				if claims["sub"] != "m2m_test" {
					t.Errorf("claims %v", claims)
				}
				if _, err := m.Verify(tok, testIssuer); err != nil {
					t.Errorf("Verify: %v", err)
				}
			})
			t.Run("the metadata algorithms name it", func(t *testing.T) {
				if algs, _ := m.Algorithms(); !slices.Equal(algs, []string{tt.alg}) {
					t.Errorf("Algorithms = %v, want [%s]", algs, tt.alg)
				}
			})
		})
	}
}

// TestVerifyAcceptsEachKeyOnlyWithItsAlgorithm publishes an RS256, an
// ES256 and an EdDSA key at once (two algorithm changes) and forges tokens
// that pair a key with the wrong algorithm.
func TestVerifyAcceptsEachKeyOnlyWithItsAlgorithm(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := withAlg(lifecycleConfig, keys.RS256)
	m, st, clk := newLifecycle(t, cfg)
	ring := newRing(t, testKEK(1))
	for _, alg := range []string{keys.ES256, keys.EdDSA} {
		m = keys.New(st, ring, withAlg(cfg, alg), clk.Now, quietLog())
		if _, err := m.Maintain(ctx); err != nil {
			t.Fatal(err)
		}
		clk.Advance(cfg.PublishLead)
		if _, err := m.Maintain(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if algs, _ := m.Algorithms(); !slices.Equal(algs, []string{keys.ES256, keys.EdDSA, keys.RS256}) {
		t.Fatalf("published algorithms %v, want all three", algs)
	}
	// The private keys, by algorithm, as only the KEK's holder can open them.
	priv := map[string]crypto.Signer{}
	kidOf := map[string]string{}
	for _, k := range storedKeys(t, st) {
		if k.State == store.KeyNext {
			continue
		}
		der, err := ring.Open(k.SealedPrivate, []byte(k.KID), k.KEKID)
		if err != nil {
			t.Fatal(err)
		}
		p, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			t.Fatal(err)
		}
		priv[k.Alg], kidOf[k.Alg] = p.(crypto.Signer), k.KID
	}
	now := clk.Now()
	claims := jwt.MapClaims{"iss": testIssuer, "sub": "m2m_test", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	sign := func(method jwt.SigningMethod, key any, kid string) string {
		tok := jwt.NewWithClaims(method, claims)
		tok.Header["kid"], tok.Header["typ"] = kid, "at+jwt"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// forged signs with one algorithm but names another in the header.
	forged := func(headerAlg string, method jwt.SigningMethod, key any, kid string) string {
		return forge(map[string]any{"alg": headerAlg, "kid": kid, "typ": "at+jwt"}, claims, func(input string) []byte {
			sig, err := method.Sign(input, key)
			if err != nil {
				t.Fatal(err)
			}
			return sig
		})
	}
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, otherEd, _ := ed25519.GenerateKey(rand.Reader)
	ecPub, _ := x509.MarshalPKIXPublicKey(priv[keys.ES256].Public())

	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"an RS256 token of the RSA key verifies", sign(jwt.SigningMethodRS256, priv[keys.RS256], kidOf[keys.RS256]), true},
		{"an ES256 token of the P-256 key verifies", sign(jwt.SigningMethodES256, priv[keys.ES256], kidOf[keys.ES256]), true},
		{"an EdDSA token of the Ed25519 key verifies", sign(jwt.SigningMethodEdDSA, priv[keys.EdDSA], kidOf[keys.EdDSA]), true},

		{"an EdDSA signature under the ES256 key's kid is rejected", sign(jwt.SigningMethodEdDSA, priv[keys.EdDSA], kidOf[keys.ES256]), false},
		{"an ES256 signature under the EdDSA key's kid is rejected", sign(jwt.SigningMethodES256, priv[keys.ES256], kidOf[keys.EdDSA]), false},
		{"an RS256 signature under the ES256 key's kid is rejected", sign(jwt.SigningMethodRS256, priv[keys.RS256], kidOf[keys.ES256]), false},
		{"an EdDSA signature labelled ES256 is rejected", forged("ES256", jwt.SigningMethodEdDSA, priv[keys.EdDSA], kidOf[keys.EdDSA]), false},
		{"an ES256 signature labelled EdDSA is rejected", forged("EdDSA", jwt.SigningMethodES256, priv[keys.ES256], kidOf[keys.ES256]), false},
		{"an ES256 signature labelled ES384 is rejected", forged("ES384", jwt.SigningMethodES256, priv[keys.ES256], kidOf[keys.ES256]), false},
		{"an RS256 signature labelled PS256 is rejected", forged("PS256", jwt.SigningMethodRS256, priv[keys.RS256], kidOf[keys.RS256]), false},
		{"an HS256 token keyed with the EC public key is rejected", sign(jwt.SigningMethodHS256, ecPub, kidOf[keys.ES256]), false},
		{"an ES256 token of another P-256 key is rejected", sign(jwt.SigningMethodES256, otherEC, kidOf[keys.ES256]), false},
		{"an EdDSA token of another Ed25519 key is rejected", sign(jwt.SigningMethodEdDSA, otherEd, kidOf[keys.EdDSA]), false},
		{"an ES256 token with alg none is rejected", forged("none", jwt.SigningMethodES256, priv[keys.ES256], kidOf[keys.ES256]), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := m.Verify(tt.token, testIssuer)
			if tt.ok && err != nil {
				t.Errorf("Verify: %v", err)
			}
			if !tt.ok && err == nil {
				t.Error("Verify accepted it")
			}
		})
	}
}

// TestPrivateKeysOfEveryAlgorithmAreSealedAtRest reads the signing_keys
// table raw for keys of each algorithm and looks for the private keys in
// every encoding keyward or a library might have written.
func TestPrivateKeysOfEveryAlgorithmAreSealedAtRest(t *testing.T) {
	t.Parallel()
	shared := pgtest.NewStore(t)
	for _, alg := range keys.Algorithms {
		t.Run(alg, func(t *testing.T) {
			ctx := context.Background()
			m, st, clk := freshOn(t, shared, withAlg(lifecycleConfig, alg))
			clk.Advance(lifecycleConfig.RotationPeriod)
			maintain(t, m) // three keys: retired, active, next
			var dump bytes.Buffer
			rows, err := st.Pool().Query(ctx, `SELECT k::text, k.sealed_private, k.public_jwk::text FROM signing_keys k`)
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
			if rows.Err() != nil || n != 3 {
				t.Fatalf("%d rows (%v), want 3", n, rows.Err())
			}
			raw, lower := dump.Bytes(), bytes.ToLower(dump.Bytes())
			if bytes.Contains(lower, []byte("private key")) {
				t.Error(`the rows contain "PRIVATE KEY"`)
			}
			ring := newRing(t, testKEK(1))
			for _, k := range storedKeys(t, st) {
				der, err := ring.Open(k.SealedPrivate, []byte(k.KID), k.KEKID)
				if err != nil {
					t.Fatal(err)
				}
				parsed, err := x509.ParsePKCS8PrivateKey(der)
				if err != nil {
					t.Fatal(err)
				}
				secrets := map[string][]byte{"the PKCS#8 DER": der}
				switch p := parsed.(type) {
				case *rsa.PrivateKey:
					secrets["the private exponent"] = p.D.Bytes()
					secrets["the first prime"] = p.Primes[0].Bytes()
				case *ecdsa.PrivateKey:
					d, err := p.Bytes()
					if err != nil {
						t.Fatal(err)
					}
					secrets["the private scalar"] = d
				case ed25519.PrivateKey:
					secrets["the seed"] = p.Seed()
					secrets["the private key"] = p
				default:
					t.Fatalf("%s is a %T", k.KID, parsed)
				}
				for what, b := range secrets {
					encodings := map[string][]byte{
						"":                          b,
						" in hex":                   []byte(hex.EncodeToString(b)),
						" in base64url":             []byte(base64.RawURLEncoding.EncodeToString(b)),
						" in base64":                []byte(base64.StdEncoding.EncodeToString(b)[:40]),
						" (its first half, as hex)": []byte(hex.EncodeToString(b[:len(b)/2])),
					}
					for how, enc := range encodings {
						if bytes.Contains(raw, enc) || bytes.Contains(lower, bytes.ToLower(enc)) {
							t.Errorf("the rows contain %s%s of %s key %s", what, how, k.Alg, k.KID)
						}
					}
				}
				var pub map[string]any
				if err := json.Unmarshal(k.PublicJWK, &pub); err != nil {
					t.Fatal(err)
				}
				for _, member := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
					if _, ok := pub[member]; ok {
						t.Errorf("public_jwk of %s has the private member %q", k.KID, member)
					}
				}
			}
		})
	}
}
