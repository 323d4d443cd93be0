package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/keyward/keyward/internal/scope"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

type clientView struct {
	ClientID                string              `json:"client_id"`
	OrganizationID          string              `json:"organization_id"`
	Name                    string              `json:"name"`
	Description             string              `json:"description"`
	AuthMethod              string              `json:"auth_method"`
	InjectContextIdentifier bool                `json:"inject_context_identifier"`
	Scopes                  []string            `json:"scopes"`
	Audience                []string            `json:"audience"`
	CustomClaims            []store.CustomClaim `json:"custom_claims"`
	Expiry                  int                 `json:"expiry"`
	ClientSignedTokens      clientSignedView    `json:"client_signed_tokens"`
	Secrets                 []secretView        `json:"secrets"`
	CreateTime              string              `json:"create_time"`
	UpdateTime              string              `json:"update_time"`
}

// clientSignedView is a client's setting for bearer tokens it signs itself.
type clientSignedView struct {
	Enabled       bool     `json:"enabled"`
	IssuerAliases []string `json:"issuer_aliases"`
	MaxLifetime   int      `json:"max_lifetime"`
}

type secretView struct {
	ID           string  `json:"id"`
	CreateTime   string  `json:"create_time"`
	UpdateTime   string  `json:"update_time"`
	SecretSuffix string  `json:"secret_suffix"`
	Status       string  `json:"status"`
	LastUsedTime *string `json:"last_used_time"`
}

func viewSecret(s store.Secret) secretView {
	return secretView{ID: s.ID, CreateTime: formatTime(s.CreateTime), UpdateTime: formatTime(s.UpdateTime),
		SecretSuffix: s.Suffix, Status: s.Status, LastUsedTime: formatTimePtr(s.LastUsedTime)}
}

func viewClient(c store.Client) clientView {
	v := clientView{
		ClientID: c.ID, OrganizationID: c.OrganizationID, Name: c.Name, Description: c.Description,
		AuthMethod: c.AuthMethod, InjectContextIdentifier: c.InjectContextIdentifier,
		Scopes: nonNil(c.Scopes), Audience: nonNil(c.Audience),
		CustomClaims: c.CustomClaims, Expiry: c.Expiry, Secrets: []secretView{},
		CreateTime: formatTime(c.CreateTime), UpdateTime: formatTime(c.UpdateTime),
		ClientSignedTokens: clientSignedView{Enabled: c.ClientSigned.Enabled,
			IssuerAliases: nonNil(c.ClientSigned.IssuerAliases), MaxLifetime: c.ClientSigned.MaxLifetime},
	}
	if v.CustomClaims == nil {
		v.CustomClaims = []store.CustomClaim{}
	}
	for _, s := range c.Secrets {
		v.Secrets = append(v.Secrets, viewSecret(s))
	}
	return v
}

const clientNotFound = "client not found"

var clientFields = []string{"name", "description", "scopes", "audience", "custom_claims", "expiry", "inject_context_identifier",
	"client_signed_tokens"}

// authMethods are the values of a client's auth_method, which is chosen at
// creation and never changes: a client's credentials are of one kind.
var authMethods = []string{store.AuthClientSecret, store.AuthPrivateKeyJWT, store.AuthAPIKey}

// reservedClaims may not be custom claims: they are registered JWT claims,
// claims keyward sets itself (ctx: the context identifier), members of
// introspection answers, or claims resource servers give meaning to.
var reservedClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true,
	"client_id": true, "scope": true, "org_id": true, "cnf": true, "act": true, "azp": true,
	"may_act": true, "auth_time": true, "acr": true, "amr": true, "nonce": true, "sid": true,
	"typ": true, "ctx": true, "token_type": true, "roles": true, "groups": true, "entitlements": true,
	// Introspection answers with a token's claims beside its own members.
	"active": true,
}

