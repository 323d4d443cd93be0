package oauth

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/keyward/keyward/internal/jsonhttp"
)

// The error constructors of RFC 6749 section 5.2 (and RFC 8707's
// invalid_target). Each returns a *jsonhttp.Error, so the one error writer
// answers with the OAuth error shape.

func invalidRequest(desc string) *jsonhttp.Error {
	return jsonhttp.NewError(http.StatusBadRequest, "invalid_request", desc)
}

// authFailed is the one description of every failed client authentication,
// so that an unknown client, a wrong secret and an inactive secret cannot be
// told apart.
const authFailed = "client authentication failed"

func invalidClient(desc string, triedBasic bool) *jsonhttp.Error {
	e := jsonhttp.NewError(http.StatusUnauthorized, "invalid_client", desc)
	if triedBasic {
		e = e.With("WWW-Authenticate", `Basic realm="keyward"`)
	}
	return e
}

func unsupportedGrantType(desc string) *jsonhttp.Error {
	return jsonhttp.NewError(http.StatusBadRequest, "unsupported_grant_type", desc)
}

func invalidScope(desc string) *jsonhttp.Error {
	return jsonhttp.NewError(http.StatusBadRequest, "invalid_scope", desc)
}

func invalidTarget(desc string) *jsonhttp.Error {
	return jsonhttp.NewError(http.StatusBadRequest, "invalid_target", desc)
}

// rateLimited answers a source or client that failed too often.
func rateLimited(wait time.Duration) *jsonhttp.Error {
	secs := int(math.Ceil(wait.Seconds()))
	return jsonhttp.NewError(http.StatusTooManyRequests, "rate_limited",
		"too many failed client authentications; retry after "+strconv.Itoa(secs)+" seconds").
		With("Retry-After", strconv.Itoa(max(secs, 1)))
}

func unauthorizedClient(desc string) *jsonhttp.Error {
	return jsonhttp.NewError(http.StatusBadRequest, "unauthorized_client", desc)
}

// invalidGrant refuses the jwt-bearer grant's assertion (RFC 7523 section
// 3.1); it is a failed client authentication as much as invalid_client is.
func invalidGrant(desc string) *jsonhttp.Error {
	return jsonhttp.NewError(http.StatusBadRequest, "invalid_grant", desc)
}

// apiKeyClient refuses an api_key client at the /oauth endpoints: its API
// keys go to resource servers, which introspect them, and it has no
// credential these endpoints accept.
func apiKeyClient() *jsonhttp.Error {
	return unauthorizedClient("this client authenticates with API keys, which this endpoint does not accept; its API keys are checked by introspection")
}
