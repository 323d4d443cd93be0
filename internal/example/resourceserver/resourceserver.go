// Package resourceserver is an example resource server in front of keyward,
// meant to be copied: net/http middleware that accepts
//
//   - keyward's access tokens (RFC 9068), verified offline against keyward's
//     JWKS: signature, alg, typ at+jwt, iss, aud and exp;
//   - anything else a client may send as a bearer token (tokens clients sign
//     themselves when keyward's client_signed_tokens setting is on for them,
//     and API keys), checked at keyward's introspection endpoint (RFC 7662)
//     with the resource server's own client credentials. Answers are cached
//     until the token's exp, at most 60 s (10 s for inactive ones), so a busy
//     API asks keyward about a token about once a minute.
//
// It uses the standard library, and golang.org/x/oauth2 for the resource
// server's own access tokens when it calls other APIs (OwnCredentials).
// keyward's tests run it against a live server
// (internal/httpserver/rsexample_test.go).
package resourceserver

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2/clientcredentials"
)

// Config says which keyward to trust and who this API is.
type Config struct {
	// Issuer is keyward's issuer URL (its KEYWARD_ISSUER).
	Issuer string
	// Audience is this API's identifier, which keyward access tokens must
	// carry in aud (a client's registered audience).
	Audience string
	// ClientID and ClientSecret are this API's own client at keyward, of
	// the organization whose tokens it accepts (a client holding
	// keyward:admin sees every organization's).
	ClientID, ClientSecret string
	// HTTPClient calls keyward; nil is a client with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Principal is who a request's bearer token speaks for.
type Principal struct {
	ClientID string
	OrgID    string
	Scopes   []string
	// Kind is "access_token" for a keyward access token, or the
	// introspection answer's token_type: "client_signed_jwt" or "api_key".
	Kind   string
	Expiry time.Time // zero for an API key without expire_time
}

// HasScope reports whether the token grants scope s.
func (p Principal) HasScope(s string) bool { return slices.Contains(p.Scopes, s) }

type principalKey struct{}

// FromContext returns the Principal the middleware put in a request's
// context.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

const (
	// leeway is how far clocks may disagree on exp and nbf.
	leeway = 30 * time.Second
	// maxActiveCache and inactiveCache bound how long an introspection
	// answer is trusted: a token revoked, or a client whose setting is
	// turned off, is refused here at most this much later.
	maxActiveCache = 60 * time.Second
	inactiveCache  = 10 * time.Second
	// maxCached bounds the cached answers.
	maxCached = 10000
	// jwksRefetchGap keeps a flood of tokens with unknown kids from
	// hammering keyward's JWKS.
	jwksRefetchGap = 10 * time.Second
)

// ErrInvalidToken is returned (wrapped) for a token this API must refuse.
var ErrInvalidToken = errors.New("invalid token")

// Verifier checks bearer tokens. It is safe for concurrent use.
type Verifier struct {
	cfg           Config
	jwksURL       string
	introspectURL string

	keysMu      sync.Mutex
	keys        map[string]publicKey // by kid
	keysExpire  time.Time
	lastFetched time.Time

	answersMu sync.Mutex
	answers   map[[32]byte]cachedAnswer
}

type publicKey struct {
	alg string
	key crypto.PublicKey
}

type cachedAnswer struct {
	p      Principal
	active bool
	until  time.Time
}

// New returns a Verifier for cfg. It makes no request: the JWKS is fetched
// on the first access token.
func New(cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" || cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("resourceserver: Issuer, Audience, ClientID and ClientSecret are required")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	base := strings.TrimSuffix(cfg.Issuer, "/")
	return &Verifier{cfg: cfg, jwksURL: base + "/.well-known/jwks.json", introspectURL: base + "/oauth/introspect",
		keys: map[string]publicKey{}, answers: map[[32]byte]cachedAnswer{}}, nil
}

// OwnCredentials is this API's own client at keyward for golang.org/x/oauth2,
// for when it calls other APIs as itself:
// v.OwnCredentials().Client(ctx) is an *http.Client that sends its access
// token and renews it before it expires.
func (v *Verifier) OwnCredentials() *clientcredentials.Config {
	return &clientcredentials.Config{ClientID: v.cfg.ClientID, ClientSecret: v.cfg.ClientSecret,
		TokenURL: strings.TrimSuffix(v.cfg.Issuer, "/") + "/oauth/token"}
}

// Middleware refuses requests without a valid bearer token (401, RFC 6750)
// and passes the others on with their Principal in the context. When keyward
// cannot be reached to check a token, it answers 503.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			http.Error(w, "a bearer token is required", http.StatusUnauthorized)
			return
		}
		p, err := v.Verify(r.Context(), strings.TrimSpace(token))
		switch {
		case errors.Is(err, ErrInvalidToken):
			w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
			http.Error(w, "the bearer token is not valid", http.StatusUnauthorized)
			return
		case err != nil:
			http.Error(w, "cannot check the bearer token now", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// Verify checks token: a keyward access token against the JWKS, anything
// else by introspection. It returns an error wrapping ErrInvalidToken for a
// token to refuse, and another error when keyward could not answer.
func (v *Verifier) Verify(ctx context.Context, token string) (Principal, error) {
	if len(token) > 8<<10 {
		return Principal{}, fmt.Errorf("%w: too large", ErrInvalidToken)
	}
	if header, claims, ok := peek(token); ok && strings.EqualFold(header.Typ, "at+jwt") && claims.Iss == v.cfg.Issuer {
		return v.verifyAccessToken(ctx, token, header)
	}
	return v.introspect(ctx, token)
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

type accessClaims struct {
	Iss      string          `json:"iss"`
	Aud      json.RawMessage `json:"aud"`
	Exp      *float64        `json:"exp"`
	Nbf      *float64        `json:"nbf"`
	ClientID string          `json:"client_id"`
	OrgID    string          `json:"org_id"`
	Scope    string          `json:"scope"`
}

// peek decodes a compact JWT's header and claims without checking anything.
func peek(token string) (jwtHeader, accessClaims, bool) {
	var h jwtHeader
	var c accessClaims
	parts := strings.Split(token, ".")
	if len(parts) != 3 || decode(parts[0], &h) != nil || decode(parts[1], &c) != nil {
		return h, c, false
	}
	return h, c, true
}

func decode(part string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (v *Verifier) verifyAccessToken(ctx context.Context, token string, h jwtHeader) (Principal, error) {
	key, err := v.key(ctx, h.Kid)
	if err != nil {
		return Principal{}, err
	}
	if key.alg != h.Alg {
		return Principal{}, fmt.Errorf("%w: alg %q is not the alg of key %q", ErrInvalidToken, h.Alg, h.Kid)
	}
	i := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil || !verifySignature(key, []byte(token[:i]), sig) {
		return Principal{}, fmt.Errorf("%w: bad signature", ErrInvalidToken)
	}
	_, c, _ := peek(token)
	now := v.cfg.Now()
	switch {
	case c.Iss != v.cfg.Issuer:
		return Principal{}, fmt.Errorf("%w: another issuer", ErrInvalidToken)
	case !audienceHas(c.Aud, v.cfg.Audience):
		return Principal{}, fmt.Errorf("%w: not for this API", ErrInvalidToken)
	case c.Exp == nil || !now.Before(unix(*c.Exp).Add(leeway)):
		return Principal{}, fmt.Errorf("%w: expired", ErrInvalidToken)
	case c.Nbf != nil && now.Add(leeway).Before(unix(*c.Nbf)):
		return Principal{}, fmt.Errorf("%w: not valid yet", ErrInvalidToken)
	}
	return Principal{ClientID: c.ClientID, OrgID: c.OrgID, Scopes: strings.Fields(c.Scope), Kind: "access_token",
		Expiry: unix(*c.Exp)}, nil
}

func unix(f float64) time.Time { return time.Unix(int64(f), 0) }

func audienceHas(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	return json.Unmarshal(raw, &many) == nil && slices.Contains(many, want)
}

func verifySignature(k publicKey, input, sig []byte) bool {
	sum := sha256.Sum256(input)
	switch pub := k.key.(type) {
	case *rsa.PublicKey:
		return k.alg == "RS256" && rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) == nil
	case *ecdsa.PublicKey:
		if k.alg != "ES256" || len(sig) != 64 {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(pub, sum[:], r, s)
	case ed25519.PublicKey:
		return k.alg == "EdDSA" && ed25519.Verify(pub, input, sig)
	}
	return false
}

// key returns the JWKS key kid names, fetching the JWKS when it is older
// than its max-age, or when kid is unknown (at most every jwksRefetchGap:
// keyward publishes a key well before it signs with it).
func (v *Verifier) key(ctx context.Context, kid string) (publicKey, error) {
	v.keysMu.Lock()
	defer v.keysMu.Unlock()
	now := v.cfg.Now()
	k, ok := v.keys[kid]
	if ok && now.Before(v.keysExpire) {
		return k, nil
	}
	if !ok && now.Sub(v.lastFetched) < jwksRefetchGap {
		return publicKey{}, fmt.Errorf("%w: unknown kid %q", ErrInvalidToken, kid)
	}
	if err := v.fetchKeys(ctx, now); err != nil {
		if ok {
			return k, nil // keep using a known key while keyward is away
		}
		return publicKey{}, err
	}
	if k, ok = v.keys[kid]; !ok {
		return publicKey{}, fmt.Errorf("%w: unknown kid %q", ErrInvalidToken, kid)
	}
	return k, nil
}

// fetchKeys replaces the keys with keyward's JWKS. v.keysMu must be held.
func (v *Verifier) fetchKeys(ctx context.Context, now time.Time) error {
	v.lastFetched = now
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.jwksURL, nil)
	if err != nil {
		return err
	}
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch JWKS: %s", resp.Status)
	}
	var set struct {
		Keys []struct {
			Kty, Kid, Alg, Crv, N, E, X, Y string
		} `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return fmt.Errorf("fetch JWKS: %w", err)
	}
	keys := map[string]publicKey{}
	for _, j := range set.Keys {
		var pub crypto.PublicKey
		switch {
		case j.Kty == "RSA" && j.Alg == "RS256":
			n, e := b64Int(j.N), b64Int(j.E)
			if n == nil || e == nil || !e.IsInt64() {
				continue
			}
			pub = &rsa.PublicKey{N: n, E: int(e.Int64())}
		case j.Kty == "EC" && j.Crv == "P-256" && j.Alg == "ES256":
			x, errX := base64.RawURLEncoding.DecodeString(j.X)
			y, errY := base64.RawURLEncoding.DecodeString(j.Y)
			if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
				continue
			}
			k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
			if err != nil {
				continue
			}
			pub = k
		case j.Kty == "OKP" && j.Crv == "Ed25519" && j.Alg == "EdDSA":
			x, err := base64.RawURLEncoding.DecodeString(j.X)
			if err != nil || len(x) != ed25519.PublicKeySize {
				continue
			}
			pub = ed25519.PublicKey(x)
		default:
			continue
		}
		keys[j.Kid] = publicKey{alg: j.Alg, key: pub}
	}
	v.keys = keys
	v.keysExpire = now.Add(maxAge(resp.Header.Get("Cache-Control"), 5*time.Minute))
	return nil
}

func b64Int(s string) *big.Int {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil
	}
	return new(big.Int).SetBytes(b)
}

// maxAge reads max-age from a Cache-Control header.
func maxAge(cc string, def time.Duration) time.Duration {
	for _, d := range strings.Split(cc, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(d), "max-age="); ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	return def
}

// introspect asks keyward about token (RFC 7662), authenticated as this
// API's client with HTTP Basic (RFC 6749 section 2.3.1), and caches the
// answer.
func (v *Verifier) introspect(ctx context.Context, token string) (Principal, error) {
	sum := sha256.Sum256([]byte(token)) // the cache holds no token
	now := v.cfg.Now()
	v.answersMu.Lock()
	a, ok := v.answers[sum]
	v.answersMu.Unlock()
	if !ok || !now.Before(a.until) {
		var err error
		if a, err = v.askKeyward(ctx, token, now); err != nil {
			return Principal{}, err
		}
		v.answersMu.Lock()
		if len(v.answers) >= maxCached {
			for k, old := range v.answers {
				if !now.Before(old.until) {
					delete(v.answers, k)
				}
			}
			if len(v.answers) >= maxCached {
				clear(v.answers)
			}
		}
		v.answers[sum] = a
		v.answersMu.Unlock()
	}
	if !a.active {
		return Principal{}, fmt.Errorf("%w: inactive", ErrInvalidToken)
	}
	return a.p, nil
}

func (v *Verifier) askKeyward(ctx context.Context, token string, now time.Time) (cachedAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.introspectURL,
		strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		return cachedAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(v.cfg.ClientID), url.QueryEscape(v.cfg.ClientSecret))
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return cachedAnswer{}, fmt.Errorf("introspect: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return cachedAnswer{}, fmt.Errorf("introspect: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return cachedAnswer{}, fmt.Errorf("introspect: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	var out struct {
		Active    bool     `json:"active"`
		TokenType string   `json:"token_type"`
		ClientID  string   `json:"client_id"`
		OrgID     string   `json:"org_id"`
		Scope     string   `json:"scope"`
		Exp       *float64 `json:"exp"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return cachedAnswer{}, fmt.Errorf("introspect: %w", err)
	}
	if !out.Active {
		return cachedAnswer{until: now.Add(inactiveCache)}, nil
	}
	a := cachedAnswer{active: true, until: now.Add(maxActiveCache),
		p: Principal{ClientID: out.ClientID, OrgID: out.OrgID, Scopes: strings.Fields(out.Scope), Kind: out.TokenType}}
	if out.Exp != nil {
		a.p.Expiry = unix(*out.Exp)
		if a.p.Expiry.Before(a.until) {
			a.until = a.p.Expiry
		}
	}
	return a, nil
}
