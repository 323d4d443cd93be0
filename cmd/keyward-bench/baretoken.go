package main

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"time"
)

// serveBareToken serves POST /oauth/token with the least a token endpoint
// must do: read the form, check client_secret_basic against one client
// (an HMAC-SHA256 of the secret, compared in constant time), encode the
// claims a keyward token carries, sign them RS256 with impl's signer and
// answer the token response; its JWKS is at /.well-known/jwks.json. No router, middleware, limits, logs, metrics
// or cache: its rate is the ceiling of a net/http token endpoint on this
// core with that signer, so that keyward's rate can be read against what
// any Go server could reach (scripts/bench/signers.sh).
func serveBareToken(ctx context.Context, out io.Writer, addr, impl, clientID, clientSecret, issuer string) error {
	s, closeSigner, err := newRSASigner("bare-token", impl, 2048)
	if err != nil {
		return err
	}
	defer closeSigner()
	pub := s.Public().(*rsa.PublicKey)
	macKey := make([]byte, 32)
	rand.Read(macKey)
	mac := func(secret string) []byte {
		m := hmac.New(sha256.New, macKey)
		m.Write([]byte(secret))
		return m.Sum(nil)
	}
	want := mac(clientSecret)
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"bare","typ":"at+jwt"}`))
	type claims struct {
		Iss      string `json:"iss"`
		Sub      string `json:"sub"`
		Aud      string `json:"aud"`
		Exp      int64  `json:"exp"`
		Iat      int64  `json:"iat"`
		Nbf      int64  `json:"nbf"`
		Jti      string `json:"jti"`
		ClientID string `json:"client_id"`
		Org      string `json:"org_id"`
	}
	fail := func(w http.ResponseWriter, status int, code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":%q}`, code)
	}
	jwks, err := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "bare", "alg": "RS256", "use": "sig",
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
	if err != nil {
		return err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/.well-known/jwks.json" {
			w.Header().Set("Content-Type", "application/json")
			w.Write(jwks)
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/oauth/token" {
			fail(w, http.StatusNotFound, "not_found")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
			fail(w, http.StatusBadRequest, "invalid_request")
			return
		}
		id, secret, ok := r.BasicAuth()
		if !ok || id != clientID || !hmac.Equal(mac(secret), want) {
			fail(w, http.StatusUnauthorized, "invalid_client")
			return
		}
		var jti [16]byte
		rand.Read(jti[:])
		now := time.Now().Unix()
		body, err := json.Marshal(claims{Iss: issuer, Sub: id, Aud: issuer + "/api", Exp: now + 3600, Iat: now, Nbf: now,
			Jti: base64.RawURLEncoding.EncodeToString(jti[:]), ClientID: id, Org: "org_bare"})
		if err != nil {
			fail(w, http.StatusInternalServerError, "server_error")
			return
		}
		input := header + "." + base64.RawURLEncoding.EncodeToString(body)
		sum := sha256.Sum256([]byte(input))
		sig, err := s.Sign(rand.Reader, sum[:], crypto.SHA256)
		if err != nil {
			fail(w, http.StatusInternalServerError, "server_error")
			return
		}
		tok := input + "." + base64.RawURLEncoding.EncodeToString(sig)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte(`{"access_token":"` + tok + `","token_type":"Bearer","expires_in":` + strconv.Itoa(3600) + `}`))
	})
	return serveBare(ctx, out, addr, h)
}
