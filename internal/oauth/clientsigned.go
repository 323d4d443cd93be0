package oauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/keyward/keyward/internal/store"
)

// Client-signed bearer tokens: a client with the setting on signs a short
// JWT itself and sends it straight to a resource server, which asks
// introspection whether it is active. Two shapes come from systems users
// migrate from: RS256 (PS256, ES256) with a registered public key, only
// iss, iat and exp, kid optional; and HS256 keyed by a client secret whose
// id (sks_...) is the kid, which is required.
//
// Only introspection accepts them. They are told from keyward's own access
// tokens before anything else: a JWT whose typ is at+jwt or whose iss is
// keyward's issuer is an access token or nothing (keys.Manager.Verify
// decides), and no client's id or issuer alias can be keyward's issuer. The
// token endpoint's assertions need aud, sub and jti, which these tokens
// lack, and the admin API takes only access tokens.

// tokenTypeClientSigned is the token_type of an active client-signed token.
const tokenTypeClientSigned = "client_signed_jwt"

// maxIssuerLength bounds the iss looked up: an alias is at most 256
// characters.
const maxIssuerLength = 1024

// Reasons of inactive answers that name no rule of the token itself. An iss
// that names a client of another organization reads exactly as one that
// names none, so that the answer tells nothing about other organizations.
const (
	reasonUnknownIssuer = "the token's iss is neither the id nor an issuer alias of a client this caller may see"
	reasonNotEnabled    = "client-signed tokens are not enabled for the client the token's iss names"
)

// inactiveBecause is RFC 7662's inactive answer with keyward's reason, one
// sentence for operators that names no secret.
func inactiveBecause(reason string) map[string]any {
	return map[string]any{"active": false, "keyward_reason": reason}
}

// clientSignedCandidate reports whether token may be a client-signed token:
// a compact JWS whose header and claims are JSON objects, whose typ is not
// at+jwt and whose iss is not keyward's issuer. It checks nothing else;
// parseJWT does, strictly.
func clientSignedCandidate(token, issuer string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	var header struct {
		Typ any `json:"typ"`
	}
	var claims struct {
		Iss any `json:"iss"`
	}
	if decodePart(parts[0], &header) != nil || decodePart(parts[1], &claims) != nil {
		return false
	}
	if typ, ok := header.Typ.(string); ok {
		if strings.TrimPrefix(strings.ToLower(typ), "application/") == "at+jwt" {
			return false
		}
	}
	iss, _ := claims.Iss.(string)
	return iss != issuer
}

func decodePart(part string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// introspectClientSigned answers for a client-signed token: the client its
// iss names, seen by the caller and with the setting on; HS256 with a kid;
// iat, exp (and nbf) within the rules and the client's max_lifetime; and a
// signature by one of the client's credentials, which come from the client
// cache. A refused token of a client with the setting on counts toward the
// client's limit of failed authentications.
func introspectClientSigned(r *http.Request, d TokenDeps, c caller, token string) (any, error) {
	a, err := parseJWT(token, "token")
	if err != nil {
		return inactiveBecause(err.Error()), nil
	}
	if a.alg == "HS256" && !a.hasKID {
		return inactiveBecause(missingKID), nil
	}
	if a.iss == "" {
		return inactiveBecause("the token has no iss claim; it must be the client id or one of the client's issuer aliases"), nil
	}
	if len(a.iss) > maxIssuerLength {
		return inactiveBecause(reasonUnknownIssuer), nil
	}
	client, err := d.Clients.ClientByIssuer(r.Context(), a.iss)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return inactiveBecause(reasonUnknownIssuer), nil
	case err != nil:
		return nil, unavailableOr(err)
	case !c.sees(client.OrganizationID, client.ID):
		return inactiveBecause(reasonUnknownIssuer), nil
	case !client.ClientSigned.Enabled:
		return inactiveBecause(reasonNotEnabled), nil
	}
	if reason := a.clientSignedRules(client, d); reason != "" {
		return d.clientSignedRefused(r, client.ID, reason), nil
	}
	credential, err := a.verify(d.Ring, client)
	if err != nil {
		reason := err.Error()
		if reason == authFailed {
			reason = a.unverified(client)
		}
		return d.clientSignedRefused(r, client.ID, reason), nil
	}
	d.Usage.Record(credential, d.Now())
	out := map[string]any{
		"active":     true,
		"token_type": tokenTypeClientSigned,
		"client_id":  client.ID,
		"iss":        a.iss,
		"iat":        a.iat.Unix(),
		"exp":        a.exp.Unix(),
		"scope":      joinScopes(client.Scopes),
	}
	if client.OrganizationID != "" {
		out["org_id"] = client.OrganizationID
	}
	return out, nil
}

// clientSignedRules applies the rules of time of a client-signed token and
// returns the first it breaks, or "". exp is required whatever the alg.
func (a assertion) clientSignedRules(c store.Client, d TokenDeps) string {
	now := d.Now()
	maxLifetime := c.ClientSigned.MaxLifetime
	switch {
	case a.exp == nil:
		return "the token has no exp claim"
	case a.iat == nil:
		return "the token has no iat claim"
	case !now.Before(*a.exp):
		return "the token has expired"
	case a.iat.After(now.Add(assertionSkew)):
		return "the token's iat is in the future"
	case a.exp.Sub(*a.iat).Seconds() > float64(maxLifetime):
		return fmt.Sprintf("the token's lifetime, exp - iat, is longer than the client's max_lifetime of %d seconds", maxLifetime)
	case a.nbf != nil && a.nbf.After(now.Add(assertionSkew)):
		return "the token is not valid yet: its nbf is in the future"
	}
	return ""
}

// unverified says why no credential of c verified a: what kid names, or
// that the signature fits none. It names credentials by id only.
func (a assertion) unverified(c store.Client) string {
	if a.alg == "HS256" {
		if c.AuthMethod != store.AuthClientSecret {
			return "the client has no client secrets to key HS256 with; sign with a registered key (RS256, PS256 or ES256)"
		}
		for _, s := range c.Secrets {
			if s.ID == a.kid && s.Status == store.SecretActive {
				return "the token's signature does not verify with the secret its kid names"
			}
		}
		return "the token's kid names no active secret of the client"
	}
	if c.AuthMethod != store.AuthPrivateKeyJWT {
		return "the client has no registered keys; sign HS256 with a client secret, naming it in kid"
	}
	if a.hasKID {
		for _, k := range c.Keys {
			if k.Answers(a.kid) {
				return "the token's signature does not verify with the registered key its kid names"
			}
		}
		return "the token's kid names no registered key of the client"
	}
	return "the token's signature does not verify with any registered " + a.alg + " key of the client"
}

// clientSignedRefused logs, audits and counts a refused client-signed token
// of client clientID, which has the setting on, and returns the inactive
// answer. Only the client's limit counts it: the source is the resource
// server, which merely passes on what it was sent.
func (d TokenDeps) clientSignedRefused(r *http.Request, clientID, reason string) map[string]any {
	source := SourceAddress(r)
	d.Log.LogAttrs(r.Context(), slog.LevelInfo, "client-signed token refused",
		slog.String("client_id", clientID), slog.String("source", source), slog.String("reason", reason))
	if d.Failures != nil {
		d.Failures.AuthFailed(clientID, source, "client-signed token: "+reason, d.Now())
	}
	if d.FailuresByClient != nil {
		d.FailuresByClient.Add(clientID)
	}
	return inactiveBecause(reason)
}
