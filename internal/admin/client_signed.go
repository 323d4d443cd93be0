package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/keyward/keyward/internal/store"
)

// A client's client_signed_tokens setting: whether introspection accepts
// bearer JWTs the client signs itself, which identifiers besides its id may
// stand in their iss, and how long they may live.

const (
	csField          = "client_signed_tokens"
	csEnabled        = csField + ".enabled"
	csIssuerAliases  = csField + ".issuer_aliases"
	csMaxLifetime    = csField + ".max_lifetime"
	minCSMaxLifetime = 60
	maxCSMaxLifetime = 86400
	maxIssuerAlias   = 256
)

// clientIDPrefix starts the ids keyward gives clients; an issuer alias may
// not look like one.
const clientIDPrefix = "m2m_"

// applyClientSigned validates the client_signed_tokens object of body and
// merges the members present into c's setting (PATCH changes only those).
func (d Deps) applyClientSigned(body object, c *store.Client) error {
	var raw map[string]json.RawMessage
	if body.isNull(csField) || json.Unmarshal(body[csField], &raw) != nil || raw == nil {
		return fieldError(csField, `must be an object {"enabled": ..., "issuer_aliases": [...], "max_lifetime": ...}`)
	}
	// Members named in full, so that every error names its field.
	cs := object{}
	for k, v := range raw {
		cs[csField+"."+k] = v
	}
	if err := cs.only(csEnabled, csIssuerAliases, csMaxLifetime); err != nil {
		return err
	}
	if cs.has(csEnabled) {
		b, err := cs.boolean(csEnabled)
		if err != nil {
			return err
		}
		if b && c.AuthMethod == store.AuthAPIKey {
			return fieldError(csEnabled, "an api_key client has neither registered keys nor secrets to sign tokens with")
		}
		c.ClientSigned.Enabled = b
	}
	if cs.has(csIssuerAliases) {
		aliases, err := cs.strings(csIssuerAliases)
		if err != nil {
			return err
		}
		if err := d.checkIssuerAliases(aliases); err != nil {
			return err
		}
		c.ClientSigned.IssuerAliases = aliases
	}
	if cs.has(csMaxLifetime) {
		n, err := cs.integer(csMaxLifetime)
		if err != nil {
			return err
		}
		if n < minCSMaxLifetime || n > maxCSMaxLifetime {
			return fieldError(csMaxLifetime, fmt.Sprintf("must be from %d to %d seconds", minCSMaxLifetime, maxCSMaxLifetime))
		}
		c.ClientSigned.MaxLifetime = n
	}
	return nil
}

// checkIssuerAliases checks the shape of issuer aliases; that no other
// client holds one is the store's to say (409).
func (d Deps) checkIssuerAliases(aliases []string) error {
	if len(aliases) > store.MaxIssuerAliases {
		return fieldError(csIssuerAliases, fmt.Sprintf("must have at most %d entries", store.MaxIssuerAliases))
	}
	for i, a := range aliases {
		name := fmt.Sprintf("%s[%d]", csIssuerAliases, i)
		if err := checkText(name, a, 1, maxIssuerAlias); err != nil {
			return err
		}
		switch {
		case strings.ContainsFunc(a, unicode.IsSpace):
			return fieldError(name, "must not contain whitespace")
		case slices.Index(aliases, a) != i:
			return fieldError(name, fmt.Sprintf("%q appears more than once", a))
		case strings.HasPrefix(a, clientIDPrefix):
			return fieldError(name, "must not start with "+clientIDPrefix+", which starts client ids (a client's own id is accepted as iss anyway)")
		case a == d.Issuer:
			return fieldError(name, "must not be keyward's own issuer, which only keyward's access tokens carry")
		}
	}
	return nil
}

// aliasTaken turns the store's refusal of an issuer alias into a 409 that
// names the field; other errors pass through.
func aliasTaken(err error, body object) error {
	var taken *store.IssuerAliasTakenError
	if !errors.As(err, &taken) {
		return err
	}
	name := csIssuerAliases
	var given struct {
		IssuerAliases []string `json:"issuer_aliases"`
	}
	if json.Unmarshal(body[csField], &given) == nil {
		if i := slices.Index(given.IssuerAliases, taken.Alias); i >= 0 {
			name = fmt.Sprintf("%s[%d]", csIssuerAliases, i)
		}
	}
	return errConflict(fmt.Sprintf("%s: %q is taken: another client holds it as an issuer alias, or it is a client's id", name, taken.Alias))
}
