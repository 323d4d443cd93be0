package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// maxClientSignedLifetime is the longest lifetime the command signs; the
// client's max_lifetime (60 to 86400 s) is what keyward enforces.
const maxClientSignedLifetime = 86400

// runSignClientToken signs a client-signed bearer token and prints it: for
// testing a client with client_signed_tokens enabled, the way the systems
// such clients come from sign them. With --key: RS256 (PS256, ES256) and only
// iss, iat and exp, kid when given. With --secret: HS256 with the secret's
// id as kid, which keyward requires.
func runSignClientToken(_ context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sign-client-token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("key", "", "PEM file of the private key whose public half is registered on the client (RSA or EC P-256)")
	plainSecret := fs.String("secret", "", "a client secret (kw_sk_...): sign HS256 with it; needs --kid")
	iss := fs.String("iss", "", "the token's iss: the client id or one of the client's issuer aliases (required)")
	lifetime := fs.Int("lifetime", 3600, "seconds from iat to exp; at most the client's max_lifetime")
	kid := fs.String("kid", "", "the header's kid: the registered key's id (optional), or the secret's id sks_... (required with --secret)")
	alg := fs.String("alg", "", "RS256 or PS256 for an RSA key (default RS256), ES256 for an EC key, HS256 with --secret")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: keyward sign-client-token --key private.pem --iss ID [--lifetime 3600] [--kid K] [--alg RS256|PS256|ES256]\n"+
			"       keyward sign-client-token --secret S --kid sks_... --iss ID [--lifetime 3600]\n\n"+
			"Prints a JWT the client signs itself (iss, iat, exp) for resource servers that check it at\n"+
			"keyward's /oauth/introspect; the client must have client_signed_tokens enabled.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errReported, errFlagParse)
	}
	switch {
	case fs.NArg() > 0:
		return &usageError{"sign-client-token takes no arguments"}
	case *iss == "":
		return &usageError{"--iss is required: the client id or an issuer alias of the client"}
	case *lifetime < 1 || *lifetime > maxClientSignedLifetime:
		return &usageError{fmt.Sprintf("--lifetime must be from 1 to %d seconds", maxClientSignedLifetime)}
	case (*keyFile == "") == (*plainSecret == ""):
		return &usageError{"give one of --key FILE (RS256, PS256, ES256) or --secret S with --kid sks_... (HS256)"}
	}

	var signAlg jwa.SignatureAlgorithm
	var key any
	if *plainSecret != "" {
		if *alg != "" && *alg != "HS256" {
			return &usageError{"--secret signs HS256 only, not " + *alg}
		}
		if !strings.HasPrefix(*kid, "sks_") {
			return &usageError{"--secret needs --kid naming the secret's id (sks_...): keyward refuses HS256 tokens without it"}
		}
		signAlg, key = jwa.HS256, []byte(*plainSecret)
	} else {
		signer, err := readClientPrivateKey(*keyFile)
		if err != nil {
			return err
		}
		if signAlg, err = clientKeyAlg(signer, *alg); err != nil {
			return err
		}
		key = signer
	}

	now := time.Now()
	claims, err := json.Marshal(map[string]any{"iss": *iss, "iat": now.Unix(), "exp": now.Add(time.Duration(*lifetime) * time.Second).Unix()})
	if err != nil {
		return err
	}
	h := jws.NewHeaders()
	_ = h.Set(jws.TypeKey, "JWT")
	if *kid != "" {
		_ = h.Set(jws.KeyIDKey, *kid)
	}
	out, err := jws.Sign(claims, jws.WithKey(signAlg, key, jws.WithProtectedHeaders(h)))
	if err != nil {
		return fmt.Errorf("sign the token: %w", err)
	}
	_, err = fmt.Fprintln(stdout, string(out))
	return err
}

// readClientPrivateKey reads an RSA or EC P-256 private key from a PEM file
// (PKCS#8, PKCS#1 or SEC 1, as openssl writes them). Its errors are usage
// errors naming the file.
func readClientPrivateKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &usageError{"--key: " + err.Error()}
	}
	key, err := parsePrivateKeyPEM(b)
	if errors.Is(err, errNotPEM) {
		return nil, &usageError{"--key " + path + " is not a PEM file"}
	}
	if err != nil {
		return nil, &usageError{"--key " + path + ": " + err.Error()}
	}
	return key, nil
}

// errNotPEM: the bytes hold no PEM block.
var errNotPEM = errors.New("not a PEM block")

// parsePrivateKeyPEM parses the first PEM block of b as an RSA or EC P-256
// private key: PKCS#8, PKCS#1 or SEC 1, as openssl writes them (and as
// keyward hands them out in a credentials.json).
func parsePrivateKeyPEM(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errNotPEM
	}
	var parsed any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		parsed, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		err = fmt.Errorf("a %s block is no private key (the public half is what keyward holds)", block.Type)
	}
	if err != nil {
		return nil, err
	}
	switch k := parsed.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("an EC key must be on P-256")
		}
		return k, nil
	}
	return nil, errors.New("the key must be RSA or EC P-256")
}

// clientKeyAlg is the algorithm to sign with key: alg if it fits, else the
// key's default.
func clientKeyAlg(key crypto.Signer, alg string) (jwa.SignatureAlgorithm, error) {
	switch key.(type) {
	case *rsa.PrivateKey:
		switch alg {
		case "", "RS256":
			return jwa.RS256, nil
		case "PS256":
			return jwa.PS256, nil
		}
		return "", &usageError{"--alg " + alg + " does not fit an RSA key; use RS256 or PS256"}
	default: // EC P-256
		if alg == "" || alg == "ES256" {
			return jwa.ES256, nil
		}
		return "", &usageError{"--alg " + alg + " does not fit an EC P-256 key; use ES256"}
	}
}
