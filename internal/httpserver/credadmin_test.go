package httpserver_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// A client's auth_method is chosen at creation and decides which
// credentials it may hold.
func TestCredentialsAuthMethod(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")

	clients := map[string]credClient{}
	for _, m := range []string{"client_secret", "private_key_jwt", "api_key"} {
		t.Run("a "+m+" client is created with its method", func(t *testing.T) {
			r := ts.do(t, "POST", "/api/v1/organizations/"+org+"/clients", tok, map[string]any{"name": m, "auth_method": m})
			admWant(t, r, http.StatusCreated)
			body := r.JSON(t)
			c := admObject(t, r, "client")
			if c["auth_method"] != m || c["inject_context_identifier"] != false {
				t.Errorf("client %v", c)
			}
			plain, present := body["plain_secret"]
			if !present {
				t.Fatalf("answer %s lacks plain_secret", r.Body)
			}
			secrets := c["secrets"].([]any)
			if m == "client_secret" {
				if s, _ := plain.(string); !strings.HasPrefix(s, "kw_sk_") || len(secrets) != 1 {
					t.Errorf("plain_secret %v, secrets %v: want the first secret", plain, secrets)
				}
			} else if plain != nil || len(secrets) != 0 {
				t.Errorf("plain_secret %v, secrets %v: want null and none", plain, secrets)
			}
			clients[m] = credClient{ID: c["client_id"].(string), Org: org}
		})
	}
	t.Run("the default method is client_secret", func(t *testing.T) {
		c := ts.credNewClient(t, tok, org, map[string]any{})
		if c.View["auth_method"] != "client_secret" || c.Secret == "" {
			t.Errorf("client %v", c.View)
		}
	})
	t.Run("an unknown method is refused", func(t *testing.T) {
		r := ts.do(t, "POST", "/api/v1/organizations/"+org+"/clients", tok, map[string]any{"name": "x", "auth_method": "password"})
		admWantError(t, r, http.StatusBadRequest, "auth_method")
		r = ts.do(t, "POST", "/api/v1/organizations/"+org+"/clients", tok, map[string]any{"name": "x", "auth_method": nil})
		admWantError(t, r, http.StatusBadRequest, "auth_method")
	})
	t.Run("the method cannot be changed", func(t *testing.T) {
		r := ts.do(t, "PATCH", clients["api_key"].path(), tok, map[string]any{"auth_method": "client_secret"})
		admWantError(t, r, http.StatusBadRequest, "auth_method")
	})
	// Each credential on a client of another method is 409.
	for _, tt := range []struct {
		method, route string
		body          any
	}{
		{"private_key_jwt", "/secrets", nil},
		{"api_key", "/secrets", nil},
		{"client_secret", "/keys", map[string]any{}},
		{"api_key", "/keys", map[string]any{}},
		{"client_secret", "/api_keys", nil},
		{"private_key_jwt", "/api_keys", nil},
	} {
		t.Run("POST "+tt.route+" on a "+tt.method+" client is 409", func(t *testing.T) {
			c := clients[tt.method]
			before := ts.admCount(t, `SELECT (SELECT count(*) FROM client_secrets) + (SELECT count(*) FROM client_keys) + (SELECT count(*) FROM api_keys)`)
			admWantError(t, ts.do(t, "POST", c.path()+tt.route, tok, tt.body), http.StatusConflict, "auth_method")
			if after := ts.admCount(t, `SELECT (SELECT count(*) FROM client_secrets) + (SELECT count(*) FROM client_keys) + (SELECT count(*) FROM api_keys)`); after != before {
				t.Errorf("%d credentials before, %d after", before, after)
			}
		})
	}
	t.Run("an api_key client gets no token, whatever it sends", func(t *testing.T) {
		c := clients["api_key"]
		admWant(t, ts.do(t, "POST", c.path()+"/api_keys", tok, nil), http.StatusCreated)
		res := ts.tokSend(t, tokRequest{Authorization: tokBasic(c.ID, "kw_sk_whatever"), Form: tokForm("grant_type", "client_credentials")})
		tokWantError(t, res, http.StatusBadRequest, "unauthorized_client", false)
		claims := ts.credClaims(c.ID)
		res = ts.credAssert(t, credSign(t, jwt.SigningMethodRS256, credRSA(t, 0), "", claims, nil))
		tokWantError(t, res, http.StatusBadRequest, "unauthorized_client", false)
	})
}

