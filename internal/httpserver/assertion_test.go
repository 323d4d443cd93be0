package httpserver_test

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyward/keyward/internal/pgtest"
)

// credFixture is a server with an organization, a private_key_jwt client
// with a generated RS256 key, and a client_secret client.
type credFixture struct {
	ts     *testServer
	admin  string
	org    string
	pkjwt  credClient
	key    credKey
	secret credClient
}

func newCredFixture(t *testing.T) credFixture {
	t.Helper()
	ts := newTestServer(t)
	adm := ts.adminToken(t)
	org := ts.createOrg(t, adm, "Acme")
	f := credFixture{ts: ts, admin: adm, org: org}
	f.pkjwt = ts.credNewClient(t, adm, org, map[string]any{"auth_method": "private_key_jwt", "scopes": []string{"read", "write"}})
	f.key, _ = ts.credGenerate(t, adm, f.pkjwt)
	f.secret = ts.credNewClient(t, adm, org, map[string]any{"scopes": []string{"read"}})
	return f
}

// Every rule of RFC 7523 section 3 that keyward applies, broken exactly once
// in an otherwise valid assertion, for both uses of an assertion: client
// authentication (401 invalid_client) and the jwt-bearer grant (400
// invalid_grant).
func TestAssertionRules(t *testing.T) {
	t.Parallel()
	f := newCredFixture(t)
	ts := f.ts
	now := ts.Clock.Now()
	id := f.pkjwt.ID
	rsaKey := f.key.Private.(*rsa.PrivateKey)
	other := credRSA(t, 0) // registered nowhere

	// fetched counts requests to a server that a jku or x5u header points
	// at: keyward must never fetch one.
	var fetched atomic.Int64
	trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		http.Error(w, "no", http.StatusTeapot)
	}))
	t.Cleanup(trap.Close)

	with := func(mutate func(c jwt.MapClaims)) string {
		c := ts.credClaims(id)
		mutate(c)
		return credSignWith(t, f.key, "", c)
	}
	pubPEM := credPublicPEM(t, rsaKey.Public())
	big := ts.credClaims(id)
	big["pad"] = strings.Repeat("x", 8<<10)

	tests := []struct {
		name      string
		assertion string
		want      string // in the description; "" for success
	}{
		{"a valid assertion is accepted", with(func(jwt.MapClaims) {}), ""},
		{"aud may be the issuer instead of the token endpoint",
			with(func(c jwt.MapClaims) { c["aud"] = ts.URL }), ""},
		{"aud may be an array that contains the token endpoint",
			with(func(c jwt.MapClaims) { c["aud"] = []string{"https://elsewhere.example", ts.URL + "/oauth/token"} }), ""},
		{"iat up to 60 s ahead of the server's clock is accepted",
			with(func(c jwt.MapClaims) { c["iat"] = now.Add(59 * time.Second).Unix() }), ""},
		{"exp - iat of exactly 3600 s is accepted",
			with(func(c jwt.MapClaims) { c["iat"] = now.Unix(); c["exp"] = now.Add(time.Hour).Unix() }), ""},
		{"an nbf in the past is accepted",
			with(func(c jwt.MapClaims) { c["nbf"] = now.Add(-time.Minute).Unix() }), ""},
		{"the key's RFC 7638 thumbprint may be the kid",
			credSignWith(t, f.key, f.key.Thumbprint, ts.credClaims(id)), ""},
		{"without kid, the registered keys are tried",
			credSignWith(t, f.key, "-", ts.credClaims(id)), ""},
		{"jku and x5u headers are never fetched, and do not stop a valid assertion",
			credSign(t, jwt.SigningMethodRS256, rsaKey, f.key.ID, ts.credClaims(id),
				map[string]any{"jku": trap.URL + "/jwks", "x5u": trap.URL + "/cert"}), ""},

		{"no iss is refused", with(func(c jwt.MapClaims) { delete(c, "iss") }), "no iss claim"},
		{"no sub is refused", with(func(c jwt.MapClaims) { delete(c, "sub") }), "no sub claim"},
		{"an iss other than sub is refused", with(func(c jwt.MapClaims) { c["iss"] = f.secret.ID }), "iss and sub must both be"},
		{"iss and sub naming another client are refused", with(func(c jwt.MapClaims) { c["iss"], c["sub"] = f.secret.ID, f.secret.ID }), "client authentication failed"},
		{"no aud is refused", with(func(c jwt.MapClaims) { delete(c, "aud") }), "no aud claim"},
		{"an aud naming another server is refused", with(func(c jwt.MapClaims) { c["aud"] = "https://other.example/oauth/token" }), "aud must contain"},
		{"no exp is refused", with(func(c jwt.MapClaims) { delete(c, "exp") }), "no exp claim"},
		{"an exp in the past is refused",
			with(func(c jwt.MapClaims) {
				c["iat"] = now.Add(-10 * time.Minute).Unix()
				c["exp"] = now.Add(-time.Second).Unix()
			}), "expired"},
		{"an exp of now is refused", with(func(c jwt.MapClaims) { c["iat"] = now.Add(-time.Minute).Unix(); c["exp"] = now.Unix() }), "expired"},
		{"no iat is refused", with(func(c jwt.MapClaims) { delete(c, "iat") }), "no iat claim"},
		{"an iat more than 60 s ahead is refused", with(func(c jwt.MapClaims) { c["iat"] = now.Add(61 * time.Second).Unix() }), "iat is in the future"},
		{"exp - iat over 3600 s is refused",
			with(func(c jwt.MapClaims) { c["iat"] = now.Unix(); c["exp"] = now.Add(time.Hour + time.Second).Unix() }), "longer than 3600 seconds"},
		{"an nbf in the future is refused", with(func(c jwt.MapClaims) { c["nbf"] = now.Add(2 * time.Minute).Unix() }), "nbf"},
		{"no jti is refused", with(func(c jwt.MapClaims) { delete(c, "jti") }), "no jti claim"},
		{"a jti over 256 bytes is refused", with(func(c jwt.MapClaims) { c["jti"] = strings.Repeat("j", 257) }), "jti is longer"},
		{"exp as a string is refused", with(func(c jwt.MapClaims) { c["exp"] = fmt.Sprint(now.Add(time.Minute).Unix()) }), "exp claim is not a NumericDate"},

		{"alg none is refused",
			credSign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, f.key.ID, ts.credClaims(id), nil), "alg is none"},
		{"HS256 keyed with the registered public key (PEM) is refused",
			credSign(t, jwt.SigningMethodHS256, []byte(pubPEM), f.key.ID, ts.credClaims(id), nil), "does not fit the registered public key"},
		{"HS256 keyed with the registered public key, without kid, is refused",
			credSign(t, jwt.SigningMethodHS256, []byte(pubPEM), "", ts.credClaims(id), nil), "missing 'kid'"},
		{"PS256 with a key registered for RS256 is refused",
			credSign(t, jwt.SigningMethodPS256, rsaKey, f.key.ID, ts.credClaims(id), nil), "not the alg of the key"},
		{"RS512 is refused", credSign(t, jwt.SigningMethodRS512, rsaKey, f.key.ID, ts.credClaims(id), nil), "not supported"},
		{"a signature by a key that is not registered is refused",
			credSign(t, jwt.SigningMethodRS256, other, f.key.ID, ts.credClaims(id), nil), "client authentication failed"},
		{"a kid naming no key of the client is refused",
			credSign(t, jwt.SigningMethodRS256, rsaKey, "key_nosuchkey", ts.credClaims(id), nil), "client authentication failed"},
		{"a kid carrying SQL and path characters is refused",
			credSign(t, jwt.SigningMethodRS256, rsaKey, "../../x' OR '1'='1", ts.credClaims(id), nil), "client authentication failed"},
		{"an embedded jwk of the signer's own key is ignored",
			credSign(t, jwt.SigningMethodRS256, other, "", ts.credClaims(id), map[string]any{"jwk": credJWK(other)}), "client authentication failed"},
		{"a jku naming the signer's own keys is never fetched",
			credSign(t, jwt.SigningMethodRS256, other, "attacker", ts.credClaims(id), map[string]any{"jku": trap.URL + "/jwks"}), "client authentication failed"},
		{"a crit header is refused",
			credSign(t, jwt.SigningMethodRS256, rsaKey, f.key.ID, ts.credClaims(id), map[string]any{"crit": []string{"exp"}}), "crit"},
		{"a header that repeats alg is refused",
			credSignRS256Raw(t, `{"alg":"RS256","kid":"`+f.key.ID+`","alg":"none"}`, credJSON(t, ts.credClaims(id)), rsaKey), "repeats the member"},
		{"claims that repeat sub are refused",
			credSignRS256Raw(t, `{"alg":"RS256","kid":"`+f.key.ID+`"}`,
				strings.TrimSuffix(credJSON(t, ts.credClaims(id)), "}")+`,"sub":"m2m_other"}`, rsaKey), "repeats the member"},
		{"claims that are not UTF-8 are refused",
			credSignRS256Raw(t, `{"alg":"RS256","kid":"`+f.key.ID+`"}`,
				strings.TrimSuffix(credJSON(t, ts.credClaims(id)), "}")+`,"x":"`+"\xff"+`"}`, rsaKey), "not valid UTF-8"},
		{"an assertion over 8 KiB is refused", credSignWith(t, f.key, "", big), "larger than 8192 bytes"},
		{"a JWS in JSON serialization is refused", `{"payload":"e30","signatures":[]}`, "not a compact JWS"},
	}
	for _, use := range []struct {
		name   string
		send   func(*testing.T, string) tokResult
		status int
		code   string
	}{
		{"as client authentication", func(t *testing.T, a string) tokResult { return ts.credAssert(t, a) }, 401, "invalid_client"},
		{"as the jwt-bearer grant", func(t *testing.T, a string) tokResult { return ts.credGrant(t, a) }, 400, "invalid_grant"},
	} {
		t.Run(use.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					// Every assertion is sent once per use: the second use
					// re-signs it with a fresh jti when it succeeded.
					a := tt.assertion
					if tt.want == "" && use.code == "invalid_grant" {
						a = credResign(t, a, rsaKey)
					}
					res := use.send(t, a)
					if tt.want == "" {
						tokWantSuccess(t, res)
						_, claims := ts.tokVerify(t, res.AccessToken)
						if claims["sub"] != id {
							t.Errorf("sub = %v, want %s", claims["sub"], id)
						}
						return
					}
					tokWantError(t, res, use.status, use.code, false)
					if !strings.Contains(res.Description, tt.want) {
						t.Errorf("error_description %q does not say %q", res.Description, tt.want)
					}
				})
			}
		})
	}
	t.Run("a replayed jti is refused, however the assertion is used", func(t *testing.T) {
		a := credSignWith(t, f.key, "", ts.credClaims(id))
		tokWantSuccess(t, ts.credGrant(t, a))
		for _, res := range []tokResult{ts.credGrant(t, a), ts.credAssert(t, a)} {
			if res.Status == http.StatusOK || !strings.Contains(res.Description, "jti has been used already") {
				t.Errorf("the replay answered %d: %s", res.Status, res.Body)
			}
		}
	})
	if n := fetched.Load(); n != 0 {
		t.Errorf("keyward fetched a jku or x5u URL %d times", n)
	}
}

