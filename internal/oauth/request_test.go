package oauth

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/jsonhttp"
)

func basicHeader(text string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(text))
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		header     string
		wantID     string
		wantSecret string
		wantBasic  bool
		wantErr    bool
	}{
		{"plain id and secret are read as is", basicHeader("m2m_abc:kw_sk_xyz"), "m2m_abc", "kw_sk_xyz", true, false},
		{"the scheme is case-insensitive", "bAsIc " + base64.StdEncoding.EncodeToString([]byte("a:b")), "a", "b", true, false},
		{"blanks around the credentials are ignored", "Basic   " + base64.StdEncoding.EncodeToString([]byte("a:b")) + "  ", "a", "b", true, false},
		{"an encoded colon in the id and secret is decoded",
			basicHeader(url.QueryEscape("id:1") + ":" + url.QueryEscape("se:cret")), "id:1", "se:cret", true, false},
		{"an unencoded colon in the secret stays in the secret", basicHeader("id:se:cr:et"), "id", "se:cr:et", true, false},
		{"an encoded percent sign is decoded", basicHeader("id:" + url.QueryEscape("100%sure")), "id", "100%sure", true, false},
		{"an encoded plus sign is decoded to a plus", basicHeader("id:" + url.QueryEscape("a+b")), "id", "a+b", true, false},
		{"an unencoded plus sign is form encoding for a space", basicHeader("id:a+b"), "id", "a b", true, false},
		{"an encoded space is decoded", basicHeader("id:" + url.QueryEscape("a b")), "id", "a b", true, false},
		{"an id and secret of every special character round-trip",
			basicHeader(url.QueryEscape("i d:%+&=é") + ":" + url.QueryEscape(":%+&=/?#é ")), "i d:%+&=é", ":%+&=/?#é ", true, false},
		{"a stray percent sign that is not an escape is kept literally", basicHeader("id:100%"), "id", "100%", true, false},
		{"an empty id and secret are read as empty", basicHeader(":"), "", "", true, false},
		{"no Authorization header is not Basic", "", "", "", false, false},
		{"another scheme is not Basic", "Bearer abc", "", "", false, false},
		{"a scheme that merely starts with Basic is not Basic", "Basically " + base64.StdEncoding.EncodeToString([]byte("a:b")), "", "", false, false},
		{"the Basic scheme alone is Basic without credentials", "Basic", "", "", true, true},
		{"credentials that are not base64 are an error", "Basic %%%", "", "", true, true},
		{"URL-safe base64 is an error", "Basic " + base64.URLEncoding.EncodeToString([]byte("a:b\xfb\xff")), "", "", true, true},
		{"credentials without a colon are an error", basicHeader("m2m_abckw_sk_xyz"), "", "", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			id, secret, ok, err := basicAuth(r)
			if ok != tt.wantBasic {
				t.Errorf("Basic = %v, want %v", ok, tt.wantBasic)
			}
			if tt.wantErr {
				var e *jsonhttp.Error
				if !errors.As(err, &e) || e.Code != "invalid_client" || e.Header.Get("WWW-Authenticate") != `Basic realm="keyward"` {
					t.Fatalf("err = %v, want invalid_client with a Basic challenge", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if id != tt.wantID || secret != tt.wantSecret {
				t.Errorf("got id %q secret %q, want %q %q", id, secret, tt.wantID, tt.wantSecret)
			}
		})
	}
}

func TestParseTokenRequest(t *testing.T) {
	t.Parallel()
	form := func(body string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
	withBasic := func(r *http.Request, id, secret string) *http.Request {
		r.Header.Set("Authorization", basicHeader(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
		return r
	}
	const jwtType = "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
	const jwtGrant = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
	basic := func(id, secret string) clientAuth {
		return clientAuth{method: methodBasic, clientID: id, secret: secret}
	}
	tests := []struct {
		name string
		req  *http.Request
		want tokenRequest
	}{
		{"Basic credentials are client_secret_basic",
			withBasic(form("grant_type=client_credentials"), "m2m_a", "s+1"),
			tokenRequest{grantType: "client_credentials", auth: basic("m2m_a", "s+1")}},
		{"credentials in the body are client_secret_post and form-decoded",
			form("grant_type=client_credentials&client_id=m2m_a&client_secret=s%2B1+2"),
			tokenRequest{grantType: "client_credentials", auth: clientAuth{method: methodPost, clientID: "m2m_a", secret: "s+1 2"}}},
		{"a client assertion is read with the client_id beside it",
			form("grant_type=client_credentials&client_id=m2m_a&client_assertion_type=" + jwtType + "&client_assertion=h.p.s"),
			tokenRequest{grantType: "client_credentials", auth: clientAuth{method: methodAssertion, clientID: "m2m_a", assertion: "h.p.s"}}},
		{"the jwt-bearer grant's assertion is its client authentication",
			form("grant_type=" + jwtGrant + "&assertion=h.p.s&scope=a"),
			tokenRequest{grantType: grantJWTBearer, auth: clientAuth{method: methodGrant, assertion: "h.p.s"},
				scopes: []string{"a"}, scopeGiven: true}},
		{"scope is split on runs of spaces",
			withBasic(form("grant_type=client_credentials&scope=+a:b++c+"), "m2m_a", "s"),
			tokenRequest{grantType: "client_credentials", auth: basic("m2m_a", "s"),
				scopes: []string{"a:b", "c"}, scopeGiven: true}},
		{"audience and resource values are gathered",
			withBasic(form("grant_type=client_credentials&audience=x&resource=https%3A%2F%2Fy&audience=z"), "m2m_a", "s"),
			tokenRequest{grantType: "client_credentials", auth: basic("m2m_a", "s"),
				audience: []string{"x", "z", "https://y"}}},
		{"a context identifier of 256 characters is read",
			withBasic(form("grant_type=client_credentials&context_identifier="+strings.Repeat("%C3%A9", 256)), "m2m_a", "s"),
			tokenRequest{grantType: "client_credentials", auth: basic("m2m_a", "s"),
				contextID: strings.Repeat("é", 256), contextGiven: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseTokenRequest(tt.req)
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got.grantType != tt.want.grantType || got.auth != tt.want.auth || got.scopeGiven != tt.want.scopeGiven ||
				!slices.Equal(got.scopes, tt.want.scopes) || !slices.Equal(got.audience, tt.want.audience) ||
				got.contextID != tt.want.contextID || got.contextGiven != tt.want.contextGiven {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}

	refusals := []struct {
		name string
		req  *http.Request
		code string
	}{
		{"Basic and a client assertion at once",
			withBasic(form("grant_type=client_credentials&client_assertion_type="+jwtType+"&client_assertion=h.p.s"), "m2m_a", "s"), "invalid_request"},
		{"client_secret and a client assertion at once",
			form("grant_type=client_credentials&client_id=m2m_a&client_secret=s&client_assertion_type=" + jwtType + "&client_assertion=h.p.s"), "invalid_request"},
		{"a client assertion without its type",
			form("grant_type=client_credentials&client_assertion=h.p.s"), "invalid_request"},
		{"a client assertion of another type",
			form("grant_type=client_credentials&client_assertion_type=urn%3Aexample&client_assertion=h.p.s"), "invalid_client"},
		{"a client assertion type without the assertion",
			form("grant_type=client_credentials&client_assertion_type=" + jwtType), "invalid_request"},
		{"the jwt-bearer grant without an assertion",
			form("grant_type=" + jwtGrant), "invalid_request"},
		{"the jwt-bearer grant with Basic credentials too",
			withBasic(form("grant_type="+jwtGrant+"&assertion=h.p.s"), "m2m_a", "s"), "invalid_request"},
		{"the jwt-bearer grant with a client secret too",
			form("grant_type=" + jwtGrant + "&assertion=h.p.s&client_id=m2m_a&client_secret=s"), "invalid_request"},
		{"an empty context identifier",
			withBasic(form("grant_type=client_credentials&context_identifier="), "m2m_a", "s"), "invalid_request"},
		{"a context identifier of 257 characters",
			withBasic(form("grant_type=client_credentials&context_identifier="+strings.Repeat("a", 257)), "m2m_a", "s"), "invalid_request"},
		{"a context identifier with a control character",
			withBasic(form("grant_type=client_credentials&context_identifier=a%0Ab"), "m2m_a", "s"), "invalid_request"},
		{"a context identifier that is not UTF-8",
			withBasic(form("grant_type=client_credentials&context_identifier=%FF"), "m2m_a", "s"), "invalid_request"},
	}
	for _, tt := range refusals {
		t.Run(tt.name+" is "+tt.code, func(t *testing.T) {
			t.Parallel()
			_, err := parseTokenRequest(tt.req)
			var e *jsonhttp.Error
			if !errors.As(err, &e) || e.Code != tt.code {
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
		})
	}
}
