package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/jsonhttp"
	"github.com/keyward/keyward/internal/scope"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

// Introspection (RFC 7662) and revocation (RFC 7009). The caller
// authenticates as a client exactly as at the token endpoint. What it may
// see and revoke:
//
//   - a client holding keyward:admin (an environment admin): every token
//     and API key;
//   - any other client: tokens and API keys of its own organization (an
//     organization-less client: its own tokens only), and it may revoke its
//     own tokens, or, holding keyward:org:admin, any of its organization.
//
// A token the caller may not see introspects {"active": false} and a token
// it may not revoke is left alone with a 200, exactly as an invalid token:
// the answers tell nothing about other organizations' tokens.
//
// Introspection also answers for tokens a client signed itself
// (clientsigned.go), which nothing else accepts.

// maxQueriedToken bounds the token a caller asks about; keyward's tokens
// and API keys are far smaller.
const maxQueriedToken = 8 << 10

// HandleIntrospect serves POST /oauth/introspect.
func HandleIntrospect(d TokenDeps) http.Handler {
	return d.tokenEndpoint("/oauth/introspect", introspect)
}

// HandleRevoke serves POST /oauth/revoke.
func HandleRevoke(d TokenDeps) http.Handler {
	return d.tokenEndpoint("/oauth/revoke", revoke)
}

// caller is the authenticated client of an introspection or revocation.
type caller struct {
	store.Client
}

func (c caller) envAdmin() bool { return slices.Contains(c.Scopes, scope.Admin) }

// sees reports whether the caller may learn about a token or API key of
// client clientID in organization orgID.
func (c caller) sees(orgID, clientID string) bool {
	return c.envAdmin() || c.ID == clientID || (c.OrganizationID != "" && c.OrganizationID == orgID)
}

// mayRevoke reports whether the caller may revoke a token or API key of
// client clientID in organization orgID.
func (c caller) mayRevoke(orgID, clientID string) bool {
	return c.envAdmin() || c.ID == clientID ||
		(c.OrganizationID != "" && c.OrganizationID == orgID && slices.Contains(c.Scopes, scope.OrgAdmin))
}

// tokenEndpoint is the frame of introspection and revocation: headers, the
// limits on failed client authentication, parsing, authenticating the
// caller, and writing the answer (none for a nil body).
func (d TokenDeps) tokenEndpoint(path string, serve func(r *http.Request, d TokenDeps, c caller, token string) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
		source := SourceAddress(r)
		if wait, blocked := d.blocked(source); blocked {
			jsonhttp.WriteError(w, r, d.Log, rateLimited(wait))
			return
		}
		q, err := parseTokenQuery(r)
		claimed := q.auth.clientID
		var body any
		if err == nil {
			var client store.Client
			client, claimed, err = authenticate(r.Context(), d, q.auth, d.Issuer+path)
			switch {
			case err != nil:
			case q.tokenErr != nil:
				err = q.tokenErr
			default:
				body, err = serve(r, d, caller{client}, q.token)
			}
		}
		if err != nil {
			var e *jsonhttp.Error
			if errors.As(err, &e) && e.Code == "invalid_client" {
				err = d.authFailed(r, claimed, source, e)
			}
			jsonhttp.WriteError(w, r, d.Log, err)
			return
		}
		if body == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		jsonhttp.Write(w, http.StatusOK, body)
	})
}

// inactive is RFC 7662's answer for a token that is not active, or that the
// caller may not see.
var inactive = map[string]any{"active": false}

func introspect(r *http.Request, d TokenDeps, c caller, token string) (any, error) {
	ctx := r.Context()
	if len(token) > maxQueriedToken {
		return inactive, nil
	}
	if strings.HasPrefix(token, secret.APIKeyPrefix) {
		return introspectAPIKey(ctx, d, c, token)
	}
	v, err := d.Tokens.Verify(token, d.Issuer)
	if err != nil {
		if clientSignedCandidate(token, d.Issuer) {
			return introspectClientSigned(r, d, c, token)
		}
		return inactive, nil
	}
	now := d.Now()
	// Verify tolerates clock skew past exp, as a resource server should;
	// introspection answers for keyward's own clock.
	if !now.Before(time.Unix(v.Expiry, 0)) || !c.sees(v.OrgID, v.ClientID) {
		return inactive, nil
	}
	revoked, err := d.Store.TokenRevoked(ctx, v.JTI)
	if err != nil {
		return nil, unavailableOr(err)
	}
	if revoked {
		return inactive, nil
	}
	// A deleted client's tokens are no longer active here, as on the
	// admin API.
	if _, err := d.Clients.ClientByID(ctx, v.ClientID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return inactive, nil
		}
		return nil, unavailableOr(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(v.Claims, &claims); err != nil {
		return inactive, nil
	}
	claims["active"] = true
	claims["token_type"] = "Bearer"
	return claims, nil
}

func introspectAPIKey(ctx context.Context, d TokenDeps, c caller, token string) (any, error) {
	k, owner, err := d.Store.APIKeyByHash(ctx, d.Ring.HashAll(token))
	if errors.Is(err, store.ErrNotFound) {
		return inactive, nil
	}
	if err != nil {
		return nil, unavailableOr(err)
	}
	now := d.Now()
	if k.Status != store.SecretActive || (k.ExpireTime != nil && !now.Before(*k.ExpireTime)) ||
		owner.AuthMethod != store.AuthAPIKey || !c.sees(owner.OrganizationID, owner.ID) {
		return inactive, nil
	}
	d.Usage.Record(k.ID, now)
	out := map[string]any{
		"active":     true,
		"token_type": "api_key",
		"client_id":  owner.ID,
		"sub":        owner.ID,
		"scope":      joinScopes(owner.Scopes),
		"iat":        k.CreateTime.Unix(),
		"iss":        d.Issuer,
	}
	if owner.OrganizationID != "" {
		out["org_id"] = owner.OrganizationID
	}
	if k.ExpireTime != nil {
		out["exp"] = k.ExpireTime.Unix()
	}
	if len(owner.Audience) > 0 {
		out["aud"] = owner.Audience
	}
	return out, nil
}

func revoke(r *http.Request, d TokenDeps, c caller, token string) (any, error) {
	ctx := r.Context()
	if len(token) > maxQueriedToken {
		return nil, nil
	}
	now := d.Now()
	if strings.HasPrefix(token, secret.APIKeyPrefix) {
		k, owner, err := d.Store.APIKeyByHash(ctx, d.Ring.HashAll(token))
		if errors.Is(err, store.ErrNotFound) || (err == nil && !c.mayRevoke(owner.OrganizationID, owner.ID)) {
			return nil, nil
		}
		if err != nil {
			return nil, unavailableOr(err)
		}
		_, err = d.Store.SetAPIKeyStatus(ctx, owner.OrganizationID, owner.ID, k.ID, store.SecretInactive, now)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, unavailableOr(err)
		}
		return nil, nil
	}
	v, err := d.Tokens.Verify(token, d.Issuer)
	if err != nil || v.JTI == "" || !c.mayRevoke(v.OrgID, v.ClientID) {
		return nil, nil // RFC 7009 section 2.2: an invalid token is no error
	}
	err = d.Store.RevokeToken(ctx, v.JTI, v.ClientID, time.Unix(v.Expiry, 0), now)
	if err != nil && !errors.Is(err, store.ErrNotFound) { // a deleted client's tokens are dead already
		return nil, unavailableOr(err)
	}
	return nil, nil
}

// unavailableOr maps a database outage to 503; other errors stay 500s.
func unavailableOr(err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return jsonhttp.Unavailable()
	}
	return err
}