// credResign signs the claims of a signed assertion again with a fresh jti,
// keeping its header.
func credResign(t *testing.T, a string, key *rsa.PrivateKey) string {
	t.Helper()
	claims := jwt.MapClaims{}
	tok, _, err := jwt.NewParser().ParseUnverified(a, claims)
	if err != nil {
		t.Fatal(err)
	}
	claims["jti"] = fmt.Sprintf("%v-again", claims["jti"])
	return credSign(t, tok.Method, key, "", claims, tok.Header)
}

func credJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func credJWK(k *rsa.PrivateKey) map[string]any {
	return map[string]any{"kty": "RSA", "n": jwtB64(k.N.Bytes()), "e": "AQAB"}
}

func jwtB64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// client_secret_jwt: HS256 keyed by the plain secret. Clients that send kid
// name the secret; common libraries (openid-client's ClientSecretJwt) send
// none, and then every active secret is tried.
func TestAssertionClientSecretJWT(t *testing.T) {
	t.Parallel()
	f := newCredFixture(t)
	ts := f.ts
	c := f.secret
	second, secondPlain := ts.admAddSecret(t, f.admin, c.Org, c.ID)
	hs := func(key, kid string, claims jwt.MapClaims) string {
		return credSign(t, jwt.SigningMethodHS256, []byte(key), kid, claims, nil)
	}
	tests := []struct {
		name      string
		assertion string
		want      string // in the description; "" for success
	}{
		{"the first secret named by kid authenticates", hs(c.Secret, c.SecretID, ts.credClaims(c.ID)), ""},
		{"the second secret named by kid authenticates", hs(secondPlain, second, ts.credClaims(c.ID)), ""},
		{"without kid the first secret authenticates, as openid-client sends it", hs(c.Secret, "", ts.credClaims(c.ID)), ""},
		{"without kid the second secret authenticates too", hs(secondPlain, "", ts.credClaims(c.ID)), ""},
		{"a kid naming the other secret is refused", hs(c.Secret, second, ts.credClaims(c.ID)), "client authentication failed"},
		{"a wrong secret without kid is refused, saying kid is missing", hs("kw_sk_wrong", "", ts.credClaims(c.ID)),
			"jwt token is missing 'kid' header parameter"},
		{"an unknown client without kid is refused the same way", hs(c.Secret, "", ts.credClaims("m2m_nosuchclient")),
			"jwt token is missing 'kid' header parameter"},
		{"RS256 with kid naming a client secret is refused",
			credSign(t, jwt.SigningMethodRS256, credRSA(t, 1), c.SecretID, ts.credClaims(c.ID), nil), "does not fit the client secret"},
		{"HS256 keyed by the secret's hash-like id is refused", hs(c.SecretID, c.SecretID, ts.credClaims(c.ID)), "client authentication failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := ts.credAssert(t, tt.assertion, "scope", "read")
			if tt.want == "" {
				tokWantSuccess(t, res)
				return
			}
			tokWantError(t, res, http.StatusUnauthorized, "invalid_client", false)
			if !strings.HasPrefix(res.Description, tt.want) && !strings.Contains(res.Description, tt.want) {
				t.Errorf("error_description %q does not say %q", res.Description, tt.want)
			}
		})
	}
	t.Run("without kid, the refusal says no active secret verified it", func(t *testing.T) {
		res := ts.credAssert(t, hs("kw_sk_wrong", "", ts.credClaims(c.ID)))
		if !strings.HasPrefix(res.Description, "jwt token is missing 'kid' header parameter") ||
			!strings.Contains(res.Description, "no active secret") {
			t.Errorf("error_description %q", res.Description)
		}
	})
	t.Run("an inactive secret no longer authenticates, with or without kid", func(t *testing.T) {
		admWant(t, ts.do(t, "PATCH", c.path()+"/secrets/"+second, f.admin, map[string]any{"status": "INACTIVE"}), http.StatusOK)
		for _, kid := range []string{second, ""} {
			tokWantError(t, ts.credAssert(t, hs(secondPlain, kid, ts.credClaims(c.ID))), http.StatusUnauthorized, "invalid_client", false)
		}
	})
	t.Run("a client_secret client may not use the jwt-bearer grant", func(t *testing.T) {
		tokWantError(t, ts.credGrant(t, hs(c.Secret, c.SecretID, ts.credClaims(c.ID))), http.StatusBadRequest, "unauthorized_client", false)
	})
	t.Run("client_id beside the assertion must name its client", func(t *testing.T) {
		tokWantSuccess(t, ts.credAssert(t, hs(c.Secret, c.SecretID, ts.credClaims(c.ID)), "client_id", c.ID))
		res := ts.credAssert(t, hs(c.Secret, c.SecretID, ts.credClaims(c.ID)), "client_id", f.pkjwt.ID)
		tokWantError(t, res, http.StatusUnauthorized, "invalid_client", false)
	})
	t.Run("an assertion beside a client secret is two methods at once", func(t *testing.T) {
		res := ts.credAssert(t, hs(c.Secret, c.SecretID, ts.credClaims(c.ID)), "client_id", c.ID, "client_secret", c.Secret)
		tokWantError(t, res, http.StatusBadRequest, "invalid_request", false)
	})
}

