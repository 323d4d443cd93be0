package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/keyward/keyward/internal/signer"
)

// The signing algorithms keyward can sign with (RFC 7518 names; EdDSA is
// Ed25519, RFC 8037).
const (
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// Algorithms lists the algorithms Config.Alg may name.
var Algorithms = []string{RS256, ES256, EdDSA}

// newPrivateKey generates a key for alg; bits is the RSA modulus size.
func newPrivateKey(alg string, bits int) (crypto.Signer, error) {
	switch alg {
	case RS256:
		return rsa.GenerateKey(rand.Reader, bits)
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("unsupported signing algorithm %q", alg)
}

// thumbprintKID is the RFC 7638 thumbprint of pub: stable, derived from the
// key alone, so that no two keys share a kid.
func thumbprintKID(pub crypto.PublicKey) (string, error) {
	k, err := jwk.FromRaw(pub)
	if err != nil {
		return "", err
	}
	thumb, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(thumb), nil
}

// publicJWK encodes pub as the JWK the JWKS publishes. The members are
// written out here rather than by a library so that the document holds
// exactly these and never a private one.
func publicJWK(kid, alg string, pub crypto.PublicKey) ([]byte, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if alg != RS256 {
			break
		}
		return json.Marshal(map[string]string{
			"kty": "RSA", "kid": kid, "use": "sig", "alg": alg,
			"n": b64(p.N.Bytes()), "e": b64(bigEndian(p.E)),
		})
	case *ecdsa.PublicKey:
		if alg != ES256 || p.Curve != elliptic.P256() {
			break
		}
		// Uncompressed point: 0x04 || X || Y, each 32 bytes, left-padded
		// as RFC 7518 section 6.2.1 requires.
		point, err := p.ECDH()
		if err != nil {
			return nil, err
		}
		raw := point.Bytes()
		return json.Marshal(map[string]string{
			"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": alg,
			"x": b64(raw[1:33]), "y": b64(raw[33:65]),
		})
	case ed25519.PublicKey:
		if alg != EdDSA {
			break
		}
		return json.Marshal(map[string]string{
			"kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig", "alg": alg,
			"x": b64(p),
		})
	}
	return nil, fmt.Errorf("a %T cannot be published for %s", pub, alg)
}

func bigEndian(e int) []byte {
	var b []byte
	for ; e > 0; e >>= 8 {
		b = append([]byte{byte(e)}, b...)
	}
	return b
}

// parsePrivate parses a PKCS#8 private key and checks that it fits alg. An
// RSA key comes back as a *signer.RSA, which the caller closes once the key
// stops signing.
func parsePrivate(der []byte, alg string) (crypto.Signer, error) {
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	var ok bool
	switch k := parsed.(type) {
	case *rsa.PrivateKey:
		ok = alg == RS256
	case *ecdsa.PrivateKey:
		ok = alg == ES256 && k.Curve == elliptic.P256()
	case ed25519.PrivateKey:
		ok = alg == EdDSA
	}
	if !ok {
		return nil, fmt.Errorf("a %T does not sign %s", parsed, alg)
	}
	if alg == RS256 {
		// RS256 signs through internal/signer: libcrypto in the openssl
		// build, crypto/rsa otherwise.
		s, err := signer.New(parsed)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return parsed.(crypto.Signer), nil
}
