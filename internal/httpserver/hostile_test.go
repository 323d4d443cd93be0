package httpserver_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Hostile bearer tokens on the admin API: each is refused with 401 (or, for
// a header too large to read, 431), never a 500, and never lets anyone in.
func TestHostileBearerTokens(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	good := ts.adminToken(t)
	claims, header := admClaims(t, good)
	kid := header["kid"].(string)

	attacker, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwkOf := func(k *rsa.PublicKey) map[string]any {
		return map[string]any{"kty": "RSA", "kid": kid, "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
	}
	forge := func(mutateHeader func(map[string]any), mutateClaims func(jwt.MapClaims)) string {
		c := jwt.MapClaims{}
		for k, v := range claims {
			c[k] = v
		}
		if mutateClaims != nil {
			mutateClaims(c)
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
		tok.Header["typ"], tok.Header["kid"] = "at+jwt", kid
		if mutateHeader != nil {
			mutateHeader(tok.Header)
		}
		s, err := tok.SignedString(attacker)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// A token for another audience, signed by keyward itself: a client with
	// keyward:admin whose registered audience is not the server.
	org := ts.createOrg(t, good, "Acme")
	id, plain := ts.createClient(t, good, org, map[string]any{"scopes": []string{"keyward:org:admin"}, "audience": []string{"billing-api"}})
	otherAudience := ts.token(t, id, plain)

	tests := []struct {
		name, token string
		want        int
	}{
		{"an embedded jwk of the attacker's key", forge(func(h map[string]any) { h["jwk"] = jwkOf(&attacker.PublicKey) }, nil), 401},
		{"a jku pointing at the attacker's JWKS", forge(func(h map[string]any) { h["jku"] = "http://127.0.0.1:1/jwks.json" }, nil), 401},
		{"an x5u pointing at the attacker's certificate", forge(func(h map[string]any) { h["x5u"] = "http://127.0.0.1:1/cert.pem" }, nil), 401},
		{"a kid carrying SQL", forge(func(h map[string]any) { h["kid"] = "' OR 1=1; DROP TABLE signing_keys; --" }, nil), 401},
		{"a kid carrying a path", forge(func(h map[string]any) { h["kid"] = "../../../../etc/passwd" }, nil), 401},
		{"another issuer", forge(nil, func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }), 401},
		{"expired", forge(nil, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), 401},
		{"not yet valid", forge(nil, func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() }), 401},
		{"keyward's own token for another audience", otherAudience, 401},
		{"non-UTF-8 bytes", "\xff\xfe." + good[strings.Index(good, ".")+1:], 401},
		{"duplicate keys in the header", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","alg":"RS256","kid":"`+kid+`","typ":"at+jwt"}`)) + good[strings.Index(good, "."):], 401},
		{"16 KiB of token", strings.Repeat("a", 16<<10), 401},
		{"1 MiB of token", strings.Repeat("a", 1<<20), http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Authorization": {"Bearer " + tt.token}}
			r := ts.admRequest(t, "GET", "/api/v1/organizations", h, nil)
			if r.Status != tt.want {
				t.Fatalf("got %d %s, want %d", r.Status, r.Body, tt.want)
			}
			if tt.want == 401 {
				if e := r.JSON(t)["error"]; e != "unauthorized" {
					t.Fatalf("error = %v, want unauthorized", e)
				}
			}
		})
	}
	if r := ts.do(t, "GET", "/api/v1/organizations", good, nil); r.Status != http.StatusOK {
		t.Fatalf("the good token afterwards: %d", r.Status)
	}
	if n := ts.admCount(t, `SELECT count(*) FROM signing_keys`); n != 2 {
		t.Fatalf("%d signing keys after the SQL kid, want 2", n)
	}
}
