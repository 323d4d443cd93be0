// Package oauth owns keyward's OAuth 2.0 endpoints under /oauth: parsing
// their requests, authenticating clients (client secrets, and RFC 7523
// client assertions: private_key_jwt and client_secret_jwt), issuing RFC
// 9068 access tokens for the client credentials grant (RFC 6749 section
// 4.4) and the jwt-bearer grant (RFC 7523 section 2.1), token introspection
// (RFC 7662) and revocation (RFC 7009).
package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/keyward/keyward/internal/jsonhttp"
	"github.com/keyward/keyward/internal/keys"
	"github.com/keyward/keyward/internal/ratelimit"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

// ClientFinder looks up a client with its credentials by id, or by the iss
// of a client-signed token (its id or one of its issuer aliases). Both
// return an error wrapping store.ErrNotFound for an unknown client and
// store.ErrUnavailable when the database cannot be reached.
type ClientFinder interface {
	ClientByID(ctx context.Context, id string) (store.Client, error)
	ClientByIssuer(ctx context.Context, iss string) (store.Client, error)
}

// Signer signs the claims of an access token.
type Signer interface {
	Sign(payload []byte) (string, error)
}

// UsageRecorder notes that a credential (a secret, a registered key or an
// API key) authenticated a request.
type UsageRecorder interface {
	Record(id string, t time.Time)
}

// Store is what the /oauth endpoints need of the database besides clients:
// the replay store of assertions, revoked tokens and API keys. Its methods
// return errors wrapping store.ErrNotFound and store.ErrUnavailable.
type Store interface {
	UseAssertionJTI(ctx context.Context, clientID, jti string, exp, now time.Time) (bool, error)
	RevokeToken(ctx context.Context, jti, clientID string, exp, now time.Time) error
	TokenRevoked(ctx context.Context, jti string) (bool, error)
	APIKeyByHash(ctx context.Context, hashes [][]byte) (store.APIKey, store.Client, error)
	SetAPIKeyStatus(ctx context.Context, orgID, clientID, keyID, status string, now time.Time) (store.APIKey, error)
}

// TokenVerifier checks access tokens this server issued.
type TokenVerifier interface {
	Verify(token, issuer string) (keys.Verified, error)
}

// TokenDeps is what the /oauth endpoints need: the token endpoint, and
// introspection and revocation, which authenticate their callers the same
// way.
type TokenDeps struct {
	Log     *slog.Logger
	Issuer  string
	Clients ClientFinder
	Ring    *secret.Keyring
	Signer  Signer
	Usage   UsageRecorder
	Now     func() time.Time
	// Store records assertions' jti and revoked tokens and finds API keys.
	Store Store
	// Tokens verifies the access tokens introspection and revocation are
	// asked about.
	Tokens TokenVerifier
	// FailuresBySource and FailuresByClient limit failed client
	// authentications per source address and per client id; nil limits
	// nothing.
	FailuresBySource *ratelimit.Limiter
	FailuresByClient *ratelimit.Limiter
	// Failures, when set, is told of every failed client authentication
	// (for the audit log).
	Failures FailureRecorder
	// Observer, when set, is told of every token request's outcome.
	Observer TokenObserver
}

// TokenObserver counts token requests. grant is a supported grant type or
// "other"; result is "ok" or the OAuth error code.
type TokenObserver interface {
	TokenRequest(grant, result string, d time.Duration)
}

// grantLabel keeps metric labels to a known set, whatever callers send.
func grantLabel(g string) string {
	switch g {
	case grantClientCredentials, grantJWTBearer:
		return g
	}
	return "other"
}

// FailureRecorder notes a failed client authentication. It must not block.
type FailureRecorder interface {
	AuthFailed(clientID, source, reason string, t time.Time)
}

// HandleToken serves POST /oauth/token.
func HandleToken(d TokenDeps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
		source := SourceAddress(r)
		var resp tokenResponse
		var err error
		if wait, blocked := d.blocked(source); blocked {
			err = rateLimited(wait)
		} else {
			resp, err = issueToken(r, d)
		}
		result := "ok"
		if err != nil {
			var e *jsonhttp.Error
			if errors.As(err, &e) && (e.Code == "invalid_client" || e.Code == "invalid_grant") {
				err = d.authFailed(r, resp.clientID, source, e)
			}
			result = "internal_error"
			if errors.As(err, &e) {
				result = e.Code
			}
			jsonhttp.WriteError(w, r, d.Log, err)
		} else {
			jsonhttp.Write(w, http.StatusOK, resp)
		}
		if d.Observer != nil {
			d.Observer.TokenRequest(grantLabel(resp.grant), result, time.Since(start))
		}
	})
}

