package httpserver_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// introspectFixture has two organizations: A with a client that gets
// tokens, a resource server, an org admin, an api_key client with a key
// and a private_key_jwt client; B with a client of its own.
type introspectFixture struct {
	credFixture
	worker, rs, orgAdmin credClient
	apiClient            credClient
	apiKey               string
	otherOrg             string
	outsider             credClient // a client of B
}

func newIntrospectFixture(t *testing.T) introspectFixture {
	t.Helper()
	f := introspectFixture{credFixture: newCredFixture(t)}
	ts := f.ts
	f.worker = ts.credNewClient(t, f.admin, f.org, map[string]any{"name": "worker", "scopes": []string{"read"},
		"custom_claims": []map[string]string{{"key": "tier", "value": "gold"}}, "expiry": 600})
	f.rs = ts.credNewClient(t, f.admin, f.org, map[string]any{"name": "resource server"})
	f.orgAdmin = ts.credNewClient(t, f.admin, f.org, map[string]any{"name": "org admin", "scopes": []string{"keyward:org:admin"}})
	f.apiClient = ts.credNewClient(t, f.admin, f.org, map[string]any{"auth_method": "api_key", "scopes": []string{"read"}})
	f.apiKey = ts.do(t, "POST", f.apiClient.path()+"/api_keys", f.admin, nil).JSON(t)["plain_key"].(string)
	f.otherOrg = ts.createOrg(t, f.admin, "Other")
	f.outsider = ts.credNewClient(t, f.admin, f.otherOrg, map[string]any{"name": "outsider"})
	return f
}

func (f introspectFixture) workerToken(t *testing.T) string {
	t.Helper()
	return f.ts.token(t, f.worker.ID, f.worker.Secret)
}

