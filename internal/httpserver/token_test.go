package httpserver_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

const (
	tokAudDeploy = "deployment-api.acmecorp.com"
	tokAudLogs   = "https://logs.acmecorp.com"
	tokAudBill   = "urn:acmecorp:billing"
)

// tokFixture is a server with an organization and clients of every shape
// the happy paths need.
type tokFixture struct {
	ts    *testServer
	admin string // an environment admin's access token
	org   string
	full  tokClient // three scopes, three audiences, two custom claims, expiry 1800
	bare  tokClient // one scope, no audience, default expiry
	one   tokClient // one audience
}

const tokAllScopes = "deploy:applications read:logs write:logs"

func newTokFixture(t *testing.T) tokFixture {
	t.Helper()
	ts := newTestServer(t)
	adm := ts.adminToken(t)
	org := ts.createOrg(t, adm, "Acme Corp")
	return tokFixture{
		ts: ts, admin: adm, org: org,
		full: ts.tokNewClient(t, adm, org, map[string]any{
			"scopes":   strings.Fields(tokAllScopes),
			"audience": []string{tokAudDeploy, tokAudLogs, tokAudBill},
			"custom_claims": []map[string]string{
				{"key": "environment", "value": "production_us"},
				{"key": "tier", "value": "gold"},
			},
			"expiry": 1800,
		}),
		bare: ts.tokNewClient(t, adm, org, map[string]any{"scopes": []string{"read:logs"}}),
		one:  ts.tokNewClient(t, adm, org, map[string]any{"scopes": []string{"read:logs"}, "audience": []string{tokAudLogs}}),
	}
}

// tokWantClaims checks every claim of a verified access token for client c.
func (f tokFixture) tokWantClaims(t *testing.T, c tokClient, claims jwt.MapClaims, wantScope string, wantAud any, expiry int) {
	t.Helper()
	now := f.ts.Clock.Now().Unix()
	want := map[string]any{
		"iss": f.ts.URL, "sub": c.ID, "client_id": c.ID, "org_id": f.org, "aud": wantAud,
		"iat": float64(now), "nbf": float64(now), "exp": float64(now + int64(expiry)),
		"scope": wantScope,
	}
	if c.ID == f.full.ID {
		want["environment"], want["tier"] = "production_us", "gold"
	}
	jti, _ := claims["jti"].(string)
	if jti == "" {
		t.Errorf("jti = %v, want a non-empty string", claims["jti"])
	}
	got := maps.Clone(claims)
	delete(got, "jti")
	if !reflect.DeepEqual(map[string]any(got), want) {
		t.Errorf("claims:\n got  %v\n want %v (and a jti)", got, want)
	}
}

