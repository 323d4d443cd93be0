package httpserver_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Plain secrets and tokens appear once, in the response that creates them,
// and never in the server's logs, whatever the request did with them.
func TestLogsNeverContainSecretsOrTokens(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	adminTok := ts.adminToken(t)
	org := ts.createOrg(t, adminTok, "Acme")
	id, plain := ts.createClient(t, adminTok, org, map[string]any{"scopes": []string{"read"}})
	tok := ts.token(t, id, plain)
	second := ts.do(t, "POST", "/api/v1/organizations/"+org+"/clients/"+id+"/secrets", adminTok, nil)
	if second.Status != http.StatusCreated {
		t.Fatalf("add secret: %d %s", second.Status, second.Body)
	}
	secondPlain := second.JSON(t)["plain_secret"].(string)

	// Failed and malformed requests that carry the secrets.
	ts.postToken(t, id, plain+"x", url.Values{"grant_type": {"client_credentials"}})
	ts.postToken(t, "", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secondPlain}, "scope": {"nope"}})
	ts.do(t, "GET", "/api/v1/whoami", tok+"x", nil)
	ts.do(t, "GET", "/api/v1/organizations/"+org, tok, nil) // a token without admin scope

	logs := ts.Logs()
	if !strings.Contains(logs, "client authentication failed") {
		t.Fatalf("the failed authentication was not logged; logs:\n%s", logs)
	}
	for name, s := range map[string]string{"first secret": plain, "second secret": secondPlain, "access token": tok, "admin token": adminTok} {
		if strings.Contains(logs, s) {
			t.Errorf("the logs contain the %s", name)
		}
	}
}

// HEAD is answered wherever GET is, as health checkers expect.
func TestHeadIsServedWhereGetIs(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, path := range []string{"/healthz", "/readyz", "/.well-known/jwks.json", "/.well-known/openid-configuration"} {
		resp, err := http.Head(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("HEAD %s = %d, want 200", path, resp.StatusCode)
		}
	}
}
