package httpserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyward/keyward/internal/example/resourceserver"
)

// rsCounting counts the requests a resource server sends to keyward's
// introspection endpoint and JWKS.
type rsCounting struct {
	introspections, jwks atomic.Int64
}

func (c *rsCounting) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case strings.HasSuffix(r.URL.Path, "/oauth/introspect"):
		c.introspections.Add(1)
	case strings.HasSuffix(r.URL.Path, "/jwks.json"):
		c.jwks.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// The README's example resource server (internal/example/resourceserver) against a
// live keyward: keyward access tokens pass by the JWKS alone, client-signed
// tokens and API keys by introspection, whose answers it caches until exp,
// at most 60 s.
func TestExampleResourceServer(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	adm := ts.adminToken(t)
	org := ts.createOrg(t, adm, "Acme")
	const audience = "reports-api.example.com"
	api := ts.credNewClient(t, adm, org, map[string]any{"name": "reports api"})
	caller := ts.credNewClient(t, adm, org, map[string]any{"name": "caller", "scopes": []string{"read:reports"}, "audience": []string{audience}})
	elsewhere := ts.credNewClient(t, adm, org, map[string]any{"name": "elsewhere", "audience": []string{"other-api.example.com"}})
	signer := ts.credNewClient(t, adm, org, map[string]any{"name": "migrating", "auth_method": "private_key_jwt", "scopes": []string{"read:reports"},
		"client_signed_tokens": map[string]any{"enabled": true, "issuer_aliases": []string{"ops@example.com"}}})
	key := ts.credRegister(t, adm, signer, credRSA(t, 0), nil)
	apiKeyClient := ts.credNewClient(t, adm, org, map[string]any{"auth_method": "api_key", "scopes": []string{"read:reports"}})
	apiKey := ts.do(t, "POST", apiKeyClient.path()+"/api_keys", adm, nil).JSON(t)["plain_key"].(string)

	calls := &rsCounting{}
	v, err := resourceserver.New(resourceserver.Config{Issuer: ts.URL, Audience: audience, ClientID: api.ID, ClientSecret: api.Secret,
		HTTPClient: &http.Client{Transport: calls, Timeout: 10 * time.Second}, Now: ts.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	rs := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := resourceserver.FromContext(r.Context())
		if !ok {
			t.Error("the middleware passed a request on without a principal")
		}
		json.NewEncoder(w).Encode(p)
	})))
	t.Cleanup(rs.Close)
	get := func(t *testing.T, authorization string) (int, resourceserver.Principal, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, rs.URL+"/reports", nil)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var p resourceserver.Principal
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("%s", body)
			}
		}
		return resp.StatusCode, p, resp.Header
	}
	wantOK := func(t *testing.T, token, client, kind string) {
		t.Helper()
		status, p, _ := get(t, "Bearer "+token)
		if status != http.StatusOK || p.ClientID != client || p.OrgID != org || p.Kind != kind || !p.HasScope("read:reports") {
			t.Fatalf("answered %d for %+v, want 200 for %s (%s) with read:reports", status, p, client, kind)
		}
	}
	wantRefused := func(t *testing.T, token string) {
		t.Helper()
		status, _, h := get(t, "Bearer "+token)
		if status != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("answered %d (WWW-Authenticate %q), want 401 invalid_token", status, h.Get("WWW-Authenticate"))
		}
	}
	clientSigned := func(lifetime time.Duration) string {
		return credSign(t, jwt.SigningMethodRS256, key.Private, "", ts.csClaims("ops@example.com", lifetime), nil)
	}

	t.Run("a keyward access token passes by the JWKS, without introspection", func(t *testing.T) {
		before := calls.introspections.Load()
		tok := ts.token(t, caller.ID, caller.Secret)
		wantOK(t, tok, caller.ID, "access_token")
		wantOK(t, tok, caller.ID, "access_token")
		if n := calls.introspections.Load() - before; n != 0 {
			t.Errorf("%d introspections for an access token, want 0", n)
		}
		if n := calls.jwks.Load(); n != 1 {
			t.Errorf("%d JWKS fetches, want 1", n)
		}
	})
	t.Run("an access token for another API is refused", func(t *testing.T) {
		wantRefused(t, ts.token(t, elsewhere.ID, elsewhere.Secret))
	})
	t.Run("an access token past its exp is refused", func(t *testing.T) {
		tok := ts.token(t, caller.ID, caller.Secret)
		ts.Clock.Advance(time.Hour + time.Minute)
		wantRefused(t, tok)
	})
	t.Run("a client-signed token passes by introspection, asked once while cached", func(t *testing.T) {
		before := calls.introspections.Load()
		tok := clientSigned(30 * time.Minute)
		for range 5 {
			wantOK(t, tok, signer.ID, "client_signed_jwt")
		}
		if n := calls.introspections.Load() - before; n != 1 {
			t.Errorf("%d introspections for 5 requests, want 1", n)
		}
		ts.Clock.Advance(61 * time.Second)
		wantOK(t, tok, signer.ID, "client_signed_jwt")
		if n := calls.introspections.Load() - before; n != 2 {
			t.Errorf("%d introspections after 61 s, want 2: an answer is cached at most 60 s", n)
		}
	})
	t.Run("an answer is cached no longer than the token's exp", func(t *testing.T) {
		tok := clientSigned(20 * time.Second)
		wantOK(t, tok, signer.ID, "client_signed_jwt")
		ts.Clock.Advance(20 * time.Second)
		wantRefused(t, tok)
	})
	t.Run("an API key passes by introspection", func(t *testing.T) {
		wantOK(t, apiKey, apiKeyClient.ID, "api_key")
	})
	t.Run("turning the setting off reaches the API once the cached answer ages", func(t *testing.T) {
		tok := clientSigned(30 * time.Minute)
		wantOK(t, tok, signer.ID, "client_signed_jwt")
		// A fresh admin token: adm has expired by now.
		ts.csSet(t, ts.adminToken(t), signer, map[string]any{"enabled": false})
		// The API answers from its cache until the answer is 60 s old.
		wantOK(t, tok, signer.ID, "client_signed_jwt")
		ts.Clock.Advance(61 * time.Second)
		wantRefused(t, tok)
	})
	t.Run("a forged or missing token is refused", func(t *testing.T) {
		wantRefused(t, credSign(t, jwt.SigningMethodRS256, credRSA(t, 1), "", ts.csClaims("ops@example.com", time.Minute), nil))
		wantRefused(t, "not-a-token")
		status, _, h := get(t, "")
		if status != http.StatusUnauthorized || h.Get("WWW-Authenticate") != `Bearer realm="api"` {
			t.Errorf("no token: %d %q", status, h.Get("WWW-Authenticate"))
		}
	})
	t.Run("its own credentials get it an access token through x/oauth2", func(t *testing.T) {
		tok, err := v.OwnCredentials().Token(t.Context())
		if err != nil || tok.AccessToken == "" {
			t.Fatalf("x/oauth2 client credentials: %v", err)
		}
		if _, claims := ts.tokVerify(t, tok.AccessToken); claims["client_id"] != api.ID {
			t.Errorf("the token's client_id is %v, want the API's own %s", claims["client_id"], api.ID)
		}
	})
}
