package main

import (
	"bufio"
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// TestBareTokenIssuesVerifiableTokensToItsClientOnly: the bare endpoint the
// RS256 comparison measures does a token endpoint's work, so its rate is a
// fair ceiling: it rejects wrong credentials and malformed requests, and
// its tokens verify (golang-jwt) against its JWKS.
func TestBareTokenIssuesVerifiableTokensToItsClientOnly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- serveBareToken(ctx, pw, "127.0.0.1:0", "go", "c1", "s3cret", "https://issuer.example") }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	var l struct{ Listening string }
	if err := json.Unmarshal([]byte(line), &l); err != nil {
		t.Fatal(err)
	}
	jwksResp, err := http.Get(l.Listening + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer jwksResp.Body.Close()
	var jwks struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.NewDecoder(jwksResp.Body).Decode(&jwks); err != nil || len(jwks.Keys) != 1 {
		t.Fatalf("JWKS: %v, %d keys", err, len(jwks.Keys))
	}
	n, err1 := base64.RawURLEncoding.DecodeString(jwks.Keys[0]["n"])
	e, err2 := base64.RawURLEncoding.DecodeString(jwks.Keys[0]["e"])
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}

	for _, tc := range []struct {
		name, id, secret, form string
		status                 int
	}{
		{"its client", "c1", "s3cret", "grant_type=client_credentials", http.StatusOK},
		{"wrong secret", "c1", "s3cret!", "grant_type=client_credentials", http.StatusUnauthorized},
		{"another client", "c2", "s3cret", "grant_type=client_credentials", http.StatusUnauthorized},
		{"no credentials", "", "", "grant_type=client_credentials", http.StatusUnauthorized},
		{"another grant", "c1", "s3cret", "grant_type=password", http.StatusBadRequest},
		{"malformed form", "c1", "s3cret", "grant_type=%zz", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, l.Listening+"/oauth/token", strings.NewReader(tc.form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.id != "" {
				req.SetBasicAuth(url.QueryEscape(tc.id), url.QueryEscape(tc.secret))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				AccessToken string `json:"access_token"`
				Error       string `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, body.Error, tc.status)
			}
			if tc.status != http.StatusOK {
				if body.Error == "" || body.AccessToken != "" {
					t.Fatalf("want an error and no token, got %+v", body)
				}
				return
			}
			tok, err := jwt.Parse(body.AccessToken, func(*jwt.Token) (any, error) { return pub, nil },
				jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer("https://issuer.example"), jwt.WithExpirationRequired())
			if err != nil {
				t.Fatal(err)
			}
			if sub, _ := tok.Claims.GetSubject(); sub != "c1" || tok.Header["kid"] != "bare" {
				t.Fatalf("sub %q, kid %v", sub, tok.Header["kid"])
			}
		})
	}
}
