package audit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"
)

func TestDescribeNamesActionsFromRoutes(t *testing.T) {
	tests := []struct {
		method, pattern, path, action, target string
	}{
		{"POST", "/api/v1/organizations", "/api/v1/organizations", "organization.create", ""},
		{"PATCH", "/api/v1/organizations/{org_id}", "/api/v1/organizations/org_a", "organization.update", "org_a"},
		{"DELETE", "/api/v1/organizations/{org_id}", "/api/v1/organizations/org_a", "organization.delete", "org_a"},
		{"POST", "/api/v1/organizations/{org_id}/clients", "/api/v1/organizations/org_a/clients", "client.create", ""},
		{"PATCH", "/api/v1/organizations/{org_id}/clients/{client_id}/secrets/{secret_id}",
			"/api/v1/organizations/org_a/clients/m2m_b/secrets/sks_c", "secret.update", "sks_c"},
		{"POST", "/api/v1/organizations/{org_id}/clients/{client_id}/api_keys",
			"/api/v1/organizations/org_a/clients/m2m_b/api_keys", "api_key.create", ""},
		{"POST", "/api/v1/keys/rotate", "/api/v1/keys/rotate", "key.rotate", ""},
		{"POST", "/api/v1/keys/{kid}/revoke", "/api/v1/keys/k1/revoke", "key.revoke", "k1"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.pattern, func(t *testing.T) {
			var action, target string
			r := chi.NewRouter()
			r.Method(tt.method, tt.pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				action, target = describe(r)
			}))
			r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tt.method, tt.path, nil).WithContext(context.Background()))
			if action != tt.action || target != tt.target {
				t.Fatalf("describe = %q %q, want %q %q", action, target, tt.action, tt.target)
			}
		})
	}
}

func TestCreatedIDAndResult(t *testing.T) {
	if id := createdID([]byte(`{"client":{"client_id":"m2m_x","name":"n"},"plain_secret":"kw_sk_..."}`)); id != "m2m_x" {
		t.Errorf("createdID = %q", id)
	}
	if id := createdID([]byte(`{"secret":{"id":"sks_y"},"plain_secret":"kw_sk_..."}`)); id != "sks_y" {
		t.Errorf("createdID = %q", id)
	}
	if id := createdID([]byte(`{"key":{"id":"key_z"},"credentials":{"client_id":"m2m_x","key_id":"key_z"}}`)); id != "key_z" {
		t.Errorf("createdID = %q, want the key's id over the credentials' client id", id)
	}
	if r := result(409, []byte(`{"error":"conflict","error_description":"x"}`)); r != "failure: 409 conflict" {
		t.Errorf("result = %q", r)
	}
	if r := result(201, nil); r != "success" {
		t.Errorf("result = %q", r)
	}
}
