package oauth

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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
	f.Add("grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c",
		"", "application/x-www-form-urlencoded")
	f.Add("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a.b.c&context_identifier=t1", "", "application/x-www-form-urlencoded")
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
		switch req.auth.method {
		case methodBasic, methodPost:
		case methodAssertion:
			if req.auth.assertion == "" {
				t.Fatal("accepted a client assertion that is empty")
			}
		case methodGrant:
			if req.grantType != grantJWTBearer || req.auth.assertion == "" {
				t.Fatalf("accepted the grant's assertion for grant %q", req.grantType)
			}
		default:
			t.Fatalf("accepted a request with auth method %q", req.auth.method)
		}
	})
}

// FuzzParseAssertion feeds client assertion validation arbitrary text: it
// must never panic, every refusal must be a description for the caller, and
// an assertion that passes the claim rules must carry every claim they
// require, within its limits.
func FuzzParseAssertion(f *testing.F) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	const now = 1700000000
	claims := `{"iss":"m2m_a","sub":"m2m_a","aud":"https://kw.test/oauth/token","iat":1700000000,"exp":1700000300,"jti":"j1"}`
	f.Add(enc(`{"alg":"RS256","kid":"key_a"}`) + "." + enc(claims) + "." + enc("sig"))
	f.Add(enc(`{"alg":"HS256"}`) + "." + enc(claims) + "." + enc("sig"))
	f.Add(enc(`{"alg":"none"}`) + "." + enc(claims) + ".")
	f.Add(enc(`{"alg":"ES256","alg":"HS256"}`) + "." + enc(claims) + "." + enc("s"))
	f.Add(enc(`{"alg":"PS256","jku":"https://evil.test/jwks","x5u":"https://evil.test/x","jwk":{"kty":"oct","k":"AA"}}`) + "." +
		enc(`{"iss":"m2m_a","sub":"m2m_a","aud":["x","https://kw.test"],"iat":1.7e9,"exp":1700000300.5,"nbf":0,"jti":"j"}`) + "." + enc("s"))
	f.Add(enc(`{"alg":"RS256","crit":["exp"]}`) + "." + enc(`{"exp":"soon"}`) + "." + enc("s"))
	f.Add("e30.e30.e30")
	f.Add(enc("\xff") + ".." + enc("s"))
	f.Fuzz(func(t *testing.T, raw string) {
		a, err := parseAssertion(raw)
		if err != nil {
			var d descError
			if !errors.As(err, &d) || d == "" {
				t.Fatalf("refusal %v is not a description", err)
			}
			return
		}
		if len(raw) > maxAssertionSize || !assertionAlgs[a.alg] || (a.hasKID && (a.kid == "" || len(a.kid) > maxKIDLength)) {
			t.Fatalf("accepted %q: alg %q kid %q", raw, a.alg, a.kid)
		}
		err = a.check("", []string{"https://kw.test/oauth/token", "https://kw.test"}, time.Unix(now, 0))
		if err != nil {
			var d descError
			if !errors.As(err, &d) || d == "" {
				t.Fatalf("refusal %v is not a description", err)
			}
			return
		}
		if a.iss == "" || a.iss != a.sub || a.jti == "" || len(a.jti) > maxJTILength || a.exp == nil || a.iat == nil ||
			!a.exp.After(time.Unix(now, 0)) || a.exp.Sub(*a.iat) > maxAssertionLifetime {
			t.Fatalf("the claim rules passed %+v", a)
		}
	})
}