func (d TokenDeps) blocked(source string) (time.Duration, bool) {
	if d.FailuresBySource == nil {
		return 0, false
	}
	return d.FailuresBySource.Blocked(source)
}

// authFailed logs, audits and counts a failed client authentication. A
// source or client over its limit gets 429 instead of 401: the answer
// tells nothing about the credentials, and a client's rightful owner is
// never locked out, since a request that authenticates is never counted.
func (d TokenDeps) authFailed(r *http.Request, clientID, source string, e *jsonhttp.Error) error {
	clientID = truncate(clientID, 128)
	d.Log.LogAttrs(r.Context(), slog.LevelInfo, "client authentication failed",
		slog.String("client_id", clientID), slog.String("source", source), slog.String("reason", e.Description))
	if d.Failures != nil {
		d.Failures.AuthFailed(clientID, source, e.Description, d.Now())
	}
	var wait time.Duration
	over := false
	if d.FailuresBySource != nil {
		w, o := d.FailuresBySource.Add(source)
		wait, over = max(wait, w), over || o
	}
	if d.FailuresByClient != nil && clientID != "" {
		w, o := d.FailuresByClient.Add(clientID)
		wait, over = max(wait, w), over || o
	}
	if over {
		return rateLimited(wait)
	}
	return e
}