func TestTokenIssuesVerifiableAccessTokens(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t)
	all := []any{tokAudDeploy, tokAudLogs, tokAudBill}
	tests := []struct {
		name      string
		client    tokClient
		post      bool // client_secret_post instead of client_secret_basic
		params    url.Values
		wantScope string
		wantAud   any // a string, or []any for several
		expiry    int
	}{
		{
			name:   "client_secret_basic without scope or audience grants all of the client's scopes and audience",
			client: f.full, params: tokForm(), wantScope: tokAllScopes, wantAud: all, expiry: 1800,
		},
		{
			name:   "client_secret_post without scope or audience grants all of the client's scopes and audience",
			client: f.full, post: true, params: tokForm(), wantScope: tokAllScopes, wantAud: all, expiry: 1800,
		},
		{
			name:   "a scope subset is granted in the order asked",
			client: f.full, params: tokForm("scope", "write:logs deploy:applications"),
			wantScope: "write:logs deploy:applications", wantAud: all, expiry: 1800,
		},
		{
			name:   "a scope asked twice is granted once",
			client: f.full, params: tokForm("scope", "read:logs read:logs"),
			wantScope: "read:logs", wantAud: all, expiry: 1800,
		},
		{
			name:   "an empty scope parameter grants all of the client's scopes",
			client: f.full, post: true, params: tokForm("scope", ""),
			wantScope: tokAllScopes, wantAud: all, expiry: 1800,
		},
		{
			name:   "one audience asked gives aud as a string",
			client: f.full, params: tokForm("audience", tokAudLogs),
			wantScope: tokAllScopes, wantAud: tokAudLogs, expiry: 1800,
		},
		{
			name:   "a repeated audience parameter gives aud as an array of those asked",
			client: f.full, params: tokForm("audience", tokAudBill, "audience", tokAudDeploy),
			wantScope: tokAllScopes, wantAud: []any{tokAudBill, tokAudDeploy}, expiry: 1800,
		},
		{
			name:   "one RFC 8707 resource gives aud as a string",
			client: f.full, post: true, params: tokForm("resource", tokAudBill),
			wantScope: tokAllScopes, wantAud: tokAudBill, expiry: 1800,
		},
		{
			name:   "a repeated resource parameter gives aud as an array of those asked",
			client: f.full, params: tokForm("resource", tokAudLogs, "resource", tokAudDeploy),
			wantScope: tokAllScopes, wantAud: []any{tokAudLogs, tokAudDeploy}, expiry: 1800,
		},
		{
			name:   "audience and resource together are both granted",
			client: f.full, params: tokForm("audience", tokAudDeploy, "resource", tokAudBill, "scope", "read:logs"),
			wantScope: "read:logs", wantAud: []any{tokAudDeploy, tokAudBill}, expiry: 1800,
		},
		{
			name:   "a client with no audience gets aud equal to the issuer",
			client: f.bare, params: tokForm(), wantScope: "read:logs", wantAud: f.ts.URL, expiry: 3600,
		},
		{
			name:   "a client with one audience gets aud as a string",
			client: f.one, post: true, params: tokForm(), wantScope: "read:logs", wantAud: tokAudLogs, expiry: 3600,
		},
		{
			name:   "client_secret_basic with the same client_id repeated in the body is accepted",
			client: f.one, params: tokForm("client_id", f.one.ID), wantScope: "read:logs", wantAud: tokAudLogs, expiry: 3600,
		},
		{
			name:   "unknown parameters are ignored",
			client: f.bare, params: tokForm("foo", "bar", "state", "x"), wantScope: "read:logs", wantAud: f.ts.URL, expiry: 3600,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			form := tt.params
			form.Set("grant_type", "client_credentials")
			req := tokRequest{Form: form}
			if tt.post {
				form.Set("client_id", tt.client.ID)
				form.Set("client_secret", tt.client.Secret)
			} else {
				req.Authorization = tokBasic(tt.client.ID, tt.client.Secret)
			}
			res := f.ts.tokSend(t, req)
			tokWantSuccess(t, res)
			if res.ExpiresIn != tt.expiry {
				t.Errorf("expires_in = %d, want the client's expiry %d", res.ExpiresIn, tt.expiry)
			}
			if res.Scope != tt.wantScope {
				t.Errorf("scope = %q, want %q", res.Scope, tt.wantScope)
			}
			set := f.ts.tokFetchJWKS(t)
			header, claims := f.ts.tokVerifyWith(t, set, res.AccessToken)
			if !slices.Contains(set.kids(), header["kid"].(string)) {
				t.Errorf("kid %v is not in the JWKS", header["kid"])
			}
			if header["kid"] != f.ts.Keys.ActiveKID() {
				t.Errorf("kid %v, want the active key %s", header["kid"], f.ts.Keys.ActiveKID())
			}
			f.tokWantClaims(t, tt.client, claims, tt.wantScope, tt.wantAud, tt.expiry)
		})
	}
}

func TestTokenAcceptsFormContentTypeWithParameters(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t)
	for _, ct := range []string{tokFormType + "; charset=UTF-8", "Application/X-WWW-Form-URLEncoded"} {
		t.Run(fmt.Sprintf("Content-Type %q is form encoding", ct), func(t *testing.T) {
			t.Parallel()
			res := f.ts.tokSend(t, tokRequest{
				ContentType: ct, Authorization: tokBasic(f.bare.ID, f.bare.Secret),
				Form: tokForm("grant_type", "client_credentials"),
			})
			tokWantSuccess(t, res)
		})
	}
}

