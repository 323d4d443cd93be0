package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/pgtest"
)

// apiCall sends an admin API request with a JSON body and decodes the
// JSON answer, failing the test unless the status is want.
func apiCall(t *testing.T, method, url, token string, body any, want int) map[string]any {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != want {
		t.Fatalf("%s %s = %s (%v), want %d: %v", method, url, resp.Status, err, want, out)
	}
	return out
}

// The service-account flow of the README: an admin makes a private_key_jwt
// client and downloads a credentials.json; `keyward token --credentials`
// signs an RFC 7523 assertion with it and prints a token that verifies.
func TestTokenWithCredentialsFile(t *testing.T) {
	t.Parallel()
	const adminID, adminSecret = "ci-admin", "kw_sk_credentials-test-admin-secret"
	e := env{"KEYWARD_DATABASE_URL": pgtest.NewDatabase(t), "KEYWARD_KEY_ENCRYPTION_KEY": newKEK(),
		"KEYWARD_BOOTSTRAP_CLIENT_ID": adminID, "KEYWARD_BOOTSTRAP_CLIENT_SECRET": adminSecret}
	srv := startServe(t, e)
	out, err := tokenCommand(t, srv.URL, adminID, adminSecret)
	if err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimSpace(out)
	org := apiCall(t, "POST", srv.URL+"/api/v1/organizations", admin, map[string]any{"display_name": "Acme"}, 201)["organization"].(map[string]any)["id"].(string)
	created := apiCall(t, "POST", srv.URL+"/api/v1/organizations/"+org+"/clients", admin, map[string]any{
		"name": "billing", "auth_method": "private_key_jwt", "scopes": []string{"read", "write"}, "inject_context_identifier": true,
	}, 201)
	if created["plain_secret"] != nil {
		t.Errorf("a private_key_jwt client got a plain_secret: %v", created["plain_secret"])
	}
	clientID := created["client"].(map[string]any)["client_id"].(string)
	key := apiCall(t, "POST", srv.URL+"/api/v1/organizations/"+org+"/clients/"+clientID+"/keys", admin, map[string]any{}, 201)
	creds, err := json.MarshalIndent(key["credentials"], "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "credentials.json")
	if err := os.WriteFile(path, creds, 0o600); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) (string, string, error) {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"token"}, args...), env{}.get, &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}
	t.Run("it prints a token of the client with the scope and context asked", func(t *testing.T) {
		out, stderr, err := run("--credentials", path, "--scope", "read", "--context-identifier", "job-7")
		if err != nil {
			t.Fatalf("token --credentials = %v\n%s", err, stderr)
		}
		_, claims := verifyToken(t, strings.TrimSpace(out), fetchJWKS(t, srv.URL), srv.URL)
		if claims["sub"] != clientID || claims["scope"] != "read" || claims["org_id"] != org || claims["ctx"] != "job-7" {
			t.Errorf("claims %v", claims)
		}
	})
	t.Run("each run signs a fresh assertion", func(t *testing.T) {
		for range 2 {
			if _, stderr, err := run("--credentials", path); err != nil {
				t.Fatalf("token --credentials = %v\n%s", err, stderr)
			}
		}
	})
	t.Run("a deleted key gets no token and exits 1", func(t *testing.T) {
		keyID := key["key"].(map[string]any)["id"].(string)
		req, _ := http.NewRequest("DELETE", srv.URL+"/api/v1/organizations/"+org+"/clients/"+clientID+"/keys/"+keyID, nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := httpClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("delete key: %v %v", resp, err)
		}
		resp.Body.Close()
		_, _, err = run("--credentials", path)
		if exitCode(err) != 1 || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("token = %v, want invalid_grant and exit 1", err)
		}
	})
	for _, tt := range []struct {
		name, content, want string
	}{
		{"a file that is not JSON", "not json", "is not a credentials.json"},
		{"a file without a private key", `{"client_id":"m2m_a","key_id":"key_a","token_uri":"http://127.0.0.1:1/oauth/token"}`, "has no private_key"},
		{"a public key instead of a private one", `{"client_id":"m2m_a","key_id":"key_a","token_uri":"http://127.0.0.1:1/oauth/token",` +
			`"private_key":"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEM+v7AyvPcSDb/AuvNJD2JuBV9g39\nHaj+epEssPgJDmIUwVU1+7Z3EgxaQd6WRkbL3CC4lwz/KxhXxb1WI5QULQ==\n-----END PUBLIC KEY-----\n"}`,
			"no private key"},
	} {
		t.Run(tt.name+" exits 2", func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "credentials.json")
			if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := run("--credentials", p)
			if exitCode(err) != 2 || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("token = %v (exit %d), want exit 2 saying %q", err, exitCode(err), tt.want)
			}
		})
	}
	t.Run("a missing file exits 2", func(t *testing.T) {
		_, _, err := run("--credentials", filepath.Join(t.TempDir(), "nope.json"))
		if exitCode(err) != 2 {
			t.Errorf("token = %v, want exit 2", err)
		}
	})
}
