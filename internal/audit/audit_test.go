package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/keyward/keyward/internal/jsonhttp"
	"github.com/keyward/keyward/internal/store"
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

// failingAppender refuses every row with err.
type failingAppender struct{ err error }

func (f failingAppender) AppendAudit(context.Context, []store.AuditEvent) error { return f.err }

// A request whose row no change wrote gets it after the handler; when that
// fails, a success is not answered as one (no route changes anything
// outside the store, so this guards against one that would), while a
// failure keeps its answer.
func TestMiddlewareDoesNotAnswerSuccessWithoutItsRow(t *testing.T) {
	unavailable := fmt.Errorf("append audit events: %w", store.ErrUnavailable)
	tests := []struct {
		name       string
		handler    int
		err        error
		wantStatus int
		wantBody   string
	}{
		{"a success whose row the database refuses is a 500", http.StatusCreated, errors.New("check constraint"),
			http.StatusInternalServerError, `{"error":"internal_error","error_description":"internal error"}`},
		{"a success whose row cannot reach the database is a 503", http.StatusOK, unavailable,
			http.StatusServiceUnavailable, `{"error":"temporarily_unavailable","error_description":"the service is temporarily unavailable; retry shortly"}`},
		{"a failure keeps its answer", http.StatusNotFound, unavailable,
			http.StatusNotFound, `{"error":"not_found","error_description":"x"}`},
		{"a success whose row is written is answered", http.StatusCreated, nil,
			http.StatusCreated, `{"thing":{"id":"t1"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			who := Who{Actor: func(*http.Request) string { return "m2m_a" }, Source: func(*http.Request) string { return "192.0.2.1" },
				Organization: func(_ *http.Request, org string) string { return org }}
			r := chi.NewRouter()
			r.Use(Middleware(log, failingAppender{tt.err}, who, time.Now))
			r.Post("/api/v1/things", func(w http.ResponseWriter, r *http.Request) {
				if tt.handler >= 400 {
					jsonhttp.WriteError(w, r, log, jsonhttp.NewError(tt.handler, "not_found", "x"))
					return
				}
				jsonhttp.Write(w, tt.handler, map[string]any{"thing": map[string]string{"id": "t1"}})
			})
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest("POST", "/api/v1/things", nil))
			if w.Code != tt.wantStatus || strings.TrimSpace(w.Body.String()) != tt.wantBody {
				t.Errorf("answer %d %s, want %d %s", w.Code, w.Body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}
