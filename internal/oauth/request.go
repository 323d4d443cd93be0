package oauth

import (
	"encoding/base64"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/keyward/keyward/internal/jsonhttp"
	"github.com/keyward/keyward/internal/scope"
)

// The grant types, client assertion type and client authentication
// methods keyward knows.
const (
	grantClientCredentials = "client_credentials"
	// grantJWTBearer is RFC 7523 section 2.1: the assertion is the grant
	// and authenticates the client.
	grantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// assertionTypeJWTBearer is RFC 7523 section 2.2: a JWT authenticates
	// the client (private_key_jwt or client_secret_jwt).
	assertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

	methodBasic     = "client_secret_basic"
	methodPost      = "client_secret_post"
	methodAssertion = "client_assertion" // private_key_jwt or client_secret_jwt, told by the assertion's alg
	methodGrant     = "jwt_bearer_grant" // the jwt-bearer grant's assertion
)

// clientAuth is how a request authenticates its client, as sent.
type clientAuth struct {
	method    string
	clientID  string // as named by the request; for assertions the body's client_id, which may be empty
	secret    string
	assertion string
}

func (a clientAuth) basic() bool { return a.method == methodBasic }

// tokenRequest is a parsed, shape-checked request to the token endpoint.
type tokenRequest struct {
	grantType  string
	auth       clientAuth
	scopes     []string
	scopeGiven bool
	audience   []string
	// contextID is the context_identifier parameter, when contextGiven.
	contextID    string
	contextGiven bool
}

// repeatable names the parameters that RFC 8707 lets a request repeat; RFC
// 6749 section 3.2 forbids repeating any other.
var repeatable = map[string]bool{"audience": true, "resource": true}

// maxFormFields bounds how many parameters a token request may carry.
const maxFormFields = 64

// maxContextIdentifier bounds context_identifier, in characters.
const maxContextIdentifier = 256

// readForm reads the form body of a request to one of the /oauth
// endpoints and checks its shape: content type, size, repeated parameters.
func readForm(r *http.Request) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, invalidRequest("the request must have Content-Type application/x-www-form-urlencoded")
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		if jsonhttp.IsTooLarge(err) {
			return nil, jsonhttp.TooLarge()
		}
		return nil, invalidRequest("the request body could not be read")
	}
	if n := strings.Count(string(raw), "&") + 1; n > maxFormFields {
		return nil, invalidRequest("the request has too many parameters")
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		return nil, invalidRequest("the request body is not valid form encoding")
	}
	for name, values := range form {
		if len(values) > 1 && !repeatable[name] {
			return nil, invalidRequest("the parameter " + name + " is repeated")
		}
	}
	return form, nil
}

// parseClientAuth finds the one client authentication method of a request:
// HTTP Basic, client_secret in the body, or a client assertion (RFC 7523
// section 2.2). It authenticates nothing. The clientAuth it returns names
// the client even with an error, for the log.
func parseClientAuth(r *http.Request, form url.Values) (clientAuth, error) {
	var auth clientAuth
	basicID, basicSecret, hasBasic, err := basicAuth(r)
	if err != nil {
		return auth, err
	}
	postID, postSecret := form.Get("client_id"), form.Get("client_secret")
	_, hasPostSecret := form["client_secret"]
	_, hasAssertion := form["client_assertion"]
	_, hasAssertionType := form["client_assertion_type"]
	hasAssertion = hasAssertion || hasAssertionType
	methods := 0
	for _, used := range []bool{hasBasic, hasPostSecret, hasAssertion} {
		if used {
			methods++
		}
	}
	switch {
	case methods > 1:
		return auth, invalidRequest("the request uses more than one client authentication method; use one of HTTP Basic, client_secret in the body or client_assertion")
	case hasBasic:
		if postID != "" && postID != basicID {
			return clientAuth{clientID: basicID}, invalidRequest("client_id in the body differs from the one in the Authorization header")
		}
		return clientAuth{method: methodBasic, clientID: basicID, secret: basicSecret}, nil
	case hasPostSecret:
		return clientAuth{method: methodPost, clientID: postID, secret: postSecret}, nil
	case hasAssertion:
		auth = clientAuth{method: methodAssertion, clientID: postID, assertion: form.Get("client_assertion")}
		switch t := form.Get("client_assertion_type"); {
		case t == "":
			return auth, invalidRequest("client_assertion_type is required with client_assertion; use " + assertionTypeJWTBearer)
		case t != assertionTypeJWTBearer:
			return auth, invalidClient("the client_assertion_type "+quote(t)+" is not supported; use "+assertionTypeJWTBearer, false)
		case auth.assertion == "":
			return auth, invalidRequest("client_assertion is required with client_assertion_type")
		}
		return auth, nil
	case r.Header.Get("Authorization") != "":
		return auth, invalidClient("the Authorization header is not HTTP Basic client authentication", false)
	}
	return auth, invalidClient("the request has no client authentication; use HTTP Basic, client_id and client_secret in the body, or client_assertion", false)
}

