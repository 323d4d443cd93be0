package oauth

import (
	"encoding/base64"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyward/keyward/internal/jsonhttp"
	"github.com/keyward/keyward/internal/scope"
)

// tokenRequest is a parsed, shape-checked request to the token endpoint.
type tokenRequest struct {
	grantType    string
	clientID     string
	clientSecret string
	authMethod   string // "client_secret_basic" or "client_secret_post"
	scopes       []string
	scopeGiven   bool
	audience     []string
}

// repeatable names the parameters that RFC 8707 lets a request repeat; RFC
// 6749 section 3.2 forbids repeating any other.
var repeatable = map[string]bool{"audience": true, "resource": true}

// maxFormFields bounds how many parameters a token request may carry.
const maxFormFields = 64

// parseTokenRequest reads the form body of r and checks its shape: content
// type, repeated parameters, one client authentication method. It does not
// authenticate the client.
func parseTokenRequest(r *http.Request) (tokenRequest, error) {
	var req tokenRequest
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return req, invalidRequest("the request must have Content-Type application/x-www-form-urlencoded")
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		if jsonhttp.IsTooLarge(err) {
			return req, jsonhttp.TooLarge()
		}
		return req, invalidRequest("the request body could not be read")
	}
	if n := strings.Count(string(raw), "&") + 1; n > maxFormFields {
		return req, invalidRequest("the request has too many parameters")
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		return req, invalidRequest("the request body is not valid form encoding")
	}
	for name, values := range form {
		if len(values) > 1 && !repeatable[name] {
			return req, invalidRequest("the parameter " + name + " is repeated")
		}
	}

	basicID, basicSecret, hasBasic, err := basicAuth(r)
	if err != nil {
		return req, err
	}
	postID, postSecret := form.Get("client_id"), form.Get("client_secret")
	_, hasPostSecret := form["client_secret"]
	switch {
	case hasBasic && hasPostSecret:
		return req, invalidRequest("the request uses more than one client authentication method; use either HTTP Basic or client_secret in the body")
	case hasBasic:
		if postID != "" && postID != basicID {
			return req, invalidRequest("client_id in the body differs from the one in the Authorization header")
		}
		req.clientID, req.clientSecret, req.authMethod = basicID, basicSecret, "client_secret_basic"
	case hasPostSecret:
		req.clientID, req.clientSecret, req.authMethod = postID, postSecret, "client_secret_post"
	case r.Header.Get("Authorization") != "":
		return req, invalidClient("the Authorization header is not HTTP Basic client authentication", false)
	default:
		return req, invalidClient("the request has no client authentication; use HTTP Basic or client_id and client_secret in the body", false)
	}

	req.grantType = form.Get("grant_type")
	if req.grantType == "" {
		return req, invalidRequest("grant_type is required")
	}
	if sc, ok := form["scope"]; ok {
		req.scopeGiven = true
		req.scopes = strings.Fields(sc[0])
		for _, s := range req.scopes {
			if !scope.ValidToken(s) {
				return req, invalidScope("the scope " + quote(s) + " is not a valid scope token")
			}
		}
	}
	req.audience = append(form["audience"], form["resource"]...)
	return req, nil
}

// basicAuth parses RFC 6749 section 2.3.1 HTTP Basic client credentials:
// base64 of form-urlencoded id and secret joined by a colon.
func basicAuth(r *http.Request) (id, secret string, ok bool, err error) {
	h := r.Header.Get("Authorization")
	const scheme = "basic"
	// "Basic" alone (HTTP trims the trailing blanks of "Basic ") is still an
	// attempt at Basic, answered with its challenge.
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) ||
		(len(h) > len(scheme) && h[len(scheme)] != ' ') {
		return "", "", false, nil
	}
	dec, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(h[len(scheme):]))
	if derr != nil {
		return "", "", true, invalidClient("the Basic credentials are not valid base64", true)
	}
	rawID, rawSecret, found := strings.Cut(string(dec), ":")
	if !found {
		return "", "", true, invalidClient("the Basic credentials lack the colon between client id and secret", true)
	}
	if id, err = url.QueryUnescape(rawID); err != nil {
		id = rawID
	}
	if secret, err = url.QueryUnescape(rawSecret); err != nil {
		secret = rawSecret
	}
	return id, secret, true, nil
}

// quote shows a caller's value in a description, shortened so that a huge
// value does not make a huge error.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strings.ToValidUTF8(`"`+s+`"`, "?")
}
