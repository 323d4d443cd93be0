// Package admin owns the admin API under /api/v1: organizations, their
// clients and secrets, and the signing keys, for admin tooling holding an
// access token with keyward:admin or keyward:org:admin.
package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/jsonhttp"
	"github.com/keyward/keyward/internal/keys"
	"github.com/keyward/keyward/internal/scope"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

// KeyManager is what the admin API needs of the signing keys.
type KeyManager interface {
	Verify(token, issuer string) (keys.Verified, error)
	Keys() []store.SigningKey
	NextRotation() (time.Time, bool)
	Rotate(ctx context.Context) error
	Revoke(ctx context.Context, kid string) error
}

// Deps is what every admin handler may use.
type Deps struct {
	Log    *slog.Logger
	Store  *store.Store
	Keys   KeyManager
	Ring   *secret.Keyring
	Issuer string
	// MaxExpiry is the largest token expiry a client may have, in seconds.
	MaxExpiry int
	Now       func() time.Time
	// ClientChanged, when set, is told of every client whose row or secrets
	// an admin request changed, once the change is committed: this
	// replica's token path then sees it at once (other replicas learn of it
	// from the database's change notifications).
	ClientChanged func(clientID string)
}

func (d Deps) now() time.Time { return d.Now().UTC() }

func (d Deps) clientChanged(id string) {
	if d.ClientChanged != nil {
		d.ClientChanged(id)
	}
}

// principal is the authenticated caller of an admin request.
type principal struct {
	clientID string
	orgID    string
	scopes   []string
	envAdmin bool
	orgAdmin bool
}

type principalKey struct{}

func principalFrom(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}

// canSee reports whether the caller may manage organization orgID.
func (p principal) canSee(orgID string) bool {
	return p.envAdmin || (p.orgAdmin && p.orgID != "" && p.orgID == orgID)
}

// errUnauthorized is a 401 with an RFC 6750 challenge. Without a token the
// challenge carries no error code (section 3.1); descriptions are keyward's
// own sentences, which contain no quotes.
func errUnauthorized(desc string, tokenGiven bool) *jsonhttp.Error {
	e := jsonhttp.NewError(http.StatusUnauthorized, "unauthorized", desc)
	if !tokenGiven {
		return e.With("WWW-Authenticate", `Bearer realm="keyward"`)
	}
	return e.With("WWW-Authenticate", `Bearer realm="keyward", error="invalid_token", error_description="`+
		strings.ReplaceAll(desc, `"`, "'")+`"`)
}

func errForbidden(desc string) *jsonhttp.Error {
	return jsonhttp.NewError(http.StatusForbidden, "forbidden", desc)
}

func errNotFound(desc string) *jsonhttp.Error {
	return jsonhttp.NewError(http.StatusNotFound, "not_found", desc)
}

func errConflict(desc string) *jsonhttp.Error {
	return jsonhttp.NewError(http.StatusConflict, "conflict", desc)
}

func errInvalid(desc string) *jsonhttp.Error {
	return jsonhttp.NewError(http.StatusBadRequest, "invalid_request", desc)
}

// storeError maps a store error to the admin API's answer; notFound is the
// description of a missing row.
func storeError(err error, notFound string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errNotFound(notFound)
	case errors.Is(err, store.ErrUnavailable):
		return jsonhttp.Unavailable()
	}
	return err
}

// Authenticate checks the bearer token of every admin request: an access
// token issued by this server, for a client that still exists. The caller
// is then available to the handlers.
func Authenticate(d Deps) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := authenticate(r, d)
			if err != nil {
				jsonhttp.WriteError(w, r, d.Log, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
		})
	}
}

func authenticate(r *http.Request, d Deps) (principal, error) {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if h == "" {
		return principal{}, errUnauthorized("an access token is required: Authorization: Bearer <token>", false)
	}
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return principal{}, errUnauthorized("the Authorization header must be Bearer <access token>", false)
	}
	v, err := d.Keys.Verify(strings.TrimSpace(h[len(prefix):]), d.Issuer)
	if err != nil {
		return principal{}, errUnauthorized(err.Error(), true)
	}
	// The admin API is a resource server whose identifier is the issuer: a
	// token minted for another audience is not for it (RFC 9068 4).
	if !slices.Contains(v.Audience, d.Issuer) {
		return principal{}, errUnauthorized("the token's audience is not this server ("+d.Issuer+")", true)
	}
	// A revoked token (RFC 7009) stops working at once on the admin API.
	if revoked, err := d.Store.TokenRevoked(r.Context(), v.JTI); err != nil {
		return principal{}, storeError(err, "")
	} else if revoked {
		return principal{}, errUnauthorized("the token has been revoked", true)
	}
	// A deleted client's tokens stop working at once on the admin API.
	c, err := d.Store.ClientByID(r.Context(), v.Subject)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return principal{}, errUnauthorized("the token's client no longer exists", true)
		}
		return principal{}, storeError(err, "")
	}
	p := principal{clientID: c.ID, orgID: v.OrgID, scopes: strings.Fields(v.Scope)}
	// The token's scopes count only while the client still holds them.
	p.envAdmin = slices.Contains(p.scopes, scope.Admin) && slices.Contains(c.Scopes, scope.Admin)
	p.orgAdmin = slices.Contains(p.scopes, scope.OrgAdmin) && slices.Contains(c.Scopes, scope.OrgAdmin) &&
		v.OrgID != "" && v.OrgID == c.OrganizationID
	return p, nil
}

// RequireAdmin refuses callers with neither admin scope.
func RequireAdmin(d Deps) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := principalFrom(r.Context())
			if !p.envAdmin && !p.orgAdmin {
				jsonhttp.WriteError(w, r, d.Log, errForbidden("the token lacks the keyward:admin or keyward:org:admin scope"))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// handler adapts a function that returns its response or an error.
func handler(d Deps, fn func(r *http.Request) (int, any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, v, err := fn(r)
		if err != nil {
			jsonhttp.WriteError(w, r, d.Log, err)
			return
		}
		if status == http.StatusNoContent {
			w.WriteHeader(status)
			return
		}
		jsonhttp.Write(w, status, v)
	})
}

// HandleWhoami serves GET /api/v1/whoami: who the token belongs to.
func HandleWhoami(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		p := principalFrom(r.Context())
		var org *string
		if p.orgID != "" {
			org = &p.orgID
		}
		return http.StatusOK, map[string]any{
			"message":         "authenticated as " + p.clientID,
			"client_id":       p.clientID,
			"organization_id": org,
			"scopes":          nonNil(p.scopes),
			"time":            formatTime(d.now()),
		}, nil
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func formatTimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := formatTime(*t)
	return &s
}

func isConflict(err error) bool { return errors.Is(err, store.ErrConflict) }
func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
