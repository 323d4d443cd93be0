package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyward/keyward/internal/pgtest"
)

// signClientToken runs `keyward sign-client-token` and returns what it
// printed.
func signClientToken(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"sign-client-token"}, args...), env{}.get, &stdout, &stderr)
	return strings.TrimSpace(stdout.String()), err
}

// sctWritePEM writes a PEM block to a file of the test's own.
func sctWritePEM(t *testing.T, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The tokens the command signs, checked with golang-jwt: the algorithm of
// the key, only iss, iat and exp, kid when asked for; and its usage errors.
func TestSignClientToken(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	sec1, _ := x509.MarshalECPrivateKey(ecKey)
	rsaPKCS8 := sctWritePEM(t, "PRIVATE KEY", pkcs8)
	rsaPKCS1 := sctWritePEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))
	ecSEC1 := sctWritePEM(t, "EC PRIVATE KEY", sec1)
	pubDER, _ := x509.MarshalPKIXPublicKey(rsaKey.Public())
	public := sctWritePEM(t, "PUBLIC KEY", pubDER)

	tests := []struct {
		name    string
		args    []string
		alg     string
		key     any
		kid     string
		seconds int64
	}{
		{"RS256 from a PKCS#8 key, no kid, an hour", []string{"--key", rsaPKCS8, "--iss", "ops@example.com"}, "RS256", rsaKey.Public(), "", 3600},
		{"RS256 from a PKCS#1 key with kid and lifetime", []string{"--key", rsaPKCS1, "--iss", "ops@example.com", "--kid", "key_a", "--lifetime", "300"},
			"RS256", rsaKey.Public(), "key_a", 300},
		{"PS256 when asked", []string{"--key", rsaPKCS8, "--iss", "ops@example.com", "--alg", "PS256"}, "PS256", rsaKey.Public(), "", 3600},
		{"ES256 from an EC key", []string{"--key", ecSEC1, "--iss", "m2m_x"}, "ES256", ecKey.Public(), "", 3600},
		{"HS256 from a secret with its id as kid", []string{"--secret", "kw_sk_plain", "--kid", "sks_a", "--iss", "m2m_x", "--lifetime", "60"},
			"HS256", []byte("kw_sk_plain"), "sks_a", 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now().Unix()
			out, err := signClientToken(tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			claims := jwt.MapClaims{}
			tok, err := jwt.ParseWithClaims(out, claims, func(*jwt.Token) (any, error) { return tt.key, nil },
				jwt.WithValidMethods([]string{tt.alg}), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
			if err != nil {
				t.Fatalf("%q does not verify: %v", out, err)
			}
			if kid, _ := tok.Header["kid"].(string); kid != tt.kid {
				t.Errorf("kid %q, want %q", kid, tt.kid)
			}
			iat, exp := int64(claims["iat"].(float64)), int64(claims["exp"].(float64))
			if len(claims) != 3 || claims["iss"] == nil || iat < before || exp-iat != tt.seconds {
				t.Errorf("claims %v, want only iss, iat and exp = iat + %d", claims, tt.seconds)
			}
		})
	}

	refused := []struct {
		name string
		args []string
		want string
	}{
		{"no iss", []string{"--key", rsaPKCS8}, "--iss"},
		{"neither key nor secret", []string{"--iss", "x"}, "one of --key"},
		{"both key and secret", []string{"--iss", "x", "--key", rsaPKCS8, "--secret", "s", "--kid", "sks_a"}, "one of --key"},
		{"a secret without kid", []string{"--iss", "x", "--secret", "s"}, "--kid"},
		{"a secret with RS256", []string{"--iss", "x", "--secret", "s", "--kid", "sks_a", "--alg", "RS256"}, "HS256 only"},
		{"ES256 with an RSA key", []string{"--iss", "x", "--key", rsaPKCS8, "--alg", "ES256"}, "does not fit"},
		{"a public key", []string{"--iss", "x", "--key", public}, "no private key"},
		{"a missing key file", []string{"--iss", "x", "--key", filepath.Join(t.TempDir(), "nope.pem")}, "--key"},
		{"a lifetime of 0", []string{"--iss", "x", "--key", rsaPKCS8, "--lifetime", "0"}, "--lifetime"},
		{"an argument", []string{"--iss", "x", "--key", rsaPKCS8, "extra"}, "no arguments"},
	}
	for _, tt := range refused {
		t.Run(tt.name+" exits 2", func(t *testing.T) {
			_, err := signClientToken(tt.args...)
			if exitCode(err) != 2 || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("sign-client-token = %v (exit %d), want exit 2 saying %q", err, exitCode(err), tt.want)
			}
		})
	}
	t.Run("--help exits 0", func(t *testing.T) {
		if _, err := signClientToken("--help"); exitCode(err) != 0 {
			t.Errorf("--help = %v", err)
		}
	})
}