// private_key_jwt with each algorithm a registered key may have, and a
// credentials.json from end to end: the server generates the key, the test
// signs with the PKCS#8 private key it handed out, and trades the assertion
// for a token through the jwt-bearer grant.
func TestAssertionPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	f := newCredFixture(t)
	ts := f.ts

	t.Run("credentials.json signs a jwt-bearer grant whose token verifies", func(t *testing.T) {
		_, creds := ts.credGenerate(t, f.admin, f.pkjwt)
		for _, k := range []string{"client_id", "key_id", "token_uri", "private_key"} {
			if creds[k] == "" {
				t.Fatalf("credentials lack %s: %v", k, creds)
			}
		}
		if len(creds) != 4 || creds["client_id"] != f.pkjwt.ID || creds["token_uri"] != ts.URL+"/oauth/token" {
			t.Fatalf("credentials %v", creds)
		}
		// What a service account does with its credentials.json: read the
		// PKCS#8 key and sign with it.
		block, _ := pem.Decode([]byte(creds["private_key"]))
		if block == nil {
			t.Fatalf("private_key is not PEM: %q", creds["private_key"])
		}
		priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		now := ts.Clock.Now()
		assertion := credSign(t, jwt.SigningMethodRS256, priv, creds["key_id"], jwt.MapClaims{
			"iss": creds["client_id"], "sub": creds["client_id"], "aud": creds["token_uri"],
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "credentials-json-1",
		}, nil)
		res := ts.tokSendTo(t, creds["token_uri"], tokRequest{Form: tokForm("grant_type", credGrantType, "assertion", assertion, "scope", "read")})
		tokWantSuccess(t, res)
		if res.ExpiresIn != 3600 || res.Scope != "read" {
			t.Errorf("expires_in %d scope %q, want 3600 and read", res.ExpiresIn, res.Scope)
		}
		_, claims := ts.tokVerify(t, res.AccessToken)
		if claims["sub"] != f.pkjwt.ID || claims["client_id"] != f.pkjwt.ID || claims["org_id"] != f.org || claims["scope"] != "read" {
			t.Errorf("claims %v", claims)
		}
	})
	t.Run("a PS256 key registered as a JWK authenticates", func(t *testing.T) {
		priv := credRSA(t, 2)
		r := ts.do(t, "POST", f.pkjwt.path()+"/keys", f.admin, map[string]any{"jwk": map[string]any{
			"kty": "RSA", "alg": "PS256", "use": "sig", "kid": "my-ps-key", "n": jwtB64(priv.N.Bytes()), "e": "AQAB"}})
		admWant(t, r, http.StatusCreated)
		if k := admObject(t, r, "key"); k["alg"] != "PS256" || k["jwk_kid"] != "my-ps-key" {
			t.Errorf("key %v", k)
		}
		// The kid the JWK was registered with names it.
		tokWantSuccess(t, ts.credAssert(t, credSign(t, jwt.SigningMethodPS256, priv, "my-ps-key", ts.credClaims(f.pkjwt.ID), nil)))
		tokWantSuccess(t, ts.credGrant(t, credSign(t, jwt.SigningMethodPS256, priv, "", ts.credClaims(f.pkjwt.ID), nil)))
	})
	t.Run("an EC P-256 key registered as PEM authenticates with ES256", func(t *testing.T) {
		k := ts.credRegister(t, f.admin, f.pkjwt, credEC(t), nil)
		if k.Alg != "ES256" {
			t.Errorf("alg %q, want ES256", k.Alg)
		}
		tokWantSuccess(t, ts.credAssert(t, credSignWith(t, k, "", ts.credClaims(f.pkjwt.ID))))
		tokWantSuccess(t, ts.credGrant(t, credSignWith(t, k, "-", ts.credClaims(f.pkjwt.ID))))
	})
	t.Run("the key's last use is recorded", func(t *testing.T) {
		tokWantSuccess(t, ts.credGrant(t, credSignWith(t, f.key, "", ts.credClaims(f.pkjwt.ID))))
		if err := ts.Usage.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, k := range admList(t, ts.do(t, "GET", f.pkjwt.path()+"/keys", f.admin, nil), "keys") {
			if k["id"] == f.key.ID {
				admWantTime(t, "last_used_time", k["last_used_time"])
				return
			}
		}
		t.Errorf("key %s is not listed", f.key.ID)
	})
	t.Run("a private_key_jwt client cannot use client_secret_basic", func(t *testing.T) {
		res := ts.tokSend(t, tokRequest{Authorization: tokBasic(f.pkjwt.ID, "kw_sk_anything"), Form: tokForm("grant_type", "client_credentials")})
		tokWantError(t, res, http.StatusUnauthorized, "invalid_client", true)
	})
	t.Run("a deleted key authenticates nothing", func(t *testing.T) {
		k := ts.credRegister(t, f.admin, f.pkjwt, credEC(t), nil)
		tokWantSuccess(t, ts.credAssert(t, credSignWith(t, k, "", ts.credClaims(f.pkjwt.ID))))
		admWant(t, ts.do(t, "DELETE", f.pkjwt.path()+"/keys/"+k.ID, f.admin, nil), http.StatusNoContent)
		tokWantError(t, ts.credAssert(t, credSignWith(t, k, "", ts.credClaims(f.pkjwt.ID))), http.StatusUnauthorized, "invalid_client", false)
	})
}

