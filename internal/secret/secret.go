// Package secret owns keyward's secret material that is not a signing key:
// opaque ids, client secrets and API keys (generation, keyed hashing,
// constant-time verification) and sealing with the key-encryption keys
// (KEKs).
package secret

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// KEKSize is the length in bytes of a key-encryption key.
const KEKSize = 32

// ClientSecretPrefix starts every plain client secret, so that secret
// scanners can recognise a leaked one.
const ClientSecretPrefix = "kw_sk_"

// APIKeyPrefix starts every plain API key, so that secret scanners can
// recognise a leaked one and keyward can tell it from a JWT.
const APIKeyPrefix = "kw_ak_"

// ErrUnknownKEK is returned by Open when the sealed value names a
// key-encryption key that is not configured.
var ErrUnknownKEK = errors.New("sealed with a key-encryption key that is not configured")

// ErrOpen is returned by Open when a sealed value fails authentication: it
// was tampered with, or sealed for other associated data.
var ErrOpen = errors.New("sealed value does not open")

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns prefix followed by 128 random bits in lower-case base32:
// opaque, URL-safe and unguessable.
func NewID(prefix string) string {
	return prefix + randomText(16)
}

// NewClientSecret returns a new plain client secret: the recognisable prefix
// and 256 random bits.
func NewClientSecret() string {
	return ClientSecretPrefix + randomText(32)
}

// NewAPIKey returns a new plain API key: the recognisable prefix and 256
// random bits.
func NewAPIKey() string {
	return APIKeyPrefix + randomText(32)
}

// Suffix returns the last four characters of a plain secret, which may be
// shown to help people tell secrets apart.
func Suffix(plain string) string {
	if len(plain) <= 4 {
		return plain
	}
	return plain[len(plain)-4:]
}

func randomText(n int) string {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		// crypto/rand does not fail on supported platforms; carrying on
		// without randomness would be worse than stopping.
		panic("keyward: crypto/rand failed: " + err.Error())
	}
	return lowerBase32.EncodeToString(b)
}

// A Keyring holds the configured key-encryption keys. The first one seals
// and hashes; every one opens and verifies, so a KEK can be rolled across
// replicas without downtime.
type Keyring struct {
	keks []kek
}

type kek struct {
	id     string
	pepper []byte // HMAC key for client-secret hashes
	seal   []byte // XChaCha20-Poly1305 key
}

// NewKeyring derives purpose-bound subkeys from each KEK with HKDF-SHA-256, so
// that the same KEK never serves as both an AEAD key and an HMAC key. It
// returns an error when no key is given or a key is not KEKSize bytes long.
func NewKeyring(keks ...[]byte) (*Keyring, error) {
	if len(keks) == 0 {
		return nil, errors.New("no key-encryption key")
	}
	k := &Keyring{}
	seen := map[string]bool{}
	for i, raw := range keks {
		if len(raw) != KEKSize {
			return nil, fmt.Errorf("key-encryption key %d is %d bytes, want %d", i+1, len(raw), KEKSize)
		}
		id := hex.EncodeToString(derive(raw, "keyward kek id", 8))
		if seen[id] {
			continue
		}
		seen[id] = true
		k.keks = append(k.keks, kek{
			id:     id,
			pepper: derive(raw, "keyward client secret hash v1", 32),
			seal:   derive(raw, "keyward seal v1", chacha20poly1305.KeySize),
		})
	}
	return k, nil
}

func derive(secret []byte, info string, n int) []byte {
	out := make([]byte, n)
	if _, err := io.ReadFull(hkdf.New(sha256.New, secret, nil, []byte(info)), out); err != nil {
		panic("keyward: hkdf: " + err.Error()) // only fails past 255 blocks of output
	}
	return out
}

// PrimaryID returns the id of the key-encryption key that seals new values.
func (k *Keyring) PrimaryID() string { return k.keks[0].id }

func (k *Keyring) find(id string) (kek, bool) {
	for _, e := range k.keks {
		if e.id == id {
			return e, true
		}
	}
	return kek{}, false
}

// Seal encrypts plaintext under the primary KEK with XChaCha20-Poly1305,
// binding it to ad (for example the key's or secret's id, so that a sealed
// value copied onto another row does not open). It returns the nonce-prefixed
// box and the id of the KEK used.
func (k *Keyring) Seal(plaintext, ad []byte) (sealed []byte, kekID string) {
	e := k.keks[0]
	aead, err := chacha20poly1305.NewX(e.seal)
	if err != nil {
		panic("keyward: " + err.Error()) // the key size is fixed above
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		panic("keyward: crypto/rand failed: " + err.Error())
	}
	return aead.Seal(nonce, nonce, plaintext, ad), e.id
}

// Open decrypts a value made by Seal. It returns ErrUnknownKEK when kekID is
// not configured and ErrOpen when the box does not authenticate.
func (k *Keyring) Open(sealed, ad []byte, kekID string) ([]byte, error) {
	e, ok := k.find(kekID)
	if !ok {
		return nil, fmt.Errorf("kek %s: %w", kekID, ErrUnknownKEK)
	}
	aead, err := chacha20poly1305.NewX(e.seal)
	if err != nil {
		panic("keyward: " + err.Error())
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrOpen
	}
	out, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

// Hash returns the keyed hash of a plain client secret under the primary KEK,
// and that KEK's id.
//
// Client secrets are 256 random bits, so a slow password hash (bcrypt,
// argon2) would buy nothing against guessing and would cap the token
// endpoint at tens of requests per second per core. HMAC-SHA-256 keyed with a
// pepper derived from the KEK costs about a microsecond, and a database dump
// without the KEK gives an attacker nothing to test guesses against.
func (k *Keyring) Hash(plain string) (hash []byte, kekID string) {
	e := k.keks[0]
	return mac(e.pepper, plain), e.id
}

// HashAll returns the keyed hash of plain under every configured KEK, the
// primary first: a value hashed under any of them is found by looking up
// all of these.
func (k *Keyring) HashAll(plain string) [][]byte {
	out := make([][]byte, len(k.keks))
	for i, e := range k.keks {
		out[i] = mac(e.pepper, plain)
	}
	return out
}

// Verify reports whether plain hashes to hash under the KEK named by kekID,
// comparing in constant time. An unknown kekID verifies nothing.
func (k *Keyring) Verify(plain string, hash []byte, kekID string) bool {
	e, ok := k.find(kekID)
	if !ok {
		return false
	}
	return subtle.ConstantTimeCompare(mac(e.pepper, plain), hash) == 1
}

func mac(key []byte, plain string) []byte {
	m := hmac.New(sha256.New, key)
	io.WriteString(m, plain)
	return m.Sum(nil)
}
