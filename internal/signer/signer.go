// Package signer owns the RSA private keys that sign keyward's RS256 access
// tokens: one type, RSA, a crypto.Signer for PKCS #1 v1.5 signatures with
// SHA-256, SHA-384 or SHA-512, in two builds. Built with the tag openssl
// (and cgo), it signs through OpenSSL 3's libcrypto (openssl.go), which is
// three to four times faster than crypto/rsa on our machines; otherwise
// through crypto/rsa (gorsa.go). Both give the same bytes: PKCS #1 v1.5 is
// deterministic.
//
// A key is handed to the implementation once, by New, and freed by Close
// (when it stops signing) or, as a safety net, when the RSA is garbage
// collected. ES256 and EdDSA keys stay with Go's implementations and never
// come here.
package signer

import (
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by Sign after Close.
var ErrClosed = errors.New("signer: the key is closed")

// RSA signs with one RSA private key. It is safe for concurrent use. It is
// not an *rsa.PrivateKey, so that a library that signs through
// crypto.Signer (jwx does) cannot convert it back and sign with crypto/rsa.
type RSA struct {
	pub *rsa.PublicKey
	// mu is held shared by Sign and exclusively by Close: Close waits for
	// the signatures in flight before it frees the key.
	mu      sync.RWMutex
	key     *native // nil once closed
	cleanup runtime.Cleanup
}

var (
	signatures atomic.Uint64 // made in this process, by every key
	live       atomic.Int64  // keys handed to the implementation and not yet freed
)

// Signatures returns how many signatures RSA keys have made in this
// process; tests use it to see that a signing path goes through this
// package.
func Signatures() uint64 { return signatures.Load() }

// Impl names the implementation this build signs with: "openssl" or "go".
const Impl = impl

// Description names the implementation and, for OpenSSL, the version of
// the libcrypto loaded at run time: "openssl 3.0.19" or "go".
func Description() string { return description() }

// New hands priv, which must be an *rsa.PrivateKey, to the implementation.
// It returns an error for any other key, or when the implementation
// rejects the key.
func New(priv crypto.PrivateKey) (*RSA, error) {
	k, ok := priv.(*rsa.PrivateKey)
	if !ok || k == nil {
		return nil, fmt.Errorf("signer: a %T is not an RSA private key", priv)
	}
	n, err := load(k)
	if err != nil {
		return nil, err
	}
	live.Add(1)
	pub := k.PublicKey
	s := &RSA{pub: &pub, key: n}
	// The safety net for a key nobody closed. n does not point back to s,
	// so s can become unreachable.
	s.cleanup = runtime.AddCleanup(s, release, n)
	return s, nil
}

// Public returns the public key, an *rsa.PublicKey.
func (s *RSA) Public() crypto.PublicKey { return s.pub }

// Size is the length of a signature in bytes.
func (s *RSA) Size() int { return s.pub.Size() }

// Sign signs digest, the hash of the message under opts.HashFunc(), with
// PKCS #1 v1.5 padding, as rsa.SignPKCS1v15 does; rand is not used (the
// signature is deterministic). It returns an error for PSS options, a hash
// other than SHA-256, SHA-384 or SHA-512, a digest of the wrong length, and
// ErrClosed after Close.
func (s *RSA) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil {
		return nil, errors.New("signer: no hash given")
	}
	if _, pss := opts.(*rsa.PSSOptions); pss {
		return nil, errors.New("signer: PSS is not supported, only PKCS #1 v1.5")
	}
	h := opts.HashFunc()
	switch h {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return nil, fmt.Errorf("signer: hash %v is not supported (SHA-256, SHA-384 or SHA-512)", h)
	}
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("signer: a %v digest is %d bytes, got %d", h, h.Size(), len(digest))
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.key == nil {
		return nil, ErrClosed
	}
	sig, err := s.key.sign(h, digest, s.pub.Size())
	if err != nil {
		return nil, err
	}
	signatures.Add(1)
	return sig, nil
}

// Close frees the key, after the signatures in flight have finished; Sign
// returns ErrClosed from then on. Closing twice does nothing. It returns no
// error: the error is there for io.Closer.
func (s *RSA) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key == nil {
		return nil
	}
	s.cleanup.Stop()
	release(s.key)
	s.key = nil
	return nil
}

func release(n *native) {
	n.free()
	live.Add(-1)
}