// parseTokenRequest reads the form body of r and checks its shape: content
// type, repeated parameters, one client authentication method (or, for the
// jwt-bearer grant, its assertion alone). It does not authenticate the
// client.
func parseTokenRequest(r *http.Request) (tokenRequest, error) {
	var req tokenRequest
	form, err := readForm(r)
	if err != nil {
		return req, err
	}
	req.grantType = form.Get("grant_type")
	if req.grantType == grantJWTBearer {
		// RFC 7523 section 2.1: the assertion names and authenticates the
		// client. Anything else that authenticates would be a second
		// method, which RFC 6749 section 2.3 forbids.
		req.auth = clientAuth{method: methodGrant, clientID: form.Get("client_id"), assertion: form.Get("assertion")}
		_, hasSecret := form["client_secret"]
		_, hasAssertion := form["client_assertion"]
		if r.Header.Get("Authorization") != "" || hasSecret || hasAssertion {
			return req, invalidRequest("with the jwt-bearer grant the assertion authenticates the client; send no other client authentication")
		}
		if req.auth.assertion == "" {
			return req, invalidRequest("assertion is required with the grant_type " + grantJWTBearer)
		}
	} else {
		if req.auth, err = parseClientAuth(r, form); err != nil {
			return req, err
		}
		if req.grantType == "" {
			return req, invalidRequest("grant_type is required")
		}
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
	if v, ok := form["context_identifier"]; ok {
		req.contextID, req.contextGiven = v[0], true
		if err := checkContextIdentifier(req.contextID); err != nil {
			return req, err
		}
	}
	return req, nil
}

// checkContextIdentifier accepts 1 to 256 characters of UTF-8 text without
// control characters: the value becomes a claim resource servers read.
func checkContextIdentifier(s string) error {
	if !utf8.ValidString(s) {
		return invalidRequest("context_identifier is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n < 1 || n > maxContextIdentifier {
		return invalidRequest("context_identifier must be 1 to 256 characters")
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return invalidRequest("context_identifier must not contain control characters")
		}
	}
	return nil
}

// tokenQuery is a parsed request to the introspection or revocation
// endpoint: the caller's authentication and the token it asks about.
type tokenQuery struct {
	auth  clientAuth
	token string
	// tokenErr refuses a missing token, once the caller has authenticated.
	tokenErr error
}

// parseTokenQuery reads an RFC 7662 or RFC 7009 request: a form with
// token (and an optional token_type_hint, which keyward does not need: it
// tells API keys from JWTs by their prefix) and client authentication as at
// the token endpoint.
func parseTokenQuery(r *http.Request) (tokenQuery, error) {
	var q tokenQuery
	form, err := readForm(r)
	if err != nil {
		return q, err
	}
	if q.auth, err = parseClientAuth(r, form); err != nil {
		return q, err
	}
	q.token = form.Get("token")
	if q.token == "" {
		q.tokenErr = invalidRequest("token is required")
	}
	return q, nil
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
