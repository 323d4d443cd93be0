package oauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/keyward/keyward/internal/jsonhttp"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

// Client assertions (RFC 7523): a JWT the client signs, either with one of
// its client secrets (client_secret_jwt, HS256, RFC 7518 section 3.2) or
// with the private half of a public key registered on it (private_key_jwt:
// RS256, PS256 or ES256). The same rules hold whether the assertion
// authenticates the client of a request (client_assertion) or is the
// jwt-bearer grant itself (assertion).

const (
	// maxAssertionSize bounds an assertion; a real one is well under 2 KiB.
	maxAssertionSize = 8 << 10
	// assertionSkew is how far the client's clock may run ahead of
	// keyward's for iat and nbf.
	assertionSkew = 60 * time.Second
	// maxAssertionLifetime bounds exp - iat: a short-lived assertion is
	// what makes a replay store of its jti affordable.
	maxAssertionLifetime = time.Hour
	maxJTILength         = 256
	maxKIDLength         = 256
)

// assertionAlgs are the algorithms an assertion may be signed with.
var assertionAlgs = map[string]bool{"HS256": true, "RS256": true, "PS256": true, "ES256": true}

// AssertionAlgorithms lists assertionAlgs for the metadata, in a fixed order.
var AssertionAlgorithms = []string{"HS256", "RS256", "PS256", "ES256"}

// missingKID starts the description of a client_secret_jwt assertion
// without kid that no active secret verified, as common client libraries
// (openid-client, Authlib) know it.
const missingKID = "jwt token is missing 'kid' header parameter"

// assertion is a client assertion whose header and claims have been read,
// but whose signature has not been checked. A client-signed token is read
// the same way; noun says which it is in descriptions.
type assertion struct {
	raw    string
	noun   string // "assertion" or "token"
	alg    string
	kid    string
	hasKID bool

	iss, sub, jti string
	hasAud        bool
	aud           []string
	exp, iat, nbf *time.Time
}

// descError is an error whose text is the description the caller sees.
type descError string

func (e descError) Error() string { return string(e) }

// parseAssertion reads a client assertion: see parseJWT.
func parseAssertion(raw string) (assertion, error) {
	return parseJWT(raw, "assertion")
}

// parseJWT reads a compact JWS's protected header and claims, signed by a
// client: an assertion, or a client-signed token (noun names which in
// descriptions). It checks their shape only; every error is a descError.
// Headers that point at keys (jku, x5u, jwk, x5c) are ignored: keyward
// verifies with the credentials registered on the client and never fetches
// anything.
func parseJWT(raw, noun string) (assertion, error) {
	a := assertion{raw: raw, noun: noun}
	if len(raw) > maxAssertionSize {
		return a, descError(fmt.Sprintf("the "+noun+" is larger than %d bytes", maxAssertionSize))
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return a, descError("the " + noun + " is not a compact JWS (header.payload.signature)")
	}
	var decoded [3][]byte
	for i, p := range parts {
		b, err := base64.RawURLEncoding.Strict().DecodeString(p)
		if err != nil {
			return a, descError("the " + noun + " is not a compact JWS: a part is not base64url without padding")
		}
		decoded[i] = b
	}

	header, err := decodeObject(decoded[0])
	if err != nil {
		return a, descError("the " + noun + "'s header " + err.Error())
	}
	if err := jsonString(header, "alg", &a.alg); err != nil || a.alg == "" {
		return a, descError("the " + noun + "'s header has no alg")
	}
	switch {
	case strings.EqualFold(a.alg, "none"):
		return a, descError("the " + noun + "'s alg is none: an unsigned " + noun + " authenticates nothing")
	case !assertionAlgs[a.alg]:
		return a, descError("the " + noun + "'s alg " + quote(a.alg) + " is not supported; use HS256 (keyed by a client secret: client_secret_jwt) or RS256, PS256 or ES256 (a registered key: private_key_jwt)")
	}
	if parts[2] == "" {
		return a, descError("the " + noun + " has no signature")
	}
	if _, ok := header["kid"]; ok {
		if err := jsonString(header, "kid", &a.kid); err != nil || a.kid == "" || len(a.kid) > maxKIDLength {
			return a, descError(fmt.Sprintf("the "+noun+"'s kid must be a string of 1 to %d bytes", maxKIDLength))
		}
		a.hasKID = true
	}
	// Extensions keyward does not implement would change what is signed
	// or how (RFC 7515 section 4.1.11, RFC 7797); they must not be ignored.
	for _, ext := range []string{"crit", "b64"} {
		if _, ok := header[ext]; ok {
			return a, descError("the " + noun + "'s header has " + ext + ", an extension keyward does not support")
		}
	}

	claims, err := decodeObject(decoded[1])
	if err != nil {
		return a, descError("the " + noun + "'s claims " + err.Error())
	}
	for name, dst := range map[string]*string{"iss": &a.iss, "sub": &a.sub, "jti": &a.jti} {
		if _, ok := claims[name]; ok {
			if err := jsonString(claims, name, dst); err != nil {
				return a, descError("the " + noun + "'s " + name + " claim is not a string")
			}
		}
	}
	if raw, ok := claims["aud"]; ok {
		a.hasAud = true
		var one string
		if err := json.Unmarshal(raw, &one); err == nil {
			a.aud = []string{one}
		} else if err := json.Unmarshal(raw, &a.aud); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return a, descError("the " + noun + "'s aud claim is neither a string nor an array of strings")
		}
	}
	for name, dst := range map[string]**time.Time{"exp": &a.exp, "iat": &a.iat, "nbf": &a.nbf} {
		if raw, ok := claims[name]; ok {
			t, err := numericDate(raw)
			if err != nil {
				return a, descError("the " + noun + "'s " + name + " claim is not a NumericDate (seconds since 1970)")
			}
			*dst = &t
		}
	}
	return a, nil
}