var claimName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$`)

const (
	maxScopes       = 100
	maxAudience     = 20
	maxCustomClaims = 20
	defaultExpiry   = 3600
	minExpiry       = 60
)

// applyClientFields validates the fields present in body and sets them on c.
// mayHoldReserved says whether the caller may set one of keyward's own scopes.
func (d Deps) applyClientFields(body object, c *store.Client, mayHoldReserved func(string) bool) error {
	if body.has("name") {
		s, err := body.str("name")
		if err != nil {
			return err
		}
		if err := checkText("name", s, 1, 256); err != nil {
			return err
		}
		c.Name = s
	}
	if body.has("description") {
		s := ""
		if !body.isNull("description") {
			var err error
			if s, err = body.str("description"); err != nil {
				return err
			}
		}
		if err := checkText("description", s, 0, 1024); err != nil {
			return err
		}
		c.Description = s
	}
	if body.has("scopes") {
		scopes, err := body.strings("scopes")
		if err != nil {
			return err
		}
		if err := checkScopes(scopes, mayHoldReserved); err != nil {
			return err
		}
		c.Scopes = scopes
	}
	if body.has("audience") {
		aud, err := body.strings("audience")
		if err != nil {
			return err
		}
		if err := checkAudience(aud); err != nil {
			return err
		}
		c.Audience = aud
	}
	if body.has("custom_claims") {
		cc, err := customClaims(body)
		if err != nil {
			return err
		}
		c.CustomClaims = cc
	}
	if body.has("expiry") {
		n, err := body.integer("expiry")
		if err != nil {
			return err
		}
		if n < minExpiry || n > d.MaxExpiry {
			return fieldError("expiry", fmt.Sprintf("must be from %d to %d seconds", minExpiry, d.MaxExpiry))
		}
		c.Expiry = n
	}
	if body.has("inject_context_identifier") {
		b, err := body.boolean("inject_context_identifier")
		if err != nil {
			return err
		}
		c.InjectContextIdentifier = b
	}
	if body.has("client_signed_tokens") {
		if err := d.applyClientSigned(body, c); err != nil {
			return err
		}
	}
	return nil
}

func checkScopes(scopes []string, mayHoldReserved func(string) bool) error {
	if len(scopes) > maxScopes {
		return fieldError("scopes", fmt.Sprintf("must have at most %d entries", maxScopes))
	}
	for i, s := range scopes {
		name := fmt.Sprintf("scopes[%d]", i)
		if !scope.ValidToken(s) || len(s) > 256 {
			return fieldError(name, fmt.Sprintf("%q is not a valid scope token (printable ASCII without spaces, quotes or backslashes, at most 256)", s))
		}
		if slices.Index(scopes, s) != i {
			return fieldError(name, fmt.Sprintf("%q appears more than once", s))
		}
		if strings.HasPrefix(s, scope.ReservedPrefix) {
			if !scope.Known(s) {
				return fieldError(name, fmt.Sprintf("%q is not one of keyward's scopes (%s, %s)", s, scope.Admin, scope.OrgAdmin))
			}
			if !mayHoldReserved(s) {
				return errForbidden(name + ": only an environment admin may register scopes starting with " + scope.ReservedPrefix)
			}
		}
	}
	return nil
}

func checkAudience(aud []string) error {
	if len(aud) > maxAudience {
		return fieldError("audience", fmt.Sprintf("must have at most %d entries", maxAudience))
	}
	for i, a := range aud {
		name := fmt.Sprintf("audience[%d]", i)
		if err := checkText(name, a, 1, 256); err != nil {
			return err
		}
		if strings.ContainsAny(a, " \t\n") {
			return fieldError(name, "must not contain whitespace")
		}
		if slices.Index(aud, a) != i {
			return fieldError(name, fmt.Sprintf("%q appears more than once", a))
		}
	}
	return nil
}

func customClaims(body object) ([]store.CustomClaim, error) {
	var raw []json.RawMessage
	if body.isNull("custom_claims") || json.Unmarshal(body["custom_claims"], &raw) != nil {
		return nil, fieldError("custom_claims", `must be an array of {"key": ..., "value": ...} objects`)
	}
	if len(raw) > maxCustomClaims {
		return nil, fieldError("custom_claims", fmt.Sprintf("must have at most %d entries", maxCustomClaims))
	}
	out := make([]store.CustomClaim, 0, len(raw))
	for i, r := range raw {
		name := fmt.Sprintf("custom_claims[%d]", i)
		var o map[string]json.RawMessage
		if json.Unmarshal(r, &o) != nil || o == nil {
			return nil, fieldError(name, `must be an object {"key": ..., "value": ...}`)
		}
		el := object(o)
		for k := range el {
			if k != "key" && k != "value" {
				return nil, fieldError(name, fmt.Sprintf("unknown field %q; allowed: key, value", k))
			}
		}
		if !el.has("key") || !el.has("value") {
			return nil, fieldError(name, "needs both key and value")
		}
		key, err := el.str("key")
		if err != nil {
			return nil, fieldError(name+".key", "must be a string")
		}
		value, err := el.str("value")
		if err != nil {
			return nil, fieldError(name+".value", "must be a string")
		}
		if !claimName.MatchString(key) {
			return nil, fieldError(name+".key", fmt.Sprintf("%q is not a claim name (a letter or _, then up to 63 of letters, digits, _ . : -)", key))
		}
		if reservedClaims[key] {
			return nil, fieldError(name+".key", fmt.Sprintf("%q is a registered or reserved claim", key))
		}
		if err := checkText(name+".value", value, 0, 1024); err != nil {
			return nil, err
		}
		for _, prev := range out {
			if prev.Key == key {
				return nil, fieldError(name+".key", fmt.Sprintf("%q appears more than once", key))
			}
		}
		out = append(out, store.CustomClaim{Key: key, Value: value})
	}
	return out, nil
}

// newSecret makes a new plain secret for clientID and the row that stores it.
func (d Deps) newSecret(clientID string) (store.Secret, string) {
	plain := secret.NewClientSecret()
	return SecretRow(d.Ring, clientID, plain, d.now()), plain
}

// SecretRow returns the row that stores plain, a secret of clientID: a keyed
// hash for client_secret_basic/post and a sealed copy for
// client_secret_jwt, both under the primary key-encryption key.
func SecretRow(ring *secret.Keyring, clientID, plain string, now time.Time) store.Secret {
	id := secret.NewID("sks_")
	hash, kekID := ring.Hash(plain)
	sealed, _ := ring.Seal([]byte(plain), []byte(id))
	return store.Secret{
		ID: id, ClientID: clientID, Hash: hash, Sealed: sealed, KEKID: kekID,
		Suffix: secret.Suffix(plain), Status: store.SecretActive, CreateTime: now, UpdateTime: now,
	}
}

// HandleCreateClient serves POST /api/v1/organizations/{org_id}/clients: the
// client and, for a client_secret client, its first secret, committed
// together. A private_key_jwt client gets keys and an api_key client API
// keys through their own routes; plain_secret is null for them.
func HandleCreateClient(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		orgID, err := visibleOrg(r)
		if err != nil {
			return 0, nil, err
		}
		body, err := readObject(r, false)
		if err != nil {
			return 0, nil, err
		}
		if err := body.only(append(clientFields, "auth_method")...); err != nil {
			return 0, nil, err
		}
		if !body.has("name") {
			return 0, nil, fieldError("name", "is required")
		}
		c := store.Client{
			ID: secret.NewID("m2m_"), OrganizationID: orgID, AuthMethod: store.AuthClientSecret,
			Expiry: min(defaultExpiry, d.MaxExpiry), CreateTime: d.now(),
		}
		if body.has("auth_method") {
			m, err := body.str("auth_method")
			if err != nil {
				return 0, nil, err
			}
			if !slices.Contains(authMethods, m) {
				return 0, nil, fieldError("auth_method", "must be one of "+strings.Join(authMethods, ", "))
			}
			c.AuthMethod = m
		}
		envAdmin := principalFrom(r.Context()).envAdmin
		if err := d.applyClientFields(body, &c, func(string) bool { return envAdmin }); err != nil {
			return 0, nil, err
		}
		var first *store.Secret
		var plain *string
		if c.AuthMethod == store.AuthClientSecret {
			sec, p := d.newSecret(c.ID)
			first, plain = &sec, &p
		}
		c, err = d.Store.CreateClient(r.Context(), c, first)
		if err != nil {
			return 0, nil, aliasTaken(storeError(err, orgNotFound), body)
		}
		return http.StatusCreated, map[string]any{"client": viewClient(c), "plain_secret": plain}, nil
	})
}

// HandleListClients serves GET /api/v1/organizations/{org_id}/clients.
func HandleListClients(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		orgID, err := visibleOrg(r)
		if err != nil {
			return 0, nil, err
		}
		page, err := pageFrom(r, "c"+orgID)
		if err != nil {
			return 0, nil, err
		}
		clients, total, more, err := d.Store.ListClients(r.Context(), orgID, page)
		if err != nil {
			return 0, nil, storeError(err, orgNotFound)
		}
		views := make([]clientView, 0, len(clients))
		var last int64
		for _, c := range clients {
			views = append(views, viewClient(c))
			last = c.Seq
		}
		return http.StatusOK, map[string]any{
			"clients":         views,
			"next_page_token": pageToken("c"+orgID, last, more),
			"total_size":      total,
		}, nil
	})
}

// HandleGetClient serves GET /api/v1/organizations/{org_id}/clients/{client_id}.
func HandleGetClient(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		orgID, err := visibleOrg(r)
		if err != nil {
			return 0, nil, err
		}
		c, err := d.Store.Client(r.Context(), orgID, chi.URLParam(r, "client_id"))
		if err != nil {
			return 0, nil, storeError(err, clientNotFound)
		}
		return http.StatusOK, map[string]any{"client": viewClient(c)}, nil
	})
}

// HandleUpdateClient serves PATCH /api/v1/organizations/{org_id}/clients/{client_id}.
func HandleUpdateClient(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		orgID, err := visibleOrg(r)
		if err != nil {
			return 0, nil, err
		}
		body, err := readObject(r, false)
		if err != nil {
			return 0, nil, err
		}
		if body.has("auth_method") {
			return 0, nil, fieldError("auth_method", "is fixed when the client is created; create another client to use another method")
		}
		if err := body.only(clientFields...); err != nil {
			return 0, nil, err
		}
		// Validate before touching the database; whether keyward's scopes
		// may be set depends on the stored client, checked under its lock.
		if err := d.applyClientFields(body, &store.Client{}, func(string) bool { return true }); err != nil {
			return 0, nil, err
		}
		envAdmin := principalFrom(r.Context()).envAdmin
		clientID := chi.URLParam(r, "client_id")
		c, err := d.Store.UpdateClient(r.Context(), orgID, clientID, d.now(),
			func(c *store.Client) error {
				old := c.Scopes
				if !envAdmin && body.has("scopes") && dropsReservedScope(old, body) {
					return errForbidden("scopes: only an environment admin may remove scopes starting with " + scope.ReservedPrefix)
				}
				// An org admin may keep the keyward scopes a client has, but
				// not add any.
				return d.applyClientFields(body, c, func(s string) bool { return envAdmin || slices.Contains(old, s) })
			})
		if err != nil {
			return 0, nil, aliasTaken(storeError(err, clientNotFound), body)
		}
		d.clientChanged(clientID)
		return http.StatusOK, map[string]any{"client": viewClient(c)}, nil
	})
}

// dropsReservedScope reports whether the body's scopes leave out one of
// keyward's scopes that the client holds now.
func dropsReservedScope(old []string, body object) bool {
	replacement, _ := body.strings("scopes") // validated already
	for _, s := range old {
		if strings.HasPrefix(s, scope.ReservedPrefix) && !slices.Contains(replacement, s) {
			return true
		}
	}
	return false
}

// HandleDeleteClient serves DELETE /api/v1/organizations/{org_id}/clients/{client_id}.
func HandleDeleteClient(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		orgID, err := visibleOrg(r)
		if err != nil {
			return 0, nil, err
		}
		clientID := chi.URLParam(r, "client_id")
		if err := d.Store.DeleteClient(r.Context(), orgID, clientID); err != nil {
			return 0, nil, storeError(err, clientNotFound)
		}
		d.clientChanged(clientID)
		return http.StatusNoContent, nil, nil
	})
}
