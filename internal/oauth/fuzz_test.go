package oauth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/jsonhttp"
)

// FuzzParseTokenRequest feeds the token request parser arbitrary bodies,
// Authorization headers and content types: it must never panic, must
// answer every refusal with a 4xx OAuth error, and what it accepts must
// carry a grant type and exactly one client authentication method.
func FuzzParseTokenRequest(f *testing.F) {
	f.Add("grant_type=client_credentials&scope=a+b", "Basic bTJtX2E6c2VjcmV0", "application/x-www-form-urlencoded")
	f.Add("grant_type=client_credentials&client_id=m2m_a&client_secret=s&audience=x&resource=y", "", "application/x-www-form-urlencoded; charset=utf-8")
	f.Add("grant_type=client_credentials&grant_type=password", "Basic Og==", "application/x-www-form-urlencoded")
	f.Add("%zz=1&a=%", "Basic !!!", "application/x-www-form-urlencoded")
	f.Add(`{"grant_type":"client_credentials"}`, "Bearer x.y.z", "application/json")
	f.Add("scope=%22quoted%22&grant_type=client_credentials&client_secret=", "basic   ", "application/x-www-form-urlencoded")
	f.Fuzz(func(t *testing.T, body, auth, contentType string) {
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, jsonhttp.MaxBodyBytes)
		req, err := parseTokenRequest(r)
		if err != nil {
			var e *jsonhttp.Error
			if !errors.As(err, &e) || e.Status < 400 || e.Status > 499 || e.Code == "" || e.Description == "" {
				t.Fatalf("refusal %v is not a 4xx OAuth error", err)
			}
			return
		}
		if req.grantType == "" {
			t.Fatal("accepted a request without grant_type")
		}
		if req.authMethod != "client_secret_basic" && req.authMethod != "client_secret_post" {
			t.Fatalf("accepted a request with auth method %q", req.authMethod)
		}
	})
}
