//go:build !openssl || !cgo

package signer

import (
	"crypto"
	"crypto/rsa"
)

const impl = "go"

func description() string { return "go" }

// native is the key as crypto/rsa uses it.
type native struct{ key *rsa.PrivateKey }

func load(k *rsa.PrivateKey) (*native, error) {
	k.Precompute() // the CRT values, once (x509 parsing has usually done it)
	return &native{key: k}, nil
}

func (n *native) sign(h crypto.Hash, digest []byte, _ int) ([]byte, error) {
	return rsa.SignPKCS1v15(nil, n.key, h, digest)
}

// free lets the garbage collector have the key.
func (n *native) free() { n.key = nil }