// SourceAddress is the address a request came from: the peer's IP.
// (Behind a proxy, every request shares the proxy's address; limits are
// then per proxy.)
func SourceAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`

	clientID string // for the log line of a failed authentication
	grant    string // for metrics
}

func issueToken(r *http.Request, d TokenDeps) (tokenResponse, error) {
	req, err := parseTokenRequest(r)
	failed := tokenResponse{clientID: req.auth.clientID, grant: req.grantType}
	if err != nil {
		return failed, err
	}
	if req.grantType != grantClientCredentials && req.grantType != grantJWTBearer {
		return failed, unsupportedGrantType("the grant_type " + quote(req.grantType) + " is not supported; use client_credentials or " + grantJWTBearer)
	}
	client, claimed, err := authenticate(r.Context(), d, req.auth, d.Issuer+"/oauth/token")
	failed.clientID = claimed
	if err != nil {
		return failed, err
	}
	if req.grantType == grantJWTBearer && client.AuthMethod != store.AuthPrivateKeyJWT {
		return failed, unauthorizedClient("the grant_type " + grantJWTBearer + " is for private_key_jwt clients; use client_credentials")
	}
	if req.contextGiven && !client.InjectContextIdentifier {
		return failed, invalidRequest("context_identifier is not allowed for this client; an admin may set inject_context_identifier on it")
	}
	scopes, err := grantScopes(client, req)
	if err != nil {
		return failed, err
	}
	aud, err := grantAudience(client, req.audience)
	if err != nil {
		return failed, err
	}

	now := d.Now()
	payload := accessClaims(d.Issuer, client, scopes, aud, req.contextID, now)
	tok, err := d.Signer.Sign(payload)
	if errors.Is(err, keys.ErrNoActiveKey) {
		return failed, jsonhttp.Unavailable()
	}
	if err != nil {
		return failed, err
	}
	return tokenResponse{
		AccessToken: tok,
		TokenType:   "Bearer",
		ExpiresIn:   client.Expiry,
		Scope:       joinScopes(scopes),
		grant:       req.grantType,
	}, nil
}

// authenticate authenticates the client of a request by the one method it
// used. endpoint is the URL the request was sent to. It returns the client
// and the client id the request claimed (for the log of a failure).
func authenticate(ctx context.Context, d TokenDeps, auth clientAuth, endpoint string) (store.Client, string, error) {
	if auth.method == methodAssertion || auth.method == methodGrant {
		return authenticateAssertion(ctx, d, auth, endpoint)
	}
	c, err := authenticateSecret(ctx, d, auth)
	return c, auth.clientID, err
}

// authenticateSecret finds the client and checks its secret against every
// active secret's keyed hash. An unknown client, a wrong secret and an
// inactive secret all return the same invalid_client error.
func authenticateSecret(ctx context.Context, d TokenDeps, req clientAuth) (store.Client, error) {
	basic := req.basic()
	if req.clientID == "" {
		return store.Client{}, invalidClient("client_id is missing", basic)
	}
	if len(req.clientID) > 256 || len(req.secret) > 512 {
		return store.Client{}, invalidClient(authFailed, basic)
	}
	client, err := d.Clients.ClientByID(ctx, req.clientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Spend the time a real check would, so timing does not tell
		// whether the client exists.
		d.Ring.Verify(req.secret, nil, d.Ring.PrimaryID())
		return store.Client{}, invalidClient(authFailed, basic)
	case errors.Is(err, store.ErrUnavailable):
		return store.Client{}, jsonhttp.Unavailable()
	case err != nil:
		return store.Client{}, err
	}
	if client.AuthMethod == store.AuthAPIKey {
		return store.Client{}, apiKeyClient()
	}
	for _, s := range client.Secrets {
		if s.Status == store.SecretActive && d.Ring.Verify(req.secret, s.Hash, s.KEKID) {
			if client.AuthMethod != store.AuthClientSecret {
				return store.Client{}, unauthorizedClient("this client may not use " + req.method)
			}
			d.Usage.Record(s.ID, d.Now())
			return client, nil
		}
	}
	return store.Client{}, invalidClient(authFailed, basic)
}

func grantScopes(c store.Client, req tokenRequest) ([]string, error) {
	if !req.scopeGiven || len(req.scopes) == 0 {
		return c.Scopes, nil
	}
	granted := make([]string, 0, len(req.scopes))
	for _, s := range req.scopes {
		if !slices.Contains(c.Scopes, s) {
			return nil, invalidScope("the scope " + quote(s) + " is not registered for this client")
		}
		if !slices.Contains(granted, s) {
			granted = append(granted, s)
		}
	}
	return granted, nil
}

func grantAudience(c store.Client, asked []string) ([]string, error) {
	if len(asked) == 0 {
		return c.Audience, nil
	}
	granted := make([]string, 0, len(asked))
	for _, a := range asked {
		if !slices.Contains(c.Audience, a) {
			return nil, invalidTarget("the audience " + quote(a) + " is not registered for this client")
		}
		if !slices.Contains(granted, a) {
			granted = append(granted, a)
		}
	}
	return granted, nil
}

func joinScopes(s []string) string {
	var b bytes.Buffer
	for i, v := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(v)
	}
	return b.String()
}

// claims are the RFC 9068 claims of every access token, in a fixed order.
type claims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience any    `json:"aud"`
	IssuedAt int64  `json:"iat"`
	NotBef   int64  `json:"nbf"`
	Expiry   int64  `json:"exp"`
	JTI      string `json:"jti"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope,omitempty"`
	OrgID    string `json:"org_id,omitempty"`
	// Context is the request's context_identifier, for clients that
	// inject it.
	Context string `json:"ctx,omitempty"`
}

// accessClaims encodes the token's claims, then the client's custom claims
// as top-level strings (their keys were checked not to collide at write).
func accessClaims(issuer string, c store.Client, scopes, aud []string, contextID string, now time.Time) []byte {
	cl := claims{
		Issuer:   issuer,
		Subject:  c.ID,
		IssuedAt: now.Unix(),
		NotBef:   now.Unix(),
		Expiry:   now.Add(time.Duration(c.Expiry) * time.Second).Unix(),
		JTI:      secret.NewID(""),
		ClientID: c.ID,
		Scope:    joinScopes(scopes),
		OrgID:    c.OrganizationID,
		Context:  contextID,
	}
	switch len(aud) {
	case 0:
		cl.Audience = issuer
	case 1:
		cl.Audience = aud[0]
	default:
		cl.Audience = aud
	}
	b, _ := json.Marshal(cl) // strings and numbers only: cannot fail
	if len(c.CustomClaims) == 0 {
		return b
	}
	out := bytes.NewBuffer(b[:len(b)-1])
	for _, cc := range c.CustomClaims {
		k, _ := json.Marshal(cc.Key)
		v, _ := json.Marshal(cc.Value)
		out.WriteByte(',')
		out.Write(k)
		out.WriteByte(':')
		out.Write(v)
	}
	out.WriteByte('}')
	return out.Bytes()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
