// Command interop checks a running keyward against the Go libraries
// people point at an OAuth server: golang.org/x/oauth2/clientcredentials for
// tokens, github.com/coreos/go-oidc/v3 and github.com/MicahParks/keyfunc/v3
// with github.com/golang-jwt/jwt/v5 for verification, and the README's
// resource-server middleware (package resourceserver). scripts/interop.sh
// runs it against a keyward started with a short JWKS max-age and publish
// lead, so that it can rotate the signing key twice within seconds.
//
// Environment: KEYWARD_URL (the server, which is also its issuer),
// KEYWARD_CLIENT_ID and KEYWARD_CLIENT_SECRET (an environment admin),
// INTEROP_JWKS_MAX_AGE (the server's --jwks-max-age). It prints one line per
// check, "ok   go: NAME" or "FAIL go: NAME: why", and exits 1 if any failed.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/time/rate"

	"github.com/keyward/keyward/scripts/interop/go/resourceserver"
)

const (
	audience      = "interop-api.example.com"
	otherAudience = "other-api.example.com"
)

type suite struct {
	issuer, adminID, adminSecret string
	maxAge                       time.Duration
	admin                        string // an admin access token
	passed, failed               int
}

// check runs one named check and prints its line.
func (s *suite) check(name string, fn func() error) bool {
	if err := fn(); err != nil {
		s.failed++
		fmt.Printf("FAIL go: %s: %v\n", name, err)
		return false
	}
	s.passed++
	fmt.Printf("ok   go: %s\n", name)
	return true
}

func main() {
	s := &suite{issuer: os.Getenv("KEYWARD_URL"), adminID: os.Getenv("KEYWARD_CLIENT_ID"), adminSecret: os.Getenv("KEYWARD_CLIENT_SECRET")}
	maxAge, err := time.ParseDuration(os.Getenv("INTEROP_JWKS_MAX_AGE"))
	if s.issuer == "" || s.adminID == "" || s.adminSecret == "" || err != nil {
		fmt.Fprintln(os.Stderr, "interop: set KEYWARD_URL, KEYWARD_CLIENT_ID, KEYWARD_CLIENT_SECRET and INTEROP_JWKS_MAX_AGE")
		os.Exit(2)
	}
	s.maxAge = maxAge
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := s.run(ctx); err != nil {
		s.failed++
		fmt.Printf("FAIL go: setup: %v\n", err)
	}
	if s.failed > 0 {
		os.Exit(1)
	}
}

// ccConfig is a clientcredentials.Config for one of the test's clients.
func (s *suite) ccConfig(id, secret string, style oauth2.AuthStyle, scopes ...string) *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID: id, ClientSecret: secret, TokenURL: s.issuer + "/oauth/token", Scopes: scopes, AuthStyle: style,
		EndpointParams: url.Values{"audience": {audience}},
	}
}