// The README's flow end to end against `keyward serve`: a client registers
// the public half of a key and turns client-signed tokens on; the command
// signs a token with the private half (and one with a secret), and a
// resource server's introspection finds them active.
func TestSignClientTokenIntrospects(t *testing.T) {
	t.Parallel()
	const adminID, adminSecret = "ci-admin", "kw_sk_sign-client-token-admin-secret"
	e := env{"KEYWARD_DATABASE_URL": pgtest.NewDatabase(t), "KEYWARD_KEY_ENCRYPTION_KEY": newKEK(),
		"KEYWARD_BOOTSTRAP_CLIENT_ID": adminID, "KEYWARD_BOOTSTRAP_CLIENT_SECRET": adminSecret}
	srv := startServe(t, e)
	out, err := tokenCommand(t, srv.URL, adminID, adminSecret)
	if err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimSpace(out)
	org := apiCall(t, "POST", srv.URL+"/api/v1/organizations", admin, map[string]any{"display_name": "Acme"}, 201)["organization"].(map[string]any)["id"].(string)
	clients := srv.URL + "/api/v1/organizations/" + org + "/clients"
	rs := apiCall(t, "POST", clients, admin, map[string]any{"name": "reports api"}, 201)
	rsID, rsSecret := rs["client"].(map[string]any)["client_id"].(string), rs["plain_secret"].(string)

	signer := apiCall(t, "POST", clients, admin, map[string]any{"name": "skykit machine", "auth_method": "private_key_jwt", "scopes": []string{"read"},
		"client_signed_tokens": map[string]any{"enabled": true, "issuer_aliases": []string{"ops@example.com"}}}, 201)
	signerID := signer["client"].(map[string]any)["client_id"].(string)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile := sctWritePEM(t, "PRIVATE KEY", der)
	apiCall(t, "POST", clients+"/"+signerID+"/keys", admin, map[string]any{"public_key_pem": sctPublicPEM(t, key.Public())}, 201)

	hs := apiCall(t, "POST", clients, admin, map[string]any{"name": "api manager machine", "client_signed_tokens": map[string]any{"enabled": true}}, 201)
	hsClient := hs["client"].(map[string]any)
	hsID, hsSecretID := hsClient["client_id"].(string), hsClient["secrets"].([]any)[0].(map[string]any)["id"].(string)

	introspect := func(t *testing.T, token string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/oauth/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(rsID, rsSecret)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("introspect: %s %v", resp.Status, err)
		}
		return m
	}
	for _, tt := range []struct {
		name, client string
		args         []string
	}{
		{"RS256 with the registered key", signerID, []string{"--key", keyFile, "--iss", "ops@example.com", "--lifetime", "600"}},
		{"HS256 with a client secret", hsID, []string{"--secret", hs["plain_secret"].(string), "--kid", hsSecretID, "--iss", hsID}},
	} {
		t.Run(tt.name+" introspects active", func(t *testing.T) {
			tok, err := signClientToken(tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			got := introspect(t, tok)
			if got["active"] != true || got["token_type"] != "client_signed_jwt" || got["client_id"] != tt.client || got["org_id"] != org {
				t.Errorf("introspection answered %v", got)
			}
		})
	}
	t.Run("a lifetime over the client's max_lifetime introspects inactive", func(t *testing.T) {
		tok, err := signClientToken("--key", keyFile, "--iss", "ops@example.com", "--lifetime", "3601")
		if err != nil {
			t.Fatal(err)
		}
		if got := introspect(t, tok); got["active"] != false || !strings.Contains(got["keyward_reason"].(string), "max_lifetime") {
			t.Errorf("introspection answered %v", got)
		}
	})
}

func sctPublicPEM(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}
