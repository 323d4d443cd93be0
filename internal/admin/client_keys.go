package admin

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

// Public keys registered on private_key_jwt clients: the client signs its
// assertions with the private half, which keyward never holds (a key
// keyward generates is handed over once, in credentials.json, and
// forgotten).

const keyNotFound = "key not found"

// Bounds of the RSA keys a client may register: 2048 bits is the least
// that is still considered safe; beyond 8192 bits verification only gets
// slower.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// generatedRSABits is the size of the RSA keys keyward generates.
const generatedRSABits = 2048

// privateJWKMembers are the JWK members that only private (or symmetric)
// keys have (RFC 7518 section 6).
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

type clientKeyView struct {
	ID           string          `json:"id"`
	Alg          string          `json:"alg"`
	Thumbprint   string          `json:"thumbprint"`
	JWKKID       *string         `json:"jwk_kid"`
	JWK          json.RawMessage `json:"jwk"`
	CreateTime   string          `json:"create_time"`
	LastUsedTime *string         `json:"last_used_time"`
}

func viewClientKey(k store.ClientKey) clientKeyView {
	v := clientKeyView{ID: k.ID, Alg: k.Alg, Thumbprint: k.Thumbprint, JWK: k.PublicJWK,
		CreateTime: formatTime(k.CreateTime), LastUsedTime: formatTimePtr(k.LastUsedTime)}
	if k.JWKKID != "" {
		v.JWKKID = &k.JWKKID
	}
	return v
}

// credentials is the credentials.json of a generated key: what a service
// signs its assertions with, shown once.
type credentials struct {
	ClientID   string `json:"client_id"`
	KeyID      string `json:"key_id"`
	TokenURI   string `json:"token_uri"`
	PrivateKey string `json:"private_key"`
}

// HandleCreateClientKey serves POST .../clients/{client_id}/keys: with
// {"jwk": {...}} or {"public_key_pem": "..."} it registers the client's
// public key; with {} it generates an RSA key pair, registers the public
// half and answers once with the private half in credentials.
func HandleCreateClientKey(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		orgID, err := visibleOrg(r)
		if err != nil {
			return 0, nil, err
		}
		body, err := readObject(r, true)
		if err != nil {
			return 0, nil, err
		}
		if err := body.only("jwk", "public_key_pem", "alg"); err != nil {
			return 0, nil, err
		}
		in, err := readPublicKey(body)
		if err != nil {
			return 0, nil, err
		}
		var private *rsa.PrivateKey
		if in.pub == nil {
			if private, err = rsa.GenerateKey(rand.Reader, generatedRSABits); err != nil {
				return 0, nil, err
			}
			in.pub = &private.PublicKey
		}
		k, err := d.newClientKey(chi.URLParam(r, "client_id"), in)
		if err != nil {
			return 0, nil, err
		}
		k, err = d.Store.AddClientKey(r.Context(), orgID, k)
		switch {
		case errors.Is(err, store.ErrTooManyKeys):
			return 0, nil, errConflict(fmt.Sprintf("the client already holds %d keys, the most allowed; delete one first", store.MaxKeysPerClient))
		case errors.Is(err, store.ErrKeyRegistered):
			return 0, nil, errConflict("the client holds this key, or a key registered with the same kid, already")
		case errors.Is(err, store.ErrWrongAuthMethod):
			return 0, nil, errConflict("the client's auth_method is not private_key_jwt; only private_key_jwt clients have keys")
		case err != nil:
			return 0, nil, storeError(err, clientNotFound)
		}
		d.clientChanged(k.ClientID)
		out := map[string]any{"key": viewClientKey(k)}
		if private != nil {
			der, err := x509.MarshalPKCS8PrivateKey(private)
			if err != nil {
				return 0, nil, err
			}
			out["credentials"] = credentials{
				ClientID: k.ClientID, KeyID: k.ID, TokenURI: d.Issuer + "/oauth/token",
				PrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
			}
			clear(der)
		}
		return http.StatusCreated, out, nil
	})
}

