package httpserver

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/jsonhttp"
	"github.com/keyward/keyward/internal/keys"
)

func handleHealthz() http.HandlerFunc {
	body := []byte(`{"status":"ok"}`)
	return func(w http.ResponseWriter, r *http.Request) {
		jsonhttp.WriteBytes(w, http.StatusOK, body)
	}
}

// handleReadyz answers 200 only when the database answers and a signing key
// is loaded.
func handleReadyz(d Deps) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if !d.Keys.Ready() {
			jsonhttp.Write(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "no signing key is loaded"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := d.Ping(ctx); err != nil {
			jsonhttp.Write(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "the database does not answer"})
			return
		}
		jsonhttp.Write(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

// handleJWKS serves the published keys from pre-encoded bytes, with an ETag
// and a max-age no longer than the pre-publication lead.
func handleJWKS(m *keys.Manager) http.HandlerFunc {
	cacheControl := "public, max-age=" + strconv.Itoa(int(m.MaxAge().Seconds()))
	return func(w http.ResponseWriter, r *http.Request) {
		body, etag := m.JWKS()
		h := w.Header()
		h.Set("Cache-Control", cacheControl)
		h.Set("ETag", etag)
		if etagMatches(r.Header.Get("If-None-Match"), etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", "application/jwk-set+json")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}
}

// etagMatches implements If-None-Match's weak comparison (RFC 9110 13.1.2).
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// handleMetadata serves the RFC 8414 metadata, the same document at both
// well-known paths, encoded once.
func handleMetadata(issuer string) http.HandlerFunc {
	body, err := json.Marshal(map[string]any{
		"issuer":                                issuer,
		"token_endpoint":                        issuer + "/oauth/token",
		"jwks_uri":                              issuer + "/.well-known/jwks.json",
		"grant_types_supported":                 []string{"client_credentials"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		// RFC 8414 requires the member; keyward has no authorization
		// endpoint, so it supports no response type.
		"response_types_supported": []string{},
	})
	if err != nil {
		panic(err) // a literal of strings cannot fail to encode
	}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		jsonhttp.WriteBytes(w, http.StatusOK, body)
	}
}