func TestIntrospection(t *testing.T) {
	t.Parallel()
	f := newIntrospectFixture(t)
	ts := f.ts
	rs := credBasic(f.rs.ID, f.rs.Secret)
	envAdminID, envAdminSecret := ts.envAdmin(t)

	t.Run("an active token answers its claims", func(t *testing.T) {
		tok := f.workerToken(t)
		_, want := ts.tokVerify(t, tok)
		got := ts.credIntrospect(t, rs, tok)
		credWantActive(t, got, true)
		if got["token_type"] != "Bearer" {
			t.Errorf("token_type %v", got["token_type"])
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %v, want %v as in the token", k, got[k], v)
			}
		}
		if got["tier"] != "gold" || got["client_id"] != f.worker.ID || got["org_id"] != f.org || got["scope"] != "read" {
			t.Errorf("answer %v", got)
		}
	})
	t.Run("the client itself may introspect its token, by client_secret_post", func(t *testing.T) {
		tok := f.workerToken(t)
		res := ts.tokSendTo(t, ts.URL+"/oauth/introspect", tokRequest{Form: tokForm("token", tok, "client_id", f.worker.ID, "client_secret", f.worker.Secret)})
		if res.Status != http.StatusOK || !strings.Contains(string(res.Body), `"active":true`) {
			t.Errorf("%d %s", res.Status, res.Body)
		}
	})
	t.Run("a caller may authenticate with private_key_jwt, aud naming the introspection endpoint", func(t *testing.T) {
		claims := ts.credClaims(f.pkjwt.ID)
		claims["aud"] = ts.URL + "/oauth/introspect"
		caller := credAssertionCaller(credSignWith(t, f.key, "", claims))
		credWantActive(t, ts.credIntrospect(t, caller, f.workerToken(t)), true)
	})
	t.Run("a caller may authenticate with client_secret_jwt", func(t *testing.T) {
		c := f.worker
		caller := credAssertionCaller(credSign(t, jwt.SigningMethodHS256, []byte(c.Secret), "", ts.credClaims(c.ID), nil))
		credWantActive(t, ts.credIntrospect(t, caller, f.workerToken(t)), true)
	})
	t.Run("an API key answers its client, organization and scope", func(t *testing.T) {
		got := ts.credIntrospect(t, rs, f.apiKey)
		credWantActive(t, got, true)
		if got["token_type"] != "api_key" || got["client_id"] != f.apiClient.ID || got["org_id"] != f.org || got["scope"] != "read" {
			t.Errorf("answer %v", got)
		}
	})

	inactive := []struct {
		name   string
		caller credCaller
		token  func(t *testing.T) string
	}{
		{"an unknown string", rs, func(*testing.T) string { return "not-a-token" }},
		{"an unknown API key", rs, func(*testing.T) string { return "kw_ak_" + strings.Repeat("a", 52) }},
		{"a token of another server's key", rs, func(t *testing.T) string {
			claims, header := admClaims(t, f.workerToken(t))
			return admForeignToken(t, header["kid"].(string), claims)
		}},
		{"a token with its signature cut off", rs, func(t *testing.T) string {
			tok := f.workerToken(t)
			return tok[:strings.LastIndex(tok, ".")+1]
		}},
		{"a token over 8 KiB", rs, func(*testing.T) string { return strings.Repeat("a", 9000) }},
		{"a token of another organization", credBasic(f.outsider.ID, f.outsider.Secret), f.workerToken},
		{"an API key of another organization", credBasic(f.outsider.ID, f.outsider.Secret), func(*testing.T) string { return f.apiKey }},
	}
	for _, tt := range inactive {
		t.Run(tt.name+" is inactive", func(t *testing.T) {
			credWantActive(t, ts.credIntrospect(t, tt.caller, tt.token(t)), false)
		})
	}
	t.Run("an environment admin sees every organization's tokens and API keys", func(t *testing.T) {
		admin := credBasic(envAdminID, envAdminSecret)
		credWantActive(t, ts.credIntrospect(t, admin, f.workerToken(t)), true)
		credWantActive(t, ts.credIntrospect(t, admin, f.apiKey), true)
	})
	t.Run("a revoked token is inactive", func(t *testing.T) {
		tok := f.workerToken(t)
		ts.credRevoke(t, credBasic(f.worker.ID, f.worker.Secret), tok)
		credWantActive(t, ts.credIntrospect(t, rs, tok), false)
	})
	t.Run("a token of a deleted client is inactive", func(t *testing.T) {
		gone := ts.credNewClient(t, f.admin, f.org, map[string]any{"name": "gone"})
		tok := ts.token(t, gone.ID, gone.Secret)
		credWantActive(t, ts.credIntrospect(t, rs, tok), true)
		admWant(t, ts.do(t, "DELETE", gone.path(), f.admin, nil), http.StatusNoContent)
		credWantActive(t, ts.credIntrospect(t, rs, tok), false)
	})
	t.Run("an expired token is inactive", func(t *testing.T) {
		tok := f.workerToken(t) // expiry 600 s
		ts.Clock.Advance(599 * time.Second)
		credWantActive(t, ts.credIntrospect(t, rs, tok), true)
		ts.Clock.Advance(time.Second)
		credWantActive(t, ts.credIntrospect(t, rs, tok), false)
	})
	// Last: the admin token was signed by the key it revokes.
	t.Run("a token of a revoked signing key is inactive", func(t *testing.T) {
		tok := f.workerToken(t)
		_, header := admClaims(t, tok)
		admWant(t, ts.do(t, "POST", "/api/v1/keys/"+header["kid"].(string)+"/revoke", f.admin, nil), http.StatusOK)
		credWantActive(t, ts.credIntrospect(t, rs, tok), false)
		credWantActive(t, ts.credIntrospect(t, rs, f.workerToken(t)), true)
	})

	refused := []struct {
		name   string
		req    tokRequest
		status int
		code   string
	}{
		{"no client authentication", tokRequest{Form: tokForm("token", "x")}, 401, "invalid_client"},
		{"a wrong secret", tokRequest{Authorization: tokBasic(f.rs.ID, "kw_sk_wrong"), Form: tokForm("token", "x")}, 401, "invalid_client"},
		{"an api_key client, which has nothing to authenticate with", tokRequest{Authorization: tokBasic(f.apiClient.ID, f.apiKey), Form: tokForm("token", "x")}, 400, "unauthorized_client"},
		{"no token", tokRequest{Authorization: tokBasic(f.rs.ID, f.rs.Secret), Form: tokForm("token_type_hint", "access_token")}, 400, "invalid_request"},
		{"a JSON body", tokRequest{Authorization: tokBasic(f.rs.ID, f.rs.Secret), ContentType: "application/json", Body: strings.NewReader(`{"token":"x"}`)}, 400, "invalid_request"},
	}
	for _, endpoint := range []string{"/oauth/introspect", "/oauth/revoke"} {
		for _, tt := range refused {
			t.Run(endpoint+" refuses "+tt.name, func(t *testing.T) {
				res := ts.tokSendTo(t, ts.URL+endpoint, tt.req)
				tokWantError(t, res, tt.status, tt.code, tt.req.Authorization != "" && tt.code == "invalid_client")
			})
		}
	}
}

