//go:build openssl && cgo

package signer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"strings"
	"testing"
)

func TestThisBuildSignsWithLibcrypto(t *testing.T) {
	if Impl != "openssl" || !strings.HasPrefix(Description(), "openssl 3.") {
		t.Errorf("Impl = %q, Description = %q; want openssl 3.x", Impl, Description())
	}
	s := newSigner(t, testKeys(t, 2048, 1)[0])
	if s.key.pkey == nil {
		t.Fatal("the key is not held by libcrypto")
	}
	sum := sha256.Sum256([]byte("payload"))
	before := Signatures()
	if _, err := s.Sign(nil, sum[:], crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	if Signatures() <= before {
		t.Error("a signature was not counted")
	}
}

// TestLoadDERRejects: the binding's loader takes exactly one RSA private
// key; anything else is an error, never a crash.
func TestLoadDERRejects(t *testing.T) {
	t.Parallel()
	k := testKeys(t, 2048, 1)[0]
	pkcs1 := x509.MarshalPKCS1PrivateKey(k)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecSEC1, _ := x509.MarshalECPrivateKey(ec)
	pub := x509.MarshalPKCS1PublicKey(&k.PublicKey)
	tests := map[string][]byte{
		"nothing":                      nil,
		"one zero byte":                {0},
		"garbage":                      []byte("not a key at all, just some text"),
		"a truncated key":              pkcs1[:len(pkcs1)/2],
		"a key with a byte after it":   append(append([]byte{}, pkcs1...), 0),
		"an EC key in PKCS #8":         ecDER,
		"an EC key in SEC 1":           ecSEC1,
		"an RSA public key":            pub,
		"a key with its modulus moved": append(append([]byte{}, pkcs1[:12]...), pkcs1[13:]...),
	}
	for name, der := range tests {
		t.Run(name+" is an error", func(t *testing.T) {
			n, err := loadDER(der)
			if err == nil {
				release(n)
				t.Fatal("loadDER accepted it")
			}
		})
	}
	t.Run("the key itself loads", func(t *testing.T) {
		n, err := loadDER(pkcs1)
		if err != nil {
			t.Fatal(err)
		}
		n.free()
	})
}