// inject_context_identifier lets a client's token requests carry a
// context_identifier, which becomes the ctx claim.
func TestCredentialsContextIdentifier(t *testing.T) {
	t.Parallel()
	f := newCredFixture(t)
	ts := f.ts
	withCtx := ts.credNewClient(t, f.admin, f.org, map[string]any{"inject_context_identifier": true, "scopes": []string{"read"}})
	if withCtx.View["inject_context_identifier"] != true {
		t.Fatalf("client %v", withCtx.View)
	}
	admWant(t, ts.do(t, "PATCH", f.pkjwt.path(), f.admin, map[string]any{"inject_context_identifier": true}), http.StatusOK)
	ctxID := "tenant-42/ünïcode " + strings.Repeat("x", 200)

	t.Run("client_credentials puts it in the ctx claim", func(t *testing.T) {
		res := ts.tokSend(t, tokRequest{Authorization: tokBasic(withCtx.ID, withCtx.Secret),
			Form: tokForm("grant_type", "client_credentials", "context_identifier", ctxID)})
		tokWantSuccess(t, res)
		if _, claims := ts.tokVerify(t, res.AccessToken); claims["ctx"] != ctxID {
			t.Errorf("ctx = %v, want %q", claims["ctx"], ctxID)
		}
	})
	t.Run("the jwt-bearer grant puts it in the ctx claim", func(t *testing.T) {
		res := ts.credGrant(t, credSignWith(t, f.key, "", ts.credClaims(f.pkjwt.ID)), "context_identifier", "job-7")
		tokWantSuccess(t, res)
		if _, claims := ts.tokVerify(t, res.AccessToken); claims["ctx"] != "job-7" {
			t.Errorf("ctx = %v, want job-7", claims["ctx"])
		}
	})
	t.Run("without the parameter there is no ctx claim", func(t *testing.T) {
		res := ts.tokSend(t, tokRequest{Authorization: tokBasic(withCtx.ID, withCtx.Secret), Form: tokForm("grant_type", "client_credentials")})
		tokWantSuccess(t, res)
		if _, claims := ts.tokVerify(t, res.AccessToken); claims["ctx"] != nil {
			t.Errorf("ctx = %v, want none", claims["ctx"])
		}
	})
	for _, tt := range []struct {
		name   string
		client credClient
		value  string
	}{
		{"a client without the flag may not send one", f.secret, "tenant-42"},
		{"more than 256 characters are refused", withCtx, strings.Repeat("é", 257)},
		{"an empty one is refused", withCtx, ""},
		{"a control character is refused", withCtx, "a\nb"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := ts.tokSend(t, tokRequest{Authorization: tokBasic(tt.client.ID, tt.client.Secret),
				Form: tokForm("grant_type", "client_credentials", "context_identifier", tt.value)})
			tokWantError(t, res, http.StatusBadRequest, "invalid_request", false)
			if !strings.Contains(res.Description, "context_identifier") {
				t.Errorf("error_description %q does not name context_identifier", res.Description)
			}
		})
	}
	t.Run("clearing the flag takes effect at once", func(t *testing.T) {
		admWant(t, ts.do(t, "PATCH", withCtx.path(), f.admin, map[string]any{"inject_context_identifier": false}), http.StatusOK)
		res := ts.tokSend(t, tokRequest{Authorization: tokBasic(withCtx.ID, withCtx.Secret),
			Form: tokForm("grant_type", "client_credentials", "context_identifier", "x")})
		tokWantError(t, res, http.StatusBadRequest, "invalid_request", false)
	})
	t.Run("the flag must be a boolean", func(t *testing.T) {
		admWantError(t, ts.do(t, "PATCH", withCtx.path(), f.admin, map[string]any{"inject_context_identifier": "yes"}),
			http.StatusBadRequest, "inject_context_identifier")
	})
	t.Run("ctx and active cannot be custom claims", func(t *testing.T) {
		for _, k := range []string{"ctx", "active"} {
			r := ts.do(t, "PATCH", withCtx.path(), f.admin, map[string]any{"custom_claims": []map[string]string{{"key": k, "value": "v"}}})
			admWantError(t, r, http.StatusBadRequest, "custom_claims[0].key")
		}
	})
}

