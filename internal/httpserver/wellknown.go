package httpserver

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/jsonhttp"
	"github.com/keyward/keyward/internal/keys"
	"github.com/keyward/keyward/internal/oauth"
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
// well-known paths. The document names the algorithms of the published
// keys, so it is encoded again whenever the JWKS changes (which the JWKS's
// entity tag tells) and otherwise served from the same bytes; it may be
// cached as long as the JWKS, since a new algorithm appears in both as long
// before it signs.
func handleMetadata(issuer string, m *keys.Manager) http.HandlerFunc {
	type document struct {
		jwksETag string
		body     []byte
	}
	var current atomic.Pointer[document]
	// Every /oauth endpoint authenticates its caller the same ways.
	authMethods := []string{"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"}
	encode := func() []byte {
		algs, jwksETag := m.Algorithms()
		if d := current.Load(); d != nil && d.jwksETag == jwksETag {
			return d.body
		}
		body, err := json.Marshal(map[string]any{
			"issuer":                                issuer,
			"token_endpoint":                        issuer + "/oauth/token",
			"jwks_uri":                              issuer + "/.well-known/jwks.json",
			"grant_types_supported":                 []string{"client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer"},
			"token_endpoint_auth_methods_supported": authMethods,
			"token_endpoint_auth_signing_alg_values_supported":         oauth.AssertionAlgorithms,
			"introspection_endpoint":                                   issuer + "/oauth/introspect",
			"introspection_endpoint_auth_methods_supported":            authMethods,
			"introspection_endpoint_auth_signing_alg_values_supported": oauth.AssertionAlgorithms,
			"revocation_endpoint":                                      issuer + "/oauth/revoke",
			"revocation_endpoint_auth_methods_supported":               authMethods,
			"revocation_endpoint_auth_signing_alg_values_supported":    oauth.AssertionAlgorithms,
			// RFC 8414 requires the member; keyward has no authorization
			// endpoint, so it supports no response type.
			"response_types_supported": []string{},
			// Not a registered name: what access tokens may be signed
			// with, so resource servers can configure their allow-list.
			"access_token_signing_alg_values_supported": algs,
		})
		if err != nil {
			panic(err) // strings and slices of strings cannot fail to encode
		}
		current.Store(&document{jwksETag: jwksETag, body: body})
		return body
	}
	cacheControl := "public, max-age=" + strconv.Itoa(int(m.MaxAge().Seconds()))
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", cacheControl)
		jsonhttp.WriteBytes(w, http.StatusOK, encode())
	}
}