// HandleListClientKeys serves GET .../clients/{client_id}/keys.
func HandleListClientKeys(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		orgID, err := visibleOrg(r)
		if err != nil {
			return 0, nil, err
		}
		keys, err := d.Store.ClientKeys(r.Context(), orgID, chi.URLParam(r, "client_id"))
		if err != nil {
			return 0, nil, storeError(err, clientNotFound)
		}
		views := make([]clientKeyView, 0, len(keys))
		for _, k := range keys {
			views = append(views, viewClientKey(k))
		}
		return http.StatusOK, map[string]any{"keys": views}, nil
	})
}

// HandleDeleteClientKey serves DELETE .../clients/{client_id}/keys/{key_id}.
func HandleDeleteClientKey(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		orgID, err := visibleOrg(r)
		if err != nil {
			return 0, nil, err
		}
		clientID := chi.URLParam(r, "client_id")
		if err := d.Store.DeleteClientKey(r.Context(), orgID, clientID, chi.URLParam(r, "key_id")); err != nil {
			return 0, nil, storeError(err, keyNotFound)
		}
		d.clientChanged(clientID)
		return http.StatusNoContent, nil, nil
	})
}

// publicKeyInput is a key to register, as read from a request: pub is nil
// when keyward is to generate the key.
type publicKeyInput struct {
	pub    crypto.PublicKey
	alg    string // "" until chosen
	jwkKID string
}

// readPublicKey reads and checks the key of a POST .../keys body.
func readPublicKey(body object) (publicKeyInput, error) {
	var in publicKeyInput
	if body.has("alg") {
		s, err := body.str("alg")
		if err != nil {
			return in, err
		}
		if s != "RS256" && s != "PS256" && s != "ES256" {
			return in, fieldError("alg", "must be RS256, PS256 or ES256")
		}
		in.alg = s
	}
	var err error
	switch {
	case body.has("jwk") && body.has("public_key_pem"):
		return in, errInvalid("send either jwk or public_key_pem, not both")
	case body.has("jwk"):
		err = readJWK(body["jwk"], &in)
	case body.has("public_key_pem"):
		err = readPEM(body, &in)
	default:
		// Generated: RSA 2048 for RS256, which every client library signs
		// and credentials.json users (keyward token --credentials) expect.
		if in.alg != "" && in.alg != "RS256" {
			return in, fieldError("alg", "keyward generates RS256 keys only; register your own key for "+in.alg)
		}
		return in, nil
	}
	if err != nil {
		return in, err
	}
	return in, checkPublicKey(&in)
}

func readJWK(raw json.RawMessage, in *publicKeyInput) error {
	var members map[string]json.RawMessage
	if json.Unmarshal(raw, &members) != nil || members == nil {
		return fieldError("jwk", "must be a JSON Web Key object")
	}
	for _, m := range privateJWKMembers {
		if _, ok := members[m]; ok {
			return fieldError("jwk", fmt.Sprintf("must be a public key: it has the private member %q; keep private keys to yourself", m))
		}
	}
	o := object(members)
	for _, name := range []string{"kty", "alg", "use", "kid"} {
		if o.has(name) {
			if _, err := o.str(name); err != nil {
				return fieldError("jwk."+name, "must be a string")
			}
		}
	}
	kty, _ := o.str("kty")
	if kty != "RSA" && kty != "EC" {
		return fieldError("jwk.kty", "must be RSA or EC")
	}
	if o.has("use") {
		if use, _ := o.str("use"); use != "sig" {
			return fieldError("jwk.use", "must be sig")
		}
	}
	if o.has("alg") {
		alg, _ := o.str("alg")
		if in.alg != "" && in.alg != alg {
			return fieldError("alg", "differs from jwk.alg")
		}
		in.alg = alg
	}
	if o.has("kid") {
		kid, _ := o.str("kid")
		if kid == "" || len(kid) > 256 {
			return fieldError("jwk.kid", "must be 1 to 256 bytes")
		}
		in.jwkKID = kid
	}
	k, err := jwk.ParseKey(raw)
	if err != nil {
		return fieldError("jwk", "is not a valid "+kty+" public key")
	}
	var pub any
	if err := k.Raw(&pub); err != nil {
		return fieldError("jwk", "is not a valid "+kty+" public key")
	}
	in.pub = pub
	return nil
}