var credKeyID = regexp.MustCompile(`^key_[a-z2-7]{26}$`)

// Registering, listing and deleting a private_key_jwt client's public keys,
// and every key the API refuses.
func TestCredentialsClientKeys(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")
	c := ts.credNewClient(t, tok, org, map[string]any{"auth_method": "private_key_jwt"})
	keys := c.path() + "/keys"
	rsaPriv := credRSA(t, 3)
	ecPriv := credEC(t)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(rsaPriv)
	privatePEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaPriv.PublicKey)}))
	rsaJWK := map[string]any{"kty": "RSA", "n": jwtB64(rsaPriv.N.Bytes()), "e": "AQAB"}
	withMember := func(k, v string) map[string]any {
		m := map[string]any{}
		for a, b := range rsaJWK {
			m[a] = b
		}
		m[k] = v
		return m
	}

	refused := []struct {
		name    string
		body    any
		mention string
	}{
		{"a JWK with the private exponent d", map[string]any{"jwk": withMember("d", "AQAB")}, "private member"},
		{"a JWK with a CRT parameter", map[string]any{"jwk": withMember("p", "AQAB")}, "private member"},
		{"a symmetric JWK", map[string]any{"jwk": map[string]any{"kty": "oct", "k": "c2VjcmV0"}}, "private member"},
		{"a JWK of another kty", map[string]any{"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}, "jwk.kty"},
		{"a JWK for encryption", map[string]any{"jwk": withMember("use", "enc")}, "jwk.use"},
		{"a JWK with an alg of another family", map[string]any{"jwk": withMember("alg", "ES256")}, "alg"},
		{"a malformed JWK", map[string]any{"jwk": map[string]any{"kty": "RSA", "n": "!!", "e": "AQAB"}}, "jwk"},
		{"a JWK that is not an object", map[string]any{"jwk": "RSA"}, "jwk"},
		{"an RSA key of 1024 bits", map[string]any{"public_key_pem": credPublicPEM(t, weak.Public())}, "1024 bits"},
		{"an EC key on P-384", map[string]any{"public_key_pem": credPublicPEM(t, p384.Public())}, "P-256"},
		{"a private key in PEM", map[string]any{"public_key_pem": privatePEM}, "not a private one"},
		{"a PEM that is not a key", map[string]any{"public_key_pem": "hello"}, "public_key_pem"},
		{"two PEM blocks", map[string]any{"public_key_pem": pkcs1 + pkcs1}, "exactly one"},
		{"both a JWK and a PEM", map[string]any{"jwk": rsaJWK, "public_key_pem": pkcs1}, "either"},
		{"an unknown field", map[string]any{"jwk": rsaJWK, "kid": "x"}, "unknown field"},
		{"an alg the key cannot verify", map[string]any{"public_key_pem": credPublicPEM(t, ecPriv.Public()), "alg": "RS256"}, "alg"},
		{"an unsupported alg", map[string]any{"alg": "HS256"}, "alg"},
		{"a generated EC key", map[string]any{"alg": "ES256"}, "alg"},
		{"a generated PS256 key", map[string]any{"alg": "PS256"}, "RS256 keys only"},
	}
	for _, tt := range refused {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			admWantError(t, ts.do(t, "POST", keys, tok, tt.body), http.StatusBadRequest, tt.mention)
		})
	}
	if n := ts.admCount(t, `SELECT count(*) FROM client_keys`); n != 0 {
		t.Fatalf("%d keys stored by refused requests", n)
	}

	var ids []string
	t.Run("an RSA JWK, a PKCS#1 PEM and an EC PKIX PEM are registered", func(t *testing.T) {
		for _, body := range []map[string]any{
			{"jwk": withMember("kid", "ci-key")},
			{"public_key_pem": credPublicPEM(t, credRSA(t, 1).Public()), "alg": "PS256"},
			{"public_key_pem": credPublicPEM(t, ecPriv.Public())},
		} {
			r := ts.do(t, "POST", keys, tok, body)
			admWant(t, r, http.StatusCreated)
			ts.Clock.Advance(time.Second) // keys are listed by creation time
			if m := r.JSON(t); len(m) != 1 {
				t.Errorf("answer %s, want only key (no credentials for a key the caller holds)", r.Body)
			}
			k := admObject(t, r, "key")
			admWantTime(t, "create_time", k["create_time"])
			if !credKeyID.MatchString(k["id"].(string)) || k["last_used_time"] != nil {
				t.Errorf("key %v", k)
			}
			jwk := k["jwk"].(map[string]any)
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
				if _, ok := jwk[private]; ok {
					t.Errorf("the key's jwk carries %q", private)
				}
			}
			if jwk["kid"] != k["id"] || jwk["alg"] != k["alg"] || jwk["use"] != "sig" {
				t.Errorf("jwk %v of key %v", jwk, k["id"])
			}
			ids = append(ids, k["id"].(string))
		}
	})
	t.Run("the same key twice is 409", func(t *testing.T) {
		admWantError(t, ts.do(t, "POST", keys, tok, map[string]any{"public_key_pem": pkcs1}), http.StatusConflict, "already")
	})
	var generated map[string]any
	t.Run("{} generates a key and answers its credentials once", func(t *testing.T) {
		r := ts.do(t, "POST", keys, tok, map[string]any{})
		admWant(t, r, http.StatusCreated)
		generated = admObject(t, r, "key")
		creds := admObject(t, r, "credentials")
		if creds["client_id"] != c.ID || creds["key_id"] != generated["id"] || creds["token_uri"] != ts.URL+"/oauth/token" ||
			!strings.HasPrefix(creds["private_key"].(string), "-----BEGIN PRIVATE KEY-----") || generated["alg"] != "RS256" {
			t.Errorf("credentials %v for key %v", creds, generated)
		}
		if strings.Contains(ts.Logs(), "PRIVATE KEY") {
			t.Error("the private key was logged")
		}
		// keyward keeps only the public half.
		if n := ts.admCount(t, `SELECT count(*) FROM client_keys WHERE public_jwk::text LIKE '%"d"%'`); n != 0 {
			t.Error("a stored key has a private member")
		}
	})
	t.Run("GET lists the keys oldest first, without private material", func(t *testing.T) {
		r := ts.do(t, "GET", keys, tok, nil)
		admWant(t, r, http.StatusOK)
		list := admList(t, r, "keys")
		if len(list) != 4 {
			t.Fatalf("%d keys listed, want 4", len(list))
		}
		for i, k := range list[:3] {
			if k["id"] != ids[i] {
				t.Errorf("key %d is %v, want %s", i, k["id"], ids[i])
			}
			for _, f := range []string{"id", "alg", "create_time", "last_used_time", "thumbprint", "jwk", "jwk_kid"} {
				if _, ok := k[f]; !ok {
					t.Errorf("key lacks %s", f)
				}
			}
		}
		if list[0]["jwk_kid"] != "ci-key" || list[1]["alg"] != "PS256" || list[2]["alg"] != "ES256" {
			t.Errorf("keys %v", list)
		}
		if strings.Contains(string(r.Body), "PRIVATE") {
			t.Error("the list shows private material")
		}
	})
	t.Run("a sixth key is 409", func(t *testing.T) {
		admWant(t, ts.do(t, "POST", keys, tok, map[string]any{"public_key_pem": credPublicPEM(t, credEC(t).Public())}), http.StatusCreated)
		admWantError(t, ts.do(t, "POST", keys, tok, map[string]any{"public_key_pem": credPublicPEM(t, credEC(t).Public())}), http.StatusConflict, "5")
	})
	t.Run("DELETE removes one key", func(t *testing.T) {
		admWant(t, ts.do(t, "DELETE", keys+"/"+ids[0], tok, nil), http.StatusNoContent)
		admWantError(t, ts.do(t, "DELETE", keys+"/"+ids[0], tok, nil), http.StatusNotFound, "key not found")
		if n := len(admList(t, ts.do(t, "GET", keys, tok, nil), "keys")); n != 4 {
			t.Errorf("%d keys after the delete, want 4", n)
		}
	})
	t.Run("an unknown client is 404", func(t *testing.T) {
		admWantError(t, ts.do(t, "GET", "/api/v1/organizations/"+org+"/clients/m2m_nosuch/keys", tok, nil), http.StatusNotFound, "client not found")
		admWantError(t, ts.do(t, "POST", "/api/v1/organizations/"+org+"/clients/m2m_nosuch/keys", tok, map[string]any{"public_key_pem": pkcs1}),
			http.StatusNotFound, "client not found")
	})
	t.Run("the client's keys go with it", func(t *testing.T) {
		admWant(t, ts.do(t, "DELETE", c.path(), tok, nil), http.StatusNoContent)
		if n := ts.admCount(t, `SELECT count(*) FROM client_keys`); n != 0 {
			t.Errorf("%d keys left after the client was deleted", n)
		}
	})
}