func TestRevocation(t *testing.T) {
	t.Parallel()
	f := newIntrospectFixture(t)
	ts := f.ts
	rs := credBasic(f.rs.ID, f.rs.Secret)
	worker := credBasic(f.worker.ID, f.worker.Secret)

	t.Run("the owning client revokes its token, which is kept revoked until it expires", func(t *testing.T) {
		tok := f.workerToken(t)
		ts.credRevoke(t, worker, tok)
		ts.credRevoke(t, worker, tok) // twice is fine
		credWantActive(t, ts.credIntrospect(t, rs, tok), false)
		claims, _ := admClaims(t, tok)
		jti := claims["jti"].(string)
		if n := ts.admCount(t, `SELECT count(*) FROM revoked_tokens WHERE jti = $1 AND exp = to_timestamp($2)`, jti, claims["exp"]); n != 1 {
			t.Fatalf("the revoked jti is not stored with the token's exp")
		}
		if _, err := ts.Store.PurgeExpired(t.Context(), time.Unix(int64(claims["exp"].(float64)), 0).Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if n := ts.admCount(t, `SELECT count(*) FROM revoked_tokens WHERE jti = $1`, jti); n != 1 {
			t.Error("the revoked jti was purged before the token expired")
		}
		if _, err := ts.Store.PurgeExpired(t.Context(), time.Unix(int64(claims["exp"].(float64)), 0).Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if n := ts.admCount(t, `SELECT count(*) FROM revoked_tokens WHERE jti = $1`, jti); n != 0 {
			t.Error("the revoked jti outlived its token")
		}
	})
	t.Run("a revoked admin token no longer works on the admin API", func(t *testing.T) {
		id, secret := ts.envAdmin(t)
		tok := ts.token(t, id, secret)
		admWant(t, ts.do(t, "GET", "/api/v1/whoami", tok, nil), http.StatusOK)
		ts.credRevoke(t, credBasic(id, secret), tok)
		admWantError(t, ts.do(t, "GET", "/api/v1/whoami", tok, nil), http.StatusUnauthorized, "revoked")
		admWant(t, ts.do(t, "GET", "/api/v1/whoami", ts.token(t, id, secret), nil), http.StatusOK)
	})
	t.Run("another organization's client cannot revoke a token", func(t *testing.T) {
		tok := f.workerToken(t)
		ts.credRevoke(t, credBasic(f.outsider.ID, f.outsider.Secret), tok)
		credWantActive(t, ts.credIntrospect(t, rs, tok), true)
	})
	t.Run("a client of the same organization without org admin cannot revoke another's token", func(t *testing.T) {
		tok := f.workerToken(t)
		ts.credRevoke(t, rs, tok)
		credWantActive(t, ts.credIntrospect(t, rs, tok), true)
	})
	t.Run("an org admin revokes a token of its organization", func(t *testing.T) {
		tok := f.workerToken(t)
		ts.credRevoke(t, credBasic(f.orgAdmin.ID, f.orgAdmin.Secret), tok)
		credWantActive(t, ts.credIntrospect(t, rs, tok), false)
	})
	t.Run("an org admin revoking an API key disables it", func(t *testing.T) {
		ts.credRevoke(t, rs, f.apiKey) // not an admin: nothing happens
		credWantActive(t, ts.credIntrospect(t, rs, f.apiKey), true)
		ts.credRevoke(t, credBasic(f.orgAdmin.ID, f.orgAdmin.Secret), f.apiKey)
		credWantActive(t, ts.credIntrospect(t, rs, f.apiKey), false)
		k := admList(t, ts.do(t, "GET", f.apiClient.path()+"/api_keys", f.admin, nil), "api_keys")[0]
		if k["status"] != "INACTIVE" {
			t.Errorf("the revoked API key's status is %v, want INACTIVE", k["status"])
		}
	})
	t.Run("an environment admin revokes any organization's token", func(t *testing.T) {
		id, secret := ts.envAdmin(t)
		tok := ts.token(t, f.outsider.ID, f.outsider.Secret)
		ts.credRevoke(t, credBasic(id, secret), tok)
		credWantActive(t, ts.credIntrospect(t, credBasic(f.outsider.ID, f.outsider.Secret), tok), false)
	})
	for _, tok := range []string{"not-a-token", "kw_ak_unknown", strings.Repeat("x", 9000)} {
		t.Run("an invalid token "+tok[:min(len(tok), 12)]+" answers 200", func(t *testing.T) {
			ts.credRevoke(t, worker, tok)
		})
	}
}