func readPEM(body object, in *publicKeyInput) error {
	s, err := body.str("public_key_pem")
	if err != nil {
		return err
	}
	block, rest := pem.Decode([]byte(s))
	if block == nil {
		return fieldError("public_key_pem", "must hold one PEM block: -----BEGIN PUBLIC KEY-----")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return fieldError("public_key_pem", "must hold exactly one PEM block")
	}
	switch {
	case strings.Contains(block.Type, "PRIVATE"):
		return fieldError("public_key_pem", "must be a public key, not a private one; keep private keys to yourself")
	case block.Type == "PUBLIC KEY":
		in.pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case block.Type == "RSA PUBLIC KEY":
		in.pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return fieldError("public_key_pem", "must be a PUBLIC KEY or RSA PUBLIC KEY block, not "+block.Type)
	}
	if err != nil {
		return fieldError("public_key_pem", "is not a valid public key")
	}
	return nil
}

// checkPublicKey refuses keys too weak or of other kinds, and chooses or
// checks the algorithm the key will verify.
func checkPublicKey(in *publicKeyInput) error {
	switch k := in.pub.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < minRSABits || n > maxRSABits {
			return errInvalid(fmt.Sprintf("the RSA key has %d bits; keyward accepts %d to %d", n, minRSABits, maxRSABits))
		}
		if k.E < 3 || k.E%2 == 0 {
			return errInvalid("the RSA key's public exponent is not valid")
		}
		if in.alg == "" {
			in.alg = "RS256"
		}
		if in.alg != "RS256" && in.alg != "PS256" {
			return fieldError("alg", "an RSA key verifies RS256 or PS256, not "+in.alg)
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return errInvalid("the EC key must be on the curve P-256 (ES256)")
		}
		if _, err := k.ECDH(); err != nil {
			return errInvalid("the EC key is not a valid point on P-256")
		}
		if in.alg == "" {
			in.alg = "ES256"
		}
		if in.alg != "ES256" {
			return fieldError("alg", "an EC P-256 key verifies ES256, not "+in.alg)
		}
	default:
		return errInvalid("the key must be RSA (2048 bits or more) or EC P-256")
	}
	return nil
}

// newClientKey makes the row that registers in.pub on clientID: the key's
// public JWK, written out member by member so that it never holds anything
// private, and its RFC 7638 thumbprint.
func (d Deps) newClientKey(clientID string, in publicKeyInput) (store.ClientKey, error) {
	if in.alg == "" {
		in.alg = "RS256"
	}
	id := secret.NewID(store.ClientKeyPrefix)
	b64 := base64.RawURLEncoding.EncodeToString
	members := map[string]string{"kid": id, "use": "sig", "alg": in.alg}
	switch k := in.pub.(type) {
	case *rsa.PublicKey:
		members["kty"], members["n"], members["e"] = "RSA", b64(k.N.Bytes()), b64(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		point, err := k.ECDH()
		if err != nil {
			return store.ClientKey{}, err
		}
		raw := point.Bytes() // 0x04 || X || Y, 32 bytes each
		members["kty"], members["crv"], members["x"], members["y"] = "EC", "P-256", b64(raw[1:33]), b64(raw[33:65])
	}
	pub, err := json.Marshal(members)
	if err != nil {
		return store.ClientKey{}, err
	}
	parsed, err := jwk.FromRaw(in.pub)
	if err != nil {
		return store.ClientKey{}, err
	}
	thumb, err := parsed.Thumbprint(crypto.SHA256)
	if err != nil {
		return store.ClientKey{}, err
	}
	if slices.Contains([]string{id, b64(thumb)}, in.jwkKID) {
		in.jwkKID = "" // answers to it anyway
	}
	return store.ClientKey{ID: id, ClientID: clientID, Alg: in.alg, PublicJWK: pub, Thumbprint: b64(thumb),
		JWKKID: in.jwkKID, CreateTime: d.now()}, nil
}