func TestTokenJTIIsUniquePerToken(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t)
	seen := map[string]bool{}
	for i := range 3 {
		_, claims := f.ts.tokVerify(t, f.ts.token(t, f.bare.ID, f.bare.Secret))
		jti := claims["jti"].(string)
		if seen[jti] {
			t.Fatalf("token %d repeats jti %q", i+1, jti)
		}
		seen[jti] = true
	}
}

// TestTokenThroughClientCredentialsLibrary gets tokens as a Go program
// would, with golang.org/x/oauth2/clientcredentials.
func TestTokenThroughClientCredentialsLibrary(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t)
	tests := []struct {
		name   string
		style  oauth2.AuthStyle
		scopes []string
		params url.Values
		scope  string
		aud    any
	}{
		{"credentials in the Authorization header get all scopes and audience", oauth2.AuthStyleInHeader,
			nil, nil, tokAllScopes, []any{tokAudDeploy, tokAudLogs, tokAudBill}},
		{"credentials in the body get all scopes and audience", oauth2.AuthStyleInParams,
			nil, nil, tokAllScopes, []any{tokAudDeploy, tokAudLogs, tokAudBill}},
		{"credentials in the Authorization header get the scopes and audience asked", oauth2.AuthStyleInHeader,
			[]string{"read:logs", "write:logs"}, url.Values{"audience": {tokAudLogs}}, "read:logs write:logs", tokAudLogs},
		{"credentials in the body get the scopes and audience asked", oauth2.AuthStyleInParams,
			[]string{"deploy:applications"}, url.Values{"audience": {tokAudDeploy, tokAudBill}}, "deploy:applications",
			[]any{tokAudDeploy, tokAudBill}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := clientcredentials.Config{
				ClientID: f.full.ID, ClientSecret: f.full.Secret, TokenURL: f.ts.URL + "/oauth/token",
				Scopes: tt.scopes, EndpointParams: tt.params, AuthStyle: tt.style,
			}
			tok, err := cfg.Token(context.Background())
			if err != nil {
				t.Fatalf("clientcredentials: %v", err)
			}
			if tok.TokenType != "Bearer" || tok.Type() != "Bearer" {
				t.Errorf("token type %q, want Bearer", tok.TokenType)
			}
			if got := tok.Extra("scope"); got != tt.scope {
				t.Errorf("scope = %v, want %q", got, tt.scope)
			}
			if left := time.Until(tok.Expiry); left < 29*time.Minute || left > 31*time.Minute {
				t.Errorf("the library thinks the token expires in %s, want about 30m", left)
			}
			_, claims := f.ts.tokVerify(t, tok.AccessToken)
			f.tokWantClaims(t, f.full, claims, tt.scope, tt.aud, 1800)
		})
	}

	t.Run("a wrong secret is reported by the library as invalid_client", func(t *testing.T) {
		t.Parallel()
		cfg := clientcredentials.Config{ClientID: f.full.ID, ClientSecret: "kw_sk_wrong", TokenURL: f.ts.URL + "/oauth/token",
			AuthStyle: oauth2.AuthStyleInHeader}
		_, err := cfg.Token(context.Background())
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_client" || re.Response.StatusCode != http.StatusUnauthorized {
			t.Fatalf("got %v, want a 401 invalid_client RetrieveError", err)
		}
	})
}

