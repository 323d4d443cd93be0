package main

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"time"
)

// verifyToken checks, with crypto/rsa alone (no JWT library, so that no
// library of keyward's or of the peer's vouches for itself), that token is a
// compact JWS with alg RS256 whose kid names a 2048-bit or larger RSA key of
// the JWKS at jwksURL, and that the signature verifies. It prints the
// header, the claims and the modulus size.
func verifyToken(ctx context.Context, out io.Writer, token, jwksURL string) error {
	if token == "" || jwksURL == "" {
		return errors.New("verify: give -token and -jwks")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("verify: not a compact JWS")
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}
	var claims map[string]any
	if err := decodeSegment(parts[0], &header); err != nil {
		return fmt.Errorf("verify: header: %w", err)
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return fmt.Errorf("verify: claims: %w", err)
	}
	if header.Alg != "RS256" {
		return fmt.Errorf("verify: alg %q, want RS256", header.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return fmt.Errorf("verify: signature: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURL, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("verify: JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("verify: JWKS: %s", resp.Status)
	}
	var set struct {
		Keys []struct{ Kty, Kid, N, E string } `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return fmt.Errorf("verify: JWKS: %w", err)
	}
	for _, k := range set.Keys {
		if k.Kty != "RSA" || k.Kid != header.Kid {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err := errors.Join(err1, err2); err != nil || len(e) == 0 || len(e) > 4 {
			return fmt.Errorf("verify: JWKS key %s is malformed", k.Kid)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < 2048 {
			return fmt.Errorf("verify: key %s has %d bits", k.Kid, pub.N.BitLen())
		}
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			return fmt.Errorf("verify: the signature does not verify against key %s: %w", k.Kid, err)
		}
		return json.NewEncoder(out).Encode(map[string]any{
			"verified": true, "header": header, "claims": claims, "modulus_bits": pub.N.BitLen(),
		})
	}
	return fmt.Errorf("verify: the JWKS has no RSA key %q", header.Kid)
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