func (s *suite) run(ctx context.Context) error {
	adminTok, err := (&clientcredentials.Config{ClientID: s.adminID, ClientSecret: s.adminSecret,
		TokenURL: s.issuer + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}).Token(ctx)
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	s.admin = adminTok.AccessToken
	var org struct {
		Organization struct{ ID string } `json:"organization"`
	}
	if err := s.api(ctx, "POST", "/api/v1/organizations", map[string]any{"display_name": "interop (Go)"}, &org); err != nil {
		return err
	}
	var app, other struct {
		Client struct {
			ClientID string `json:"client_id"`
		} `json:"client"`
		PlainSecret string `json:"plain_secret"`
	}
	if err := s.api(ctx, "POST", "/api/v1/organizations/"+org.Organization.ID+"/clients", map[string]any{
		"name": "go-interop", "scopes": []string{"read:things", "write:things"}, "audience": []string{audience},
		"custom_claims": []map[string]string{{"key": "environment", "value": "interop"}},
	}, &app); err != nil {
		return err
	}
	if err := s.api(ctx, "POST", "/api/v1/organizations/"+org.Organization.ID+"/clients", map[string]any{
		"name": "go-other", "scopes": []string{"read:things"}, "audience": []string{otherAudience},
	}, &other); err != nil {
		return err
	}
	appID, appSecret := app.Client.ClientID, app.PlainSecret

	// Discovery and tokens.
	s.check("go-oidc discovery (NewProvider) finds the token endpoint", func() error {
		p, err := oidc.NewProvider(ctx, s.issuer)
		if err != nil {
			return err
		}
		if got := p.Endpoint().TokenURL; got != s.issuer+"/oauth/token" {
			return fmt.Errorf("token endpoint %q", got)
		}
		return nil
	})
	var token string
	s.check("x/oauth2 clientcredentials, client_secret_basic", func() error {
		t, err := s.ccConfig(appID, appSecret, oauth2.AuthStyleInHeader, "read:things").Token(ctx)
		if err != nil {
			return err
		}
		if t.TokenType != "Bearer" || t.Expiry.IsZero() {
			return fmt.Errorf("token_type %q, expiry %v", t.TokenType, t.Expiry)
		}
		if got, _ := t.Extra("scope").(string); got != "read:things" {
			return fmt.Errorf("scope %q, want read:things", got)
		}
		token = t.AccessToken
		return nil
	})
	s.check("x/oauth2 clientcredentials, client_secret_post", func() error {
		_, err := s.ccConfig(appID, appSecret, oauth2.AuthStyleInParams).Token(ctx)
		return err
	})
	s.check("x/oauth2 clientcredentials, a wrong secret is invalid_client", func() error {
		_, err := s.ccConfig(appID, appSecret+"x", oauth2.AuthStyleInHeader).Token(ctx)
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
			return fmt.Errorf("got %v, want invalid_client", err)
		}
		return nil
	})
	if token == "" {
		return errors.New("no token to verify")
	}
	otherTok, err := (&clientcredentials.Config{ClientID: other.Client.ClientID, ClientSecret: other.PlainSecret,
		TokenURL: s.issuer + "/oauth/token"}).Token(ctx)
	if err != nil {
		return fmt.Errorf("token of the other client: %w", err)
	}

	// Verification.
	oidcKeys := oidc.NewRemoteKeySet(ctx, s.issuer+"/.well-known/jwks.json")
	oidcVerifier := oidc.NewVerifier(s.issuer, oidcKeys, &oidc.Config{ClientID: audience, SupportedSigningAlgs: []string{"RS256"}})
	s.check("go-oidc RemoteKeySet verifies the token (iss, aud, exp, claims)", func() error {
		t, err := oidcVerifier.Verify(ctx, token)
		if err != nil {
			return err
		}
		var c struct {
			Scope, OrgID, ClientID, Environment string
		}
		var m map[string]any
		if err := t.Claims(&m); err != nil {
			return err
		}
		c.Scope, _ = m["scope"].(string)
		c.OrgID, _ = m["org_id"].(string)
		c.ClientID, _ = m["client_id"].(string)
		c.Environment, _ = m["environment"].(string)
		if c.Scope != "read:things" || c.OrgID != org.Organization.ID || c.ClientID != appID || c.Environment != "interop" {
			return fmt.Errorf("claims %v", m)
		}
		return nil
	})
	s.check("go-oidc rejects a token for another audience", func() error {
		if _, err := oidcVerifier.Verify(ctx, otherTok.AccessToken); err == nil {
			return errors.New("accepted")
		}
		return nil
	})
	s.check("keyfunc + golang-jwt verify the token (alg, typ at+jwt, iss, aud, exp)", func() error {
		k, err := keyfunc.NewDefaultCtx(ctx, []string{s.issuer + "/.well-known/jwks.json"})
		if err != nil {
			return err
		}
		tok, err := jwt.Parse(token, k.Keyfunc, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(s.issuer),
			jwt.WithAudience(audience), jwt.WithExpirationRequired())
		if err != nil {
			return err
		}
		if tok.Header["typ"] != "at+jwt" {
			return fmt.Errorf("typ %v", tok.Header["typ"])
		}
		return nil
	})

	s.readmeMiddleware(ctx, token, otherTok.AccessToken, appID, appSecret)
	s.rotation(ctx, appID, appSecret)
	return nil
}

// readmeMiddleware runs the README's resource server (package
// resourceserver) in front of a handler.
func (s *suite) readmeMiddleware(ctx context.Context, token, otherToken, appID, appSecret string) {
	v, err := resourceserver.New(ctx, s.issuer, audience, s.maxAge)
	if !s.check("README resource server (Go): resourceserver.New fetches the JWKS", func() error { return err }) {
		return
	}
	api := httptest.NewServer(v.Require("read:things", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := resourceserver.Claims(r)
		fmt.Fprintf(w, "hello %s of %s", c["client_id"], c["org_id"])
	})))
	defer api.Close()
	call := func(tok string) (int, string, string) {
		req, _ := http.NewRequestWithContext(ctx, "GET", api.URL, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error(), ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header.Get("WWW-Authenticate")
	}
	s.check("README resource server (Go): a valid token with the scope gets through", func() error {
		if code, body, _ := call(token); code != 200 || !strings.HasPrefix(body, "hello "+appID) {
			return fmt.Errorf("%d %q", code, body)
		}
		return nil
	})
	writeOnly, err := s.ccConfig(appID, appSecret, oauth2.AuthStyleInHeader, "write:things").Token(ctx)
	for _, c := range []struct {
		name, token   string
		status        int
		wantChallenge string
	}{
		{"no token is 401", "", 401, `error="invalid_token"`},
		{"a token for another audience is 401", otherToken, 401, `error="invalid_token"`},
		{"a token with a forged signature is 401", forge(token), 401, `error="invalid_token"`},
		{"a token without the scope is 403", func() string {
			if err != nil {
				return ""
			}
			return writeOnly.AccessToken
		}(), 403, `error="insufficient_scope"`},
	} {
		s.check("README resource server (Go): "+c.name, func() error {
			if code, body, challenge := call(c.token); code != c.status || !strings.Contains(challenge, c.wantChallenge) {
				return fmt.Errorf("%d %q, WWW-Authenticate %q", code, body, challenge)
			}
			return nil
		})
	}
}

