package keys_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyward/keyward/internal/keys"
)

// The helpers of a resource server: they read the JWKS and verify tokens
// with golang-jwt, independently of the server's jwx.

// publicKey is one JWKS entry: the key and the one algorithm it verifies.
type publicKey struct {
	alg string
	key any
}

// jwkMembers are the members each kty's entry must have, no more: any other
// member could be a private one.
var jwkMembers = map[string][]string{
	"RSA": {"alg", "e", "kid", "kty", "n", "use"},
	"EC":  {"alg", "crv", "kid", "kty", "use", "x", "y"},
	"OKP": {"alg", "crv", "kid", "kty", "use", "x"},
}

// parseJWKS decodes a JWKS document into public keys by kid, checking that
// every entry has exactly the members of its kty.
func parseJWKS(t testing.TB, body []byte) map[string]publicKey {
	t.Helper()
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("JWKS: %v: %s", err, body)
	}
	out := map[string]publicKey{}
	for _, k := range doc.Keys {
		want, ok := jwkMembers[k["kty"]]
		if !ok || len(k) != len(want) {
			t.Fatalf("JWKS entry %v: want exactly the members %v", k, want)
		}
		for _, m := range want {
			if k[m] == "" {
				t.Fatalf("JWKS entry %v lacks %q", k, m)
			}
		}
		if k["use"] != "sig" {
			t.Fatalf("JWKS entry %v: use %q, want sig", k, k["use"])
		}
		dec := func(m string) []byte {
			b, err := base64.RawURLEncoding.DecodeString(k[m])
			if err != nil {
				t.Fatalf("JWKS entry %v: %s is not base64url", k, m)
			}
			return b
		}
		var key any
		switch {
		case k["kty"] == "RSA" && k["alg"] == keys.RS256:
			key = &rsa.PublicKey{N: new(big.Int).SetBytes(dec("n")), E: int(new(big.Int).SetBytes(dec("e")).Int64())}
		case k["kty"] == "EC" && k["alg"] == keys.ES256 && k["crv"] == "P-256":
			x, y := dec("x"), dec("y")
			if len(x) != 32 || len(y) != 32 {
				t.Fatalf("JWKS entry %v: x and y must be 32 bytes", k)
			}
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
			if err != nil {
				t.Fatalf("JWKS entry %v: %v", k, err)
			}
			key = pub
		case k["kty"] == "OKP" && k["alg"] == keys.EdDSA && k["crv"] == "Ed25519":
			x := dec("x")
			if len(x) != ed25519.PublicKeySize {
				t.Fatalf("JWKS entry %v: x must be 32 bytes", k)
			}
			key = ed25519.PublicKey(x)
		default:
			t.Fatalf("JWKS entry %v: unexpected kty, alg and crv", k)
		}
		out[k["kid"]] = publicKey{alg: k["alg"], key: key}
	}
	return out
}

// errUnknownKID is what verifyToken returns for a kid the keys lack.
type errUnknownKID string

func (e errUnknownKID) Error() string {
	return fmt.Sprintf("kid %q is not in the cached JWKS", string(e))
}

// verifyToken verifies an access token as a resource server would: the
// key its kid names, with that key's algorithm only, typ at+jwt, the
// issuer and the times on now.
func verifyToken(pub map[string]publicKey, token string, now func() time.Time) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		k, ok := pub[kid]
		if !ok {
			return nil, errUnknownKID(kid)
		}
		if tok.Method.Alg() != k.alg {
			return nil, fmt.Errorf("alg %s, but key %s is for %s", tok.Method.Alg(), kid, k.alg)
		}
		return k.key, nil
	},
		jwt.WithValidMethods(keys.Algorithms),
		jwt.WithIssuer(testIssuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(now),
	)
	if err != nil {
		return nil, err
	}
	if tok.Header["typ"] != "at+jwt" {
		return nil, fmt.Errorf("typ %v, want at+jwt", tok.Header["typ"])
	}
	return claims, nil
}

// issue signs an access token valid from now for life.
func issue(t testing.TB, m *keys.Manager, now time.Time, life time.Duration, jti string) string {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{
		"iss": testIssuer, "sub": "m2m_test", "client_id": "m2m_test", "aud": testIssuer,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(life).Unix(), "jti": jti,
	})
	tok, err := m.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// headerOf returns a token's decoded header, unverified.
func headerOf(t testing.TB, token string) map[string]any {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	return tok.Header
}