// TestTokenErrors sends every malformed or unauthorized request of contract
// section 4 and checks the RFC 6749 section 5.2 answer.
func TestTokenErrors(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t)
	c := f.full
	basic := tokBasic(c.ID, c.Secret)
	grant := func(pairs ...string) url.Values {
		return tokForm(append([]string{"grant_type", "client_credentials"}, pairs...)...)
	}
	tooMany := grant()
	for i := range 64 {
		tooMany.Set(fmt.Sprintf("p%02d", i), "x")
	}
	tests := []struct {
		name       string
		req        tokRequest
		wantStatus int
		wantCode   string
		challenge  bool // WWW-Authenticate: Basic realm="keyward" expected (else absent)
	}{
		// Client authentication.
		{"a wrong secret in Basic is invalid_client with a Basic challenge",
			tokRequest{Authorization: tokBasic(c.ID, "kw_sk_wrong"), Form: grant()}, 401, "invalid_client", true},
		{"a wrong secret in the body is invalid_client without a challenge",
			tokRequest{Form: grant("client_id", c.ID, "client_secret", "kw_sk_wrong")}, 401, "invalid_client", false},
		{"an unknown client in Basic is invalid_client",
			tokRequest{Authorization: tokBasic("m2m_nosuchclient", c.Secret), Form: grant()}, 401, "invalid_client", true},
		{"an unknown client in the body is invalid_client",
			tokRequest{Form: grant("client_id", "m2m_nosuchclient", "client_secret", c.Secret)}, 401, "invalid_client", false},
		{"an empty secret in Basic is invalid_client",
			tokRequest{Authorization: tokBasic(c.ID, ""), Form: grant()}, 401, "invalid_client", true},
		{"an empty client id in Basic is invalid_client",
			tokRequest{Authorization: tokBasic("", c.Secret), Form: grant()}, 401, "invalid_client", true},
		{"an over-long client id in Basic is invalid_client",
			tokRequest{Authorization: tokBasic(strings.Repeat("m", 5000), c.Secret), Form: grant()}, 401, "invalid_client", true},
		{"an over-long secret in the body is invalid_client",
			tokRequest{Form: grant("client_id", c.ID, "client_secret", strings.Repeat("s", 5000))}, 401, "invalid_client", false},
		{"no credentials at all is invalid_client",
			tokRequest{Form: grant()}, 401, "invalid_client", false},
		{"client_id in the body without client_secret is invalid_client",
			tokRequest{Form: grant("client_id", c.ID)}, 401, "invalid_client", false},
		{"client_secret in the body without client_id is invalid_client",
			tokRequest{Form: grant("client_secret", c.Secret)}, 401, "invalid_client", false},
		{"an Authorization header of another scheme is invalid_client",
			tokRequest{Authorization: "Bearer " + c.Secret, Form: grant()}, 401, "invalid_client", false},
		{"Basic credentials that are not base64 are invalid_client",
			tokRequest{Authorization: "Basic !!not base64!!", Form: grant()}, 401, "invalid_client", true},
		{"Basic credentials without a colon are invalid_client",
			tokRequest{Authorization: tokRawBasic(c.ID + c.Secret), Form: grant()}, 401, "invalid_client", true},
		{"the Basic scheme with nothing after it is invalid_client",
			tokRequest{Authorization: "Basic", Form: grant()}, 401, "invalid_client", true},
		{"the Basic scheme followed by blanks is invalid_client",
			tokRequest{Authorization: "Basic    ", Form: grant()}, 401, "invalid_client", true},
		{"Basic plus client_secret in the body is invalid_request",
			tokRequest{Authorization: basic, Form: grant("client_secret", c.Secret)}, 400, "invalid_request", false},
		{"Basic plus client_id and client_secret in the body is invalid_request",
			tokRequest{Authorization: basic, Form: grant("client_id", c.ID, "client_secret", c.Secret)}, 400, "invalid_request", false},
		{"a client_id in the body that differs from Basic is invalid_request",
			tokRequest{Authorization: basic, Form: grant("client_id", f.bare.ID)}, 400, "invalid_request", false},
		// grant_type.
		{"a missing grant_type is invalid_request",
			tokRequest{Authorization: basic, Form: tokForm("scope", "read:logs")}, 400, "invalid_request", false},
		{"an empty grant_type is invalid_request",
			tokRequest{Authorization: basic, Form: tokForm("grant_type", "")}, 400, "invalid_request", false},
		{"the password grant is unsupported_grant_type",
			tokRequest{Authorization: basic, Form: tokForm("grant_type", "password", "username", "u", "password", "p")}, 400, "unsupported_grant_type", false},
		{"the authorization_code grant is unsupported_grant_type",
			tokRequest{Authorization: basic, Form: tokForm("grant_type", "authorization_code", "code", "x")}, 400, "unsupported_grant_type", false},
		{"the refresh_token grant is unsupported_grant_type",
			tokRequest{Form: tokForm("grant_type", "refresh_token", "refresh_token", "x", "client_id", c.ID, "client_secret", c.Secret)}, 400, "unsupported_grant_type", false},
		{"grant_type in another case is unsupported_grant_type",
			tokRequest{Authorization: basic, Form: tokForm("grant_type", "Client_Credentials")}, 400, "unsupported_grant_type", false},
		// scope.
		{"an unregistered scope is invalid_scope",
			tokRequest{Authorization: basic, Form: grant("scope", "delete:everything")}, 400, "invalid_scope", false},
		{"a registered scope beside an unregistered one is invalid_scope",
			tokRequest{Authorization: basic, Form: grant("scope", "read:logs delete:everything")}, 400, "invalid_scope", false},
		{"keyward's admin scope on a client without it is invalid_scope",
			tokRequest{Form: grant("scope", "keyward:admin", "client_id", c.ID, "client_secret", c.Secret)}, 400, "invalid_scope", false},
		{"a scope that is not a scope-token is invalid_scope",
			tokRequest{Authorization: basic, Form: grant("scope", `read:logs "quoted"`)}, 400, "invalid_scope", false},
		{"a scope of another case is invalid_scope",
			tokRequest{Authorization: basic, Form: grant("scope", "READ:LOGS")}, 400, "invalid_scope", false},
		// audience and resource.
		{"an unregistered audience is invalid_target",
			tokRequest{Authorization: basic, Form: grant("audience", "https://evil.example")}, 400, "invalid_target", false},
		{"an unregistered resource is invalid_target",
			tokRequest{Form: grant("resource", "https://evil.example", "client_id", c.ID, "client_secret", c.Secret)}, 400, "invalid_target", false},
		{"a registered audience beside an unregistered resource is invalid_target",
			tokRequest{Authorization: basic, Form: grant("audience", tokAudLogs, "resource", "https://evil.example")}, 400, "invalid_target", false},
		{"an audience on a client with none is invalid_target",
			tokRequest{Authorization: tokBasic(f.bare.ID, f.bare.Secret), Form: grant("audience", f.ts.URL)}, 400, "invalid_target", false},
		// Content type and encoding.
		{"a JSON body is invalid_request",
			tokRequest{ContentType: "application/json", Authorization: basic,
				Body: strings.NewReader(`{"grant_type":"client_credentials"}`)}, 400, "invalid_request", false},
		{"a form without Content-Type is invalid_request",
			tokRequest{ContentType: "-", Authorization: basic, Form: grant()}, 400, "invalid_request", false},
		{"a form sent as text/plain is invalid_request",
			tokRequest{ContentType: "text/plain", Authorization: basic, Form: grant()}, 400, "invalid_request", false},
		{"a multipart body is invalid_request",
			tokRequest{ContentType: "multipart/form-data; boundary=x", Authorization: basic,
				Body: strings.NewReader("--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--x--\r\n")},
			400, "invalid_request", false},
		{"a malformed Content-Type is invalid_request",
			tokRequest{ContentType: "application/x-www-form-urlencoded; =;", Authorization: basic, Form: grant()}, 400, "invalid_request", false},
		{"a body that is not valid form encoding is invalid_request",
			tokRequest{Authorization: basic, Body: strings.NewReader("grant_type=client_credentials&scope=%zz")}, 400, "invalid_request", false},
		{"an empty body is invalid_request",
			tokRequest{Authorization: basic, Body: strings.NewReader("")}, 400, "invalid_request", false},
		// Repeated parameters (RFC 6749 section 3.2).
		{"a repeated grant_type is invalid_request",
			tokRequest{Authorization: basic, Form: grant("grant_type", "client_credentials")}, 400, "invalid_request", false},
		{"a repeated scope is invalid_request",
			tokRequest{Authorization: basic, Form: grant("scope", "read:logs", "scope", "write:logs")}, 400, "invalid_request", false},
		{"a repeated client_id is invalid_request",
			tokRequest{Form: grant("client_id", c.ID, "client_id", c.ID, "client_secret", c.Secret)}, 400, "invalid_request", false},
		{"a repeated client_secret is invalid_request",
			tokRequest{Form: grant("client_id", c.ID, "client_secret", c.Secret, "client_secret", c.Secret)}, 400, "invalid_request", false},
		{"more than 64 parameters is invalid_request",
			tokRequest{Authorization: basic, Form: tooMany}, 400, "invalid_request", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tokWantError(t, f.ts.tokSend(t, tt.req), tt.wantStatus, tt.wantCode, tt.challenge)
		})
	}

	t.Run("credentials in the query string do not authenticate", func(t *testing.T) {
		t.Parallel()
		q := url.Values{"client_id": {c.ID}, "client_secret": {c.Secret}}
		res := f.ts.tokSendTo(t, f.ts.URL+"/oauth/token?"+q.Encode(), tokRequest{Form: grant()})
		tokWantError(t, res, http.StatusUnauthorized, "invalid_client", false)
	})

	t.Run("64 parameters are accepted", func(t *testing.T) {
		t.Parallel()
		form := grant()
		for i := range 63 {
			form.Set(fmt.Sprintf("p%02d", i), "x")
		}
		if len(form) != 64 {
			t.Fatalf("built %d parameters", len(form))
		}
		tokWantSuccess(t, f.ts.tokSend(t, tokRequest{Authorization: basic, Form: form}))
	})
}