// check applies the rules of RFC 7523 section 3 that need no key: who
// issued the assertion and for whom, its times, and its jti. clientID is
// the request's client_id ("" when it sent none); audiences are the values
// of aud that name keyward.
func (a assertion) check(clientID string, audiences []string, now time.Time) error {
	switch {
	case a.iss == "":
		return descError("the assertion has no iss claim; it must be the client id")
	case a.sub == "":
		return descError("the assertion has no sub claim; it must be the client id")
	case a.iss != a.sub:
		return descError("the assertion's iss and sub must both be the client id")
	case clientID != "" && clientID != a.sub:
		return descError("client_id differs from the assertion's iss and sub")
	case !a.hasAud:
		return descError("the assertion has no aud claim; it must contain " + audiences[0])
	}
	found := false
	for _, v := range a.aud {
		for _, want := range audiences {
			found = found || v == want
		}
	}
	switch {
	case !found:
		return descError("the assertion's aud must contain the token endpoint URL, " + audiences[0] + ", or the issuer, " + audiences[1])
	case a.exp == nil:
		return descError("the assertion has no exp claim")
	case !now.Before(*a.exp):
		return descError("the assertion has expired")
	case a.iat == nil:
		return descError("the assertion has no iat claim")
	case a.iat.After(now.Add(assertionSkew)):
		return descError("the assertion's iat is in the future")
	case a.exp.Sub(*a.iat) > maxAssertionLifetime:
		return descError("the assertion's lifetime, exp - iat, is longer than 3600 seconds")
	case a.nbf != nil && a.nbf.After(now.Add(assertionSkew)):
		return descError("the assertion is not valid yet: its nbf is in the future")
	case a.jti == "":
		return descError("the assertion has no jti claim; each assertion needs a unique one")
	case len(a.jti) > maxJTILength:
		return descError(fmt.Sprintf("the assertion's jti is longer than %d bytes", maxJTILength))
	}
	return nil
}

// failed is the description of an assertion that authenticates nobody: the
// same whether its client is unknown or no credential verified it, except
// that a client_secret_jwt assertion without kid says so, as the contract
// asks.
func (a assertion) failed() string {
	if a.alg == "HS256" && !a.hasKID {
		return missingKID + ", and no active secret of the client verified the assertion; name the secret (sks_...) that signed it in kid"
	}
	return authFailed
}

// verify checks a's signature with the credentials of c that its alg and
// kid allow: with a kid, the active secret or registered key it names; without
// one, each active secret (HS256) or each registered key of the alg, in
// turn. It returns the id of the credential that verified it, or a
// descError.
func (a assertion) verify(ring *secret.Keyring, c store.Client) (string, error) {
	if a.alg == "HS256" {
		return a.verifyWithSecret(ring, c)
	}
	return a.verifyWithKey(c)
}

func (a assertion) verifyWithSecret(ring *secret.Keyring, c store.Client) (string, error) {
	if a.hasKID {
		for _, k := range c.Keys {
			if k.Answers(a.kid) {
				return "", descError("the " + a.noun + "'s alg HS256 does not fit the registered public key its kid names; sign with the key's alg, " + k.Alg)
			}
		}
	}
	if c.AuthMethod != store.AuthClientSecret {
		return "", descError(a.failed())
	}
	for _, s := range c.Secrets {
		if s.Status != store.SecretActive || (a.hasKID && s.ID != a.kid) {
			continue
		}
		plain, err := ring.Open(s.Sealed, []byte(s.ID), s.KEKID)
		if err != nil {
			continue
		}
		_, err = jws.Verify([]byte(a.raw), jws.WithKey(jwa.HS256, plain))
		clear(plain)
		if err == nil {
			return s.ID, nil
		}
	}
	return "", descError(a.failed())
}

