// Package resourceserver is an API's side of keyward: net/http middleware
// that lets a request through only with a valid keyward access token,
// checked offline against keyward's published keys (no call per request).
package resourceserver

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// Verifier checks access tokens for one API: the audience its clients are
// given in keyward.
type Verifier struct {
	jwks     keyfunc.Keyfunc
	issuer   string // keyward's KEYWARD_ISSUER, e.g. "http://localhost:8080"
	audience string // this API, e.g. "deployment-api.example.com"
}

// New fetches keyward's JWKS and keeps it fresh until ctx ends: it refetches
// the set as often as keyward's Cache-Control max-age allows (keyward's
// default is 15 minutes; keyfunc's own default is an hour), and, at most
// every 5 minutes, when a token names a kid it has not seen.
func New(ctx context.Context, issuer, audience string, maxAge time.Duration) (*Verifier, error) {
	jwks, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{issuer + "/.well-known/jwks.json"},
		keyfunc.Override{RefreshInterval: maxAge})
	if err != nil {
		return nil, err
	}
	return &Verifier{jwks: jwks, issuer: issuer, audience: audience}, nil
}

// Verify checks signature, alg, typ, iss, aud, exp and nbf, and returns the
// claims: "scope", "org_id", "client_id" and any custom claims.
func (v *Verifier) Verify(raw string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(raw, claims, v.jwks.Keyfunc,
		jwt.WithValidMethods([]string{"RS256"}), // plus ES256 or EdDSA if keyward signs with them
		jwt.WithIssuer(v.issuer),
		jwt.WithAudience(v.audience),
		jwt.WithExpirationRequired())
	if err != nil {
		return nil, err
	}
	if typ, _ := tok.Header["typ"].(string); !strings.EqualFold(typ, "at+jwt") {
		return nil, errors.New("not an access token")
	}
	return claims, nil
}

type claimsKey struct{}

// Require lets a request through only with a valid access token that grants
// scope: 401 without one (RFC 6750), 403 without the scope. The handler
// finds the claims with Claims.
func (v *Verifier) Require(scope string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		claims, err := v.Verify(raw)
		if !ok || err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "invalid access token", http.StatusUnauthorized)
			return
		}
		granted, _ := claims["scope"].(string)
		if !slices.Contains(strings.Fields(granted), scope) {
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+scope+`"`)
			http.Error(w, "insufficient scope", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
	})
}

// Claims returns the verified claims of a request Require let through.
func Claims(r *http.Request) jwt.MapClaims {
	c, _ := r.Context().Value(claimsKey{}).(jwt.MapClaims)
	return c
}