func TestTokenRefusesOtherMethods(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		t.Run(method+" is 405 with Allow: POST and the JSON error shape", func(t *testing.T) {
			t.Parallel()
			res := ts.tokSend(t, tokRequest{Method: method, Form: tokForm("grant_type", "client_credentials")})
			tokWantError(t, res, http.StatusMethodNotAllowed, "invalid_request", false)
			if got := res.Header.Values("Allow"); !slices.Equal(got, []string{"POST"}) {
				t.Errorf("Allow = %q, want [POST]", got)
			}
		})
	}
}

// tokUnsized hides the length of a reader, so the client sends it chunked.
type tokUnsized struct{ io.Reader }

func TestTokenBodyLimit(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t)
	basic := tokBasic(f.bare.ID, f.bare.Secret)
	const limit = 1 << 20
	// body returns a valid token request padded to exactly n bytes.
	body := func(n int) string {
		head := "grant_type=client_credentials&pad="
		return head + strings.Repeat("a", n-len(head))
	}
	t.Run("a body of exactly 1 MiB is read", func(t *testing.T) {
		t.Parallel()
		tokWantSuccess(t, f.ts.tokSend(t, tokRequest{Authorization: basic, Body: strings.NewReader(body(limit))}))
	})
	t.Run("a body over 1 MiB with its length declared is 413", func(t *testing.T) {
		t.Parallel()
		res := f.ts.tokSend(t, tokRequest{Authorization: basic, Body: strings.NewReader(body(limit + 1))})
		tokWantError(t, res, http.StatusRequestEntityTooLarge, "invalid_request", false)
	})
	t.Run("a chunked body over 1 MiB is 413", func(t *testing.T) {
		t.Parallel()
		res := f.ts.tokSend(t, tokRequest{Authorization: basic, Body: tokUnsized{strings.NewReader(body(limit + 1))}})
		tokWantError(t, res, http.StatusRequestEntityTooLarge, "invalid_request", false)
	})
}