// A jti accepted by one replica is refused by another: the replay store is
// the database, shared by every replica, and its one INSERT is the check.
// Changes of a client's keys reach the other replica's cache within 2 s.
func TestAssertionReplicas(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	a := newTestServerOn(t, db, nil)
	b := newTestServerOn(t, db, nil)
	adm := a.adminToken(t)
	org := a.createOrg(t, adm, "Acme")
	c := a.credNewClient(t, adm, org, map[string]any{"auth_method": "private_key_jwt"})
	k, _ := a.credGenerate(t, adm, c)
	// Replicas share an issuer in production; test servers each have
	// their own, so an assertion for both names both token endpoints.
	both := func() jwt.MapClaims {
		claims := a.credClaims(c.ID)
		claims["aud"] = []string{a.URL + "/oauth/token", b.URL + "/oauth/token"}
		return claims
	}

	t.Run("a replayed jti fails on the second replica", func(t *testing.T) {
		assertion := credSignWith(t, k, "", both())
		tokWantSuccess(t, a.credGrant(t, assertion))
		res := b.credGrant(t, assertion)
		tokWantError(t, res, http.StatusBadRequest, "invalid_grant", false)
		if !strings.Contains(res.Description, "jti has been used already") {
			t.Errorf("error_description %q", res.Description)
		}
	})
	t.Run("the same assertion sent to both replicas at once succeeds once", func(t *testing.T) {
		assertion := credSignWith(t, k, "", both())
		results := make(chan int, 2)
		for _, ts := range []*testServer{a, b} {
			go func() { results <- ts.credAssert(t, assertion).Status }()
		}
		ok := 0
		for range 2 {
			if <-results == http.StatusOK {
				ok++
			}
		}
		if ok != 1 {
			t.Errorf("%d replicas accepted the same assertion, want 1", ok)
		}
	})
	t.Run("a key added on one replica works on the other, and a deleted one stops within 2 s", func(t *testing.T) {
		// Both replicas hold the client in memory.
		tokWantSuccess(t, b.credAssert(t, credSignWith(t, k, "", b.credClaims(c.ID))))
		k2 := a.credRegister(t, adm, c, credEC(t), nil)
		var last tokResult
		if !eventually(t, 2*time.Second, func() bool {
			last = b.credAssert(t, credSignWith(t, k2, "", b.credClaims(c.ID)))
			return last.Status == http.StatusOK
		}) {
			t.Fatalf("the other replica still refuses the new key after 2 s: %d %s", last.Status, last.Body)
		}
		admWant(t, a.do(t, "DELETE", c.path()+"/keys/"+k2.ID, adm, nil), http.StatusNoContent)
		if !eventually(t, 2*time.Second, func() bool {
			last = b.credAssert(t, credSignWith(t, k2, "", b.credClaims(c.ID)))
			return last.Status == http.StatusUnauthorized
		}) {
			t.Fatalf("the other replica still accepts the deleted key after 2 s: %d %s", last.Status, last.Body)
		}
	})
	t.Run("expired jtis are purged", func(t *testing.T) {
		before := a.admCount(t, `SELECT count(*) FROM assertion_jtis`)
		if before == 0 {
			t.Fatal("no jti was recorded")
		}
		if _, err := a.Store.PurgeExpired(t.Context(), a.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		if n := a.admCount(t, `SELECT count(*) FROM assertion_jtis`); n != before {
			t.Errorf("purging at now removed %d jtis that have not expired", before-n)
		}
		if _, err := a.Store.PurgeExpired(t.Context(), a.Clock.Now().Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n := a.admCount(t, `SELECT count(*) FROM assertion_jtis`); n != 0 {
			t.Errorf("%d expired jtis left after the purge", n)
		}
	})
}

// A warm assertion costs one statement: the INSERT that records its jti
// (the client and its keys come from memory). The secret methods' warm
// path stays free of queries (TestCacheWarmTokenRequestsMakeNoQueries).
func TestAssertionWarmPathIsOneWrite(t *testing.T) {
	t.Parallel()
	queries := &queryCounter{}
	ts := newTestServerOn(t, pgtest.NewDatabase(t), queries)
	adm := ts.adminToken(t)
	org := ts.createOrg(t, adm, "Acme")
	c := ts.credNewClient(t, adm, org, map[string]any{"auth_method": "private_key_jwt"})
	k, _ := ts.credGenerate(t, adm, c)

	// The key's change notification arrives asynchronously and may evict
	// the entry once more; wait until each request costs one statement.
	if !eventually(t, 10*time.Second, func() bool {
		before := queries.n.Load()
		tokWantSuccess(t, ts.credGrant(t, credSignWith(t, k, "", ts.credClaims(c.ID))))
		return queries.n.Load()-before == 1
	}) {
		t.Fatal("assertions kept costing more than one statement")
	}
	before := queries.n.Load()
	const n = 50
	for range n {
		tokWantSuccess(t, ts.credGrant(t, credSignWith(t, k, "", ts.credClaims(c.ID))))
	}
	if got := queries.n.Load() - before; got != n {
		t.Fatalf("%d warm assertions ran %d statements, want %d", n, got, n)
	}
	queries.mu.Lock()
	last := queries.last
	queries.mu.Unlock()
	if !strings.Contains(last, "INSERT INTO assertion_jtis") {
		t.Errorf("the statement of a warm assertion is %q, want the jti's INSERT", last)
	}
}