func (a assertion) verifyWithKey(c store.Client) (string, error) {
	if a.hasKID {
		for _, s := range c.Secrets {
			if s.ID == a.kid && s.Status == store.SecretActive {
				return "", descError("the " + a.noun + "'s alg " + a.alg + " does not fit the client secret its kid names; a client secret signs HS256 only")
			}
		}
	}
	if c.AuthMethod != store.AuthPrivateKeyJWT {
		return "", descError(a.failed())
	}
	for _, k := range c.Keys {
		if a.hasKID && !k.Answers(a.kid) {
			continue
		}
		if k.Alg != a.alg {
			if a.hasKID {
				return "", descError("the " + a.noun + "'s alg " + a.alg + " is not the alg of the key its kid names, " + k.Alg)
			}
			continue
		}
		pub, err := publicKey(k.PublicJWK)
		if err != nil {
			continue
		}
		if _, err := jws.Verify([]byte(a.raw), jws.WithKey(jwa.SignatureAlgorithm(a.alg), pub)); err == nil {
			return k.ID, nil
		}
	}
	return "", descError(a.failed())
}

// publicKey turns a registered key's stored JWK into the key jws verifies
// with.
func publicKey(stored []byte) (any, error) {
	k, err := jwk.ParseKey(stored)
	if err != nil {
		return nil, err
	}
	var raw any
	if err := k.Raw(&raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// authenticateAssertion authenticates the client of an assertion: the
// rules of check, then the signature, then the jti, recorded as used in
// the one database write the assertion costs. endpoint is the URL the
// request was sent to, which aud may name. It returns the client and the
// client id the assertion claims (for the log of a failure).
func authenticateAssertion(ctx context.Context, d TokenDeps, auth clientAuth, endpoint string) (store.Client, string, error) {
	fail := func(desc string) error {
		if auth.method == methodGrant {
			return invalidGrant(desc)
		}
		return invalidClient(desc, false)
	}
	a, err := parseAssertion(auth.assertion)
	if err != nil {
		return store.Client{}, auth.clientID, fail(err.Error())
	}
	claimed := a.sub
	if claimed == "" {
		claimed = auth.clientID
	}
	now := d.Now()
	audiences := []string{d.Issuer + "/oauth/token", d.Issuer, endpoint}
	if err := a.check(auth.clientID, audiences, now); err != nil {
		return store.Client{}, claimed, fail(err.Error())
	}
	if len(a.sub) > 256 {
		return store.Client{}, claimed, fail(a.failed())
	}
	client, err := d.Clients.ClientByID(ctx, a.sub)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Client{}, claimed, fail(a.failed())
	case errors.Is(err, store.ErrUnavailable):
		return store.Client{}, claimed, jsonhttp.Unavailable()
	case err != nil:
		return store.Client{}, claimed, err
	}
	if client.AuthMethod == store.AuthAPIKey {
		return store.Client{}, claimed, apiKeyClient()
	}
	credential, err := a.verify(d.Ring, client)
	if err != nil {
		return store.Client{}, claimed, fail(err.Error())
	}
	fresh, err := d.Store.UseAssertionJTI(ctx, client.ID, a.jti, *a.exp, now)
	switch {
	case errors.Is(err, store.ErrNotFound): // deleted meanwhile
		return store.Client{}, claimed, fail(a.failed())
	case errors.Is(err, store.ErrUnavailable):
		return store.Client{}, claimed, jsonhttp.Unavailable()
	case err != nil:
		return store.Client{}, claimed, err
	case !fresh:
		return store.Client{}, claimed, fail("the assertion's jti has been used already: an assertion is accepted once")
	}
	d.Usage.Record(credential, now)
	return client, claimed, nil
}

// decodeObject decodes a JSON object's members, still raw. The text must
// be UTF-8 and the object must not repeat a member: decoders disagree on
// which of two wins, so an assertion could mean one thing to its signer
// and another here.
func decodeObject(b []byte) (map[string]json.RawMessage, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("is not a JSON object")
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errors.New("is not a JSON object")
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, errors.New("is not a JSON object")
		}
		if _, dup := out[key]; dup {
			return nil, errors.New("repeats the member " + quote(key))
		}
		out[key] = raw
	}
	if _, err := dec.Token(); err != nil {
		return nil, errors.New("is not a JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("has data after the JSON object")
	}
	return out, nil
}

// jsonString decodes the member name of o, which must be a JSON string.
func jsonString(o map[string]json.RawMessage, name string, dst *string) error {
	raw := bytes.TrimSpace(o[name])
	if len(raw) == 0 || raw[0] != '"' {
		return errors.New("not a string")
	}
	return json.Unmarshal(raw, dst)
}

// numericDate decodes an RFC 7519 NumericDate: a JSON number of seconds
// since 1970, possibly fractional, within a sane range.
func numericDate(raw json.RawMessage) (time.Time, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || !(raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')) {
		return time.Time{}, errors.New("not a number")
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || math.IsNaN(f) || f < 0 || f > 1<<40 {
		return time.Time{}, errors.New("not a NumericDate")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}