// TestTokenFailedAuthenticationsLookAlike checks that an unknown client, a
// wrong secret, an inactive secret, a deleted client and another client's
// secret cannot be told apart by the answer.
func TestTokenFailedAuthenticationsLookAlike(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t)
	ts := f.ts

	inactive := ts.tokNewClient(t, f.admin, f.org, map[string]any{"scopes": []string{"read:logs"}})
	ts.token(t, inactive.ID, inactive.Secret)
	r := ts.do(t, "PATCH", inactive.path()+"/secrets/"+inactive.secretID(t), f.admin, map[string]any{"status": "INACTIVE"})
	if r.Status != http.StatusOK {
		t.Fatalf("deactivate secret: %d %s", r.Status, r.Body)
	}

	deleted := ts.tokNewClient(t, f.admin, f.org, map[string]any{"scopes": []string{"read:logs"}})
	ts.token(t, deleted.ID, deleted.Secret)
	if r := ts.do(t, "DELETE", deleted.path(), f.admin, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete client: %d %s", r.Status, r.Body)
	}

	failures := []struct{ name, id, secret string }{
		{"an unknown client", "m2m_" + strings.Repeat("a", 26), f.full.Secret},
		{"a wrong secret", f.full.ID, "kw_sk_" + strings.Repeat("a", 52)},
		{"an inactive secret", inactive.ID, inactive.Secret},
		{"a deleted client", deleted.ID, deleted.Secret},
		{"another client's secret", f.full.ID, f.bare.Secret},
	}
	for _, post := range []bool{false, true} {
		method := "client_secret_basic"
		if post {
			method = "client_secret_post"
		}
		t.Run("with "+method+" every failure gets the same answer", func(t *testing.T) {
			t.Parallel()
			var first tokResult
			for i, fl := range failures {
				req := tokRequest{Form: tokForm("grant_type", "client_credentials")}
				if post {
					req.Form.Set("client_id", fl.id)
					req.Form.Set("client_secret", fl.secret)
				} else {
					req.Authorization = tokBasic(fl.id, fl.secret)
				}
				res := ts.tokSend(t, req)
				tokWantError(t, res, http.StatusUnauthorized, "invalid_client", !post)
				if i == 0 {
					first = res
					continue
				}
				if res.Status != first.Status || string(res.Body) != string(first.Body) ||
					res.Header.Get("WWW-Authenticate") != first.Header.Get("WWW-Authenticate") {
					t.Errorf("%s answers %d %s, but %s answers %d %s", fl.name, res.Status, res.Body,
						failures[0].name, first.Status, first.Body)
				}
			}
		})
	}
}