// forge flips a bit of the token's signature.
func forge(tok string) string {
	parts := strings.Split(tok, ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) == 0 {
		return tok + "x"
	}
	sig[0] ^= 1
	return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// countingTransport counts the requests a verifier sends (JWKS fetches).
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// rotation: verifiers that cache the JWKS keep verifying across key
// rotations without ever meeting an unknown kid, because keyward publishes
// the next key before it signs.
func (s *suite) rotation(ctx context.Context, appID, appSecret string) {
	getToken := func() (string, string, error) {
		t, err := s.ccConfig(appID, appSecret, oauth2.AuthStyleInHeader).Token(ctx)
		if err != nil {
			return "", "", err
		}
		kid, err := kidOf(t.AccessToken)
		return t.AccessToken, kid, err
	}
	// An unknown kid must never make these verifiers refetch: a limiter
	// with no burst refuses every such refetch, so an unknown kid fails.
	noUnknownKID := func() *rate.Limiter { return rate.NewLimiter(0, 0) }
	cachedFetches := &countingTransport{}
	cached, err1 := keyfunc.NewDefaultOverrideCtx(ctx, []string{s.issuer + "/.well-known/jwks.json"}, keyfunc.Override{
		Client: &http.Client{Transport: cachedFetches}, RefreshInterval: time.Hour, RefreshUnknownKID: noUnknownKID()})
	refreshing, err2 := keyfunc.NewDefaultOverrideCtx(ctx, []string{s.issuer + "/.well-known/jwks.json"}, keyfunc.Override{
		RefreshInterval: s.maxAge, RefreshUnknownKID: noUnknownKID()})
	oidcFetches := &countingTransport{}
	oidcKeys := oidc.NewRemoteKeySet(oidc.ClientContext(ctx, &http.Client{Transport: oidcFetches}), s.issuer+"/.well-known/jwks.json")
	verify := func(k keyfunc.Keyfunc, tok string) error {
		_, err := jwt.Parse(tok, k.Keyfunc, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(s.issuer), jwt.WithAudience(audience))
		return err
	}
	tokA, kidA, err := getToken()
	if !s.check("rotation: verifiers start with the JWKS holding the active and the next key", func() error {
		if err := errors.Join(err, err1, err2); err != nil {
			return err
		}
		if _, err := oidcKeys.VerifySignature(ctx, tokA); err != nil {
			return fmt.Errorf("go-oidc: %w", err)
		}
		return errors.Join(verify(cached, tokA), verify(refreshing, tokA))
	}) {
		return
	}
	if !s.check("rotation: POST /api/v1/keys/rotate once the next key has been published for the lead", func() error {
		return s.rotate(ctx)
	}) {
		return
	}
	tokB, kidB, err := getToken()
	s.check("rotation: keyfunc keeps its cache (one fetch, no refresh for an hour) and meets no unknown kid", func() error {
		if err != nil {
			return err
		}
		if kidB == kidA {
			return fmt.Errorf("the new token is still signed by %s", kidA)
		}
		if err := errors.Join(verify(cached, tokB), verify(cached, tokA)); err != nil {
			return err
		}
		if n := cachedFetches.n.Load(); n != 1 {
			return fmt.Errorf("%d JWKS fetches, want 1", n)
		}
		return nil
	})
	s.check("rotation: go-oidc RemoteKeySet verifies the new key's token from its cache (no refetch)", func() error {
		if _, err := oidcKeys.VerifySignature(ctx, tokB); err != nil {
			return err
		}
		if n := oidcFetches.n.Load(); n != 1 {
			return fmt.Errorf("%d JWKS fetches, want 1", n)
		}
		return nil
	})
	if !s.check("rotation: a second rotation, a publish lead later", func() error { return s.rotate(ctx) }) {
		return
	}
	tokC, _, err := getToken()
	s.check("rotation: keyfunc refreshing at max-age verifies the third key's tokens and the older ones, no unknown kid", func() error {
		if err != nil {
			return err
		}
		return errors.Join(verify(refreshing, tokC), verify(refreshing, tokB), verify(refreshing, tokA))
	})
	s.check("rotation: a verifier that caches past max-age does meet an unknown kid (the check can fail)", func() error {
		if err := verify(cached, tokC); err == nil {
			return errors.New("the hour-long cache verified a key published after its only fetch")
		}
		return nil
	})
}

// rotate calls POST /api/v1/keys/rotate until keyward allows it (409 while
// the next key is younger than the publish lead).
func (s *suite) rotate(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := s.api(ctx, "POST", "/api/v1/keys/rotate", nil, nil)
		var ae *apiError
		if !errors.As(err, &ae) || ae.status != http.StatusConflict || time.Now().After(deadline) {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func kidOf(tok string) (string, error) {
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return "", err
	}
	var h struct{ Kid string }
	err = json.Unmarshal(b, &h)
	return h.Kid, err
}

type apiError struct {
	status int
	body   string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.status, e.body) }

// api calls the admin API as the admin.
func (s *suite) api(ctx context.Context, method, path string, body, into any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.issuer+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return &apiError{status: resp.StatusCode, body: string(b)}
	}
	if into != nil {
		return json.Unmarshal(b, into)
	}
	return nil
}