var credAPIKeyPlain = regexp.MustCompile(`^kw_ak_[a-z2-7]{52}$`)

// An API key's whole life: created (shown once), listed, used through
// introspection, disabled and enabled, expired, deleted.
func TestCredentialsAPIKeys(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")
	c := ts.credNewClient(t, tok, org, map[string]any{"auth_method": "api_key", "scopes": []string{"read", "write"}})
	// The resource server that introspects: a client of the same
	// organization.
	rs := ts.credNewClient(t, tok, org, map[string]any{"name": "resource server"})
	caller := credBasic(rs.ID, rs.Secret)
	keys := c.path() + "/api_keys"
	now := ts.Clock.Now().UTC()

	var id, plain string
	t.Run("created, it is shown once with its plain key", func(t *testing.T) {
		r := ts.do(t, "POST", keys, tok, nil)
		admWant(t, r, http.StatusCreated)
		k := admObject(t, r, "api_key")
		plain, _ = r.JSON(t)["plain_key"].(string)
		if !credAPIKeyPlain.MatchString(plain) {
			t.Fatalf("plain_key %q is not kw_ak_ and 256 bits", plain)
		}
		id = k["id"].(string)
		want := map[string]any{"key_suffix": plain[len(plain)-4:], "status": "ACTIVE", "last_used_time": nil, "expire_time": nil,
			"create_time": now.Format(time.RFC3339), "update_time": now.Format(time.RFC3339)}
		for f, v := range want {
			if k[f] != v {
				t.Errorf("%s = %v, want %v", f, k[f], v)
			}
		}
		if !strings.HasPrefix(id, "apk_") {
			t.Errorf("id %q", id)
		}
		if strings.Contains(ts.Logs(), plain) {
			t.Error("the plain key was logged")
		}
		if n := ts.admCount(t, `SELECT count(*) FROM api_keys WHERE position($1::bytea in hash) > 0 OR position($1::bytea in sealed) > 0`, []byte(plain)); n != 0 {
			t.Error("the plain key is stored")
		}
	})
	t.Run("introspection finds it active, with its client's identity and scope", func(t *testing.T) {
		got := ts.credIntrospect(t, caller, plain)
		credWantActive(t, got, true)
		want := map[string]any{"token_type": "api_key", "client_id": c.ID, "sub": c.ID, "org_id": org, "scope": "read write",
			"iat": float64(now.Unix())}
		for f, v := range want {
			if got[f] != v {
				t.Errorf("%s = %v, want %v", f, got[f], v)
			}
		}
	})
	t.Run("its use is recorded", func(t *testing.T) {
		if err := ts.Usage.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		k := admList(t, ts.do(t, "GET", keys, tok, nil), "api_keys")[0]
		admWantTime(t, "last_used_time", k["last_used_time"])
		if _, ok := k["plain_key"]; ok {
			t.Error("the list shows the plain key")
		}
	})
	t.Run("disabled, it is inactive; enabled again, active", func(t *testing.T) {
		r := ts.do(t, "PATCH", keys+"/"+id, tok, map[string]any{"status": "INACTIVE"})
		admWant(t, r, http.StatusOK)
		if k := admObject(t, r, "api_key"); k["status"] != "INACTIVE" {
			t.Errorf("status %v", k["status"])
		}
		credWantActive(t, ts.credIntrospect(t, caller, plain), false)
		admWant(t, ts.do(t, "PATCH", keys+"/"+id, tok, map[string]any{"status": "ACTIVE"}), http.StatusOK)
		credWantActive(t, ts.credIntrospect(t, caller, plain), true)
	})
	t.Run("a key with an expire_time is active until then", func(t *testing.T) {
		exp := now.Add(time.Hour).Format(time.RFC3339)
		r := ts.do(t, "POST", keys, tok, map[string]any{"expire_time": exp})
		admWant(t, r, http.StatusCreated)
		if k := admObject(t, r, "api_key"); k["expire_time"] != exp {
			t.Errorf("expire_time %v, want %s", k["expire_time"], exp)
		}
		p := r.JSON(t)["plain_key"].(string)
		got := ts.credIntrospect(t, caller, p)
		credWantActive(t, got, true)
		if got["exp"] != float64(now.Add(time.Hour).Unix()) {
			t.Errorf("exp %v", got["exp"])
		}
		ts.Clock.Advance(time.Hour)
		credWantActive(t, ts.credIntrospect(t, caller, p), false)
		credWantActive(t, ts.credIntrospect(t, caller, plain), true)
	})
	for _, tt := range []struct {
		name string
		body any
	}{
		{"an expire_time in the past", map[string]any{"expire_time": "2001-01-01T00:00:00Z"}},
		{"an expire_time that is not RFC 3339", map[string]any{"expire_time": "tomorrow"}},
		{"an unknown field", map[string]any{"name": "x"}},
	} {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			admWantError(t, ts.do(t, "POST", keys, tok, tt.body), http.StatusBadRequest)
		})
	}
	t.Run("a status other than ACTIVE or INACTIVE is refused", func(t *testing.T) {
		admWantError(t, ts.do(t, "PATCH", keys+"/"+id, tok, map[string]any{"status": "REVOKED"}), http.StatusBadRequest, "status")
		admWantError(t, ts.do(t, "PATCH", keys+"/apk_nosuch", tok, map[string]any{"status": "ACTIVE"}), http.StatusNotFound, "API key not found")
	})
	t.Run("at most 10 keys", func(t *testing.T) {
		for len(admList(t, ts.do(t, "GET", keys, tok, nil), "api_keys")) < 10 {
			admWant(t, ts.do(t, "POST", keys, tok, nil), http.StatusCreated)
		}
		admWantError(t, ts.do(t, "POST", keys, tok, nil), http.StatusConflict, "10")
	})
	t.Run("deleted, it is unknown", func(t *testing.T) {
		admWant(t, ts.do(t, "DELETE", keys+"/"+id, tok, nil), http.StatusNoContent)
		credWantActive(t, ts.credIntrospect(t, caller, plain), false)
		admWantError(t, ts.do(t, "DELETE", keys+"/"+id, tok, nil), http.StatusNotFound, "API key not found")
	})
	t.Run("an API key is no client secret", func(t *testing.T) {
		r := ts.do(t, "POST", keys, tok, nil)
		p := r.JSON(t)["plain_key"].(string)
		res := ts.tokSend(t, tokRequest{Form: tokForm("grant_type", "client_credentials", "client_id", c.ID, "client_secret", p)})
		tokWantError(t, res, http.StatusBadRequest, "unauthorized_client", false)
		// Nor a bearer token of the admin API.
		admWantError(t, ts.do(t, "GET", "/api/v1/whoami", p, nil), http.StatusUnauthorized)
	})
}