func TestTokenWithSeveralSecrets(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t)
	ts, c := f.ts, f.bare
	r := ts.do(t, "POST", c.path()+"/secrets", f.admin, map[string]any{})
	if r.Status != http.StatusCreated {
		t.Fatalf("add secret: %d %s", r.Status, r.Body)
	}
	second := r.JSON(t)["plain_secret"].(string)

	t.Run("each active secret authenticates the client", func(t *testing.T) {
		ts.token(t, c.ID, c.Secret)
		ts.token(t, c.ID, second)
	})

	r = ts.do(t, "PATCH", c.path()+"/secrets/"+c.secretID(t), f.admin, map[string]any{"status": "INACTIVE"})
	if r.Status != http.StatusOK {
		t.Fatalf("deactivate secret: %d %s", r.Status, r.Body)
	}
	t.Run("an inactive secret beside an active one authenticates nothing", func(t *testing.T) {
		res := ts.tokSend(t, tokRequest{Authorization: tokBasic(c.ID, c.Secret), Form: tokForm("grant_type", "client_credentials")})
		tokWantError(t, res, http.StatusUnauthorized, "invalid_client", true)
	})
	t.Run("the active secret beside an inactive one still works", func(t *testing.T) {
		_, claims := ts.tokVerify(t, ts.token(t, c.ID, second))
		if claims["sub"] != c.ID {
			t.Errorf("sub = %v, want %s", claims["sub"], c.ID)
		}
	})
	t.Run("a secret made active again authenticates again", func(t *testing.T) {
		r := ts.do(t, "PATCH", c.path()+"/secrets/"+c.secretID(t), f.admin, map[string]any{"status": "ACTIVE"})
		if r.Status != http.StatusOK {
			t.Fatalf("reactivate secret: %d %s", r.Status, r.Body)
		}
		ts.token(t, c.ID, c.Secret)
	})
	t.Run("a secret of another client does not authenticate this one", func(t *testing.T) {
		res := ts.tokSend(t, tokRequest{Form: tokForm("grant_type", "client_credentials", "client_id", c.ID, "client_secret", f.one.Secret)})
		tokWantError(t, res, http.StatusUnauthorized, "invalid_client", false)
	})
}
