package signer

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testKeys generates n RSA keys of bits, at once on every core.
func testKeys(t testing.TB, bits, n int) []*rsa.PrivateKey {
	t.Helper()
	keys := make([]*rsa.PrivateKey, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() { keys[i], errs[i] = rsa.GenerateKey(rand.Reader, bits) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return keys
}

func newSigner(t testing.TB, k *rsa.PrivateKey) *RSA {
	t.Helper()
	s, err := New(k)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var hashes = []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512}

// TestSignaturesEqualCryptoRSA: for random digests and keys of 2048, 3072
// and 4096 bits, every signature is byte for byte what
// rsa.SignPKCS1v15 makes. In the go build both sides are crypto/rsa, so a
// few digests do.
func TestSignaturesEqualCryptoRSA(t *testing.T) {
	t.Parallel()
	sizes := []struct{ bits, keys, digests int }{
		{2048, 4, 500}, // per key
		{3072, 2, 200},
		{4096, 2, 40},
	}
	for _, sz := range sizes {
		if Impl == "go" {
			sz.keys, sz.digests = 1, sz.digests/30
		}
		t.Run(fmt.Sprintf("%d bits, %d keys, %d digests each", sz.bits, sz.keys, sz.digests), func(t *testing.T) {
			t.Parallel()
			for ki, k := range testKeys(t, sz.bits, sz.keys) {
				s := newSigner(t, k)
				if s.Size() != sz.bits/8 {
					t.Fatalf("Size = %d, want %d", s.Size(), sz.bits/8)
				}
				for i := range sz.digests {
					h := hashes[i%len(hashes)]
					digest := make([]byte, h.Size())
					rand.Read(digest)
					got, err := s.Sign(rand.Reader, digest, h)
					if err != nil {
						t.Fatalf("key %d, digest %d (%v): Sign: %v", ki, i, h, err)
					}
					want, err := rsa.SignPKCS1v15(nil, k, h, digest)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("key %d, %v digest %x: the signature differs from crypto/rsa's:\n got %x\nwant %x", ki, h, digest, got, want)
					}
				}
			}
		})
	}
}

// TestJWTsVerifyWithGolangJWT: JWTs signed through RSA (RS256, RS384,
// RS512) verify with golang-jwt, a library keyward does not sign with.
func TestJWTsVerifyWithGolangJWT(t *testing.T) {
	t.Parallel()
	k := testKeys(t, 2048, 1)[0]
	s := newSigner(t, k)
	b64 := base64.RawURLEncoding.EncodeToString
	for i, m := range []*jwt.SigningMethodRSA{jwt.SigningMethodRS256, jwt.SigningMethodRS384, jwt.SigningMethodRS512} {
		for j := range 20 {
			claims := fmt.Sprintf(`{"sub":"client-%d-%d","exp":%d}`, i, j, time.Now().Add(time.Hour).Unix())
			input := b64([]byte(`{"alg":"`+m.Alg()+`","typ":"JWT"}`)) + "." + b64([]byte(claims))
			hh := m.Hash.New()
			hh.Write([]byte(input))
			sig, err := s.Sign(rand.Reader, hh.Sum(nil), m.Hash)
			if err != nil {
				t.Fatal(err)
			}
			token := input + "." + b64(sig)
			parsed, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return &k.PublicKey, nil },
				jwt.WithValidMethods([]string{m.Alg()}))
			if err != nil || !parsed.Valid {
				t.Fatalf("golang-jwt rejects the %s token: %v", m.Alg(), err)
			}
			if sub, _ := parsed.Claims.GetSubject(); sub != fmt.Sprintf("client-%d-%d", i, j) {
				t.Fatalf("sub = %q", sub)
			}
		}
	}
}

// TestSignRejects: wrong input is an error, never a crash or a signature.
func TestSignRejects(t *testing.T) {
	t.Parallel()
	k := testKeys(t, 2048, 1)[0]
	s := newSigner(t, k)
	sum := sha256.Sum256([]byte("payload"))
	tests := []struct {
		name   string
		digest []byte
		opts   crypto.SignerOpts
	}{
		{"a digest one byte short", sum[:31], crypto.SHA256},
		{"a digest one byte long", append(sum[:], 0), crypto.SHA256},
		{"an empty digest", nil, crypto.SHA256},
		{"a SHA-256 digest named SHA-512", sum[:], crypto.SHA512},
		{"SHA-1", sum[:20], crypto.SHA1},
		{"MD5", sum[:16], crypto.MD5},
		{"SHA-224", sum[:28], crypto.SHA224},
		{"SHA3-256", sum[:], crypto.SHA3_256},
		{"no hash (raw PKCS #1 v1.5)", sum[:], crypto.Hash(0)},
		{"a hash Go does not know", sum[:], crypto.Hash(99)},
		{"nil options", sum[:], nil},
		{"PSS", sum[:], &rsa.PSSOptions{Hash: crypto.SHA256}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is an error", func(t *testing.T) {
			sig, err := s.Sign(rand.Reader, tt.digest, tt.opts)
			if err == nil || sig != nil {
				t.Fatalf("Sign = %x, %v; want an error", sig, err)
			}
		})
	}
}

func TestNewRejectsKeysThatAreNotRSAPrivateKeys(t *testing.T) {
	t.Parallel()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rk := testKeys(t, 2048, 1)[0]
	for _, k := range []crypto.PrivateKey{ec, ed, &rk.PublicKey, rk.PublicKey, *rk, nil, (*rsa.PrivateKey)(nil), []byte("a key")} {
		t.Run(fmt.Sprintf("a %T is an error", k), func(t *testing.T) {
			if s, err := New(k); err == nil || s != nil {
				t.Fatalf("New = %v, %v; want an error", s, err)
			}
		})
	}
}

func TestSignAfterCloseIsErrClosed(t *testing.T) {
	t.Parallel()
	s := newSigner(t, testKeys(t, 2048, 1)[0])
	sum := sha256.Sum256([]byte("payload"))
	if _, err := s.Sign(nil, sum[:], crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	for range 3 {
		if sig, err := s.Sign(nil, sum[:], crypto.SHA256); !errors.Is(err, ErrClosed) || sig != nil {
			t.Fatalf("Sign after Close = %x, %v; want ErrClosed", sig, err)
		}
	}
	if _, ok := s.Public().(*rsa.PublicKey); !ok {
		t.Errorf("Public after Close is a %T", s.Public())
	}
}

// TestConcurrentSigning: one key, many goroutines (run it with -race); a
// Close in the middle makes the signatures after it ErrClosed and leaves
// the ones before it whole.
func TestConcurrentSigning(t *testing.T) {
	t.Parallel()
	k := testKeys(t, 2048, 1)[0]
	const workers, each = 8, 25
	digests := make([][]byte, workers)
	wants := make([][]byte, workers)
	for i := range digests {
		sum := sha256.Sum256([]byte(strconv.Itoa(i)))
		digests[i] = sum[:]
		wants[i], _ = rsa.SignPKCS1v15(nil, k, crypto.SHA256, sum[:])
	}
	t.Run("every signature is right", func(t *testing.T) {
		s := newSigner(t, k)
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Go(func() {
				for range each {
					sig, err := s.Sign(nil, digests[w], crypto.SHA256)
					if err == nil && !bytes.Equal(sig, wants[w]) {
						err = fmt.Errorf("worker %d: a wrong signature", w)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
	t.Run("closing while others sign gives them ErrClosed, never a crash", func(t *testing.T) {
		s := newSigner(t, k)
		var wg sync.WaitGroup
		started := make(chan struct{}, workers)
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				started <- struct{}{}
				for {
					sig, err := s.Sign(nil, digests[w], crypto.SHA256)
					switch {
					case errors.Is(err, ErrClosed):
						return
					case err != nil:
						errs <- err
						return
					case !bytes.Equal(sig, wants[w]):
						errs <- fmt.Errorf("worker %d: a wrong signature", w)
						return
					}
				}
			})
		}
		for range workers {
			<-started
		}
		s.Close()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// vmRSS reads this process's resident set in kB.
func vmRSS(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// TestLoadFreeCyclesKeepRSSFlat: loading and freeing a key 10,000 times
// leaves the resident set where it was. A leaked 2048-bit key costs
// libcrypto about 2 kB, so a leak adds 20 MB or more (seen when
// EVP_PKEY_free is left out); the 8 MB allowed is for the race detector,
// whose own bookkeeping grows by up to 5 MB over the cycles.
func TestLoadFreeCyclesKeepRSSFlat(t *testing.T) {
	// Not parallel: the resident set is the whole process's.
	k := testKeys(t, 2048, 1)[0]
	sum := sha256.Sum256([]byte("payload"))
	cycle := func(i int) {
		s, err := New(k)
		if err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 { // and sign now and then, which allocates too
			if _, err := s.Sign(nil, sum[:], crypto.SHA256); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
	}
	settle := func() int {
		runtime.GC()
		debug.FreeOSMemory()
		return vmRSS(t)
	}
	for i := range 1000 { // warm up: allocator arenas, OpenSSL's caches
		cycle(i)
	}
	before, liveBefore := settle(), live.Load()
	for i := range 10_000 {
		cycle(i)
	}
	after := settle()
	t.Logf("%s: VmRSS %d kB before 10,000 load/free cycles, %d kB after", Description(), before, after)
	if grew := after - before; grew > 8192 {
		t.Errorf("VmRSS grew by %d kB over 10,000 load/free cycles (%d -> %d kB)", grew, before, after)
	}
	if live.Load() != liveBefore {
		t.Errorf("%d keys are still loaded", live.Load()-liveBefore)
	}
}

// TestUnclosedKeysAreFreedWhenCollected: the safety net under Close.
func TestUnclosedKeysAreFreedWhenCollected(t *testing.T) {
	// Not parallel: it counts every key of the process.
	k := testKeys(t, 2048, 1)[0]
	before := live.Load()
	for range 100 {
		if _, err := New(k); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for live.Load() > before && time.Now().Before(deadline) {
		runtime.GC() // cleanups run on their own goroutine after a collection
		runtime.Gosched()
	}
	if n := live.Load() - before; n > 0 {
		t.Errorf("%d of 100 keys nobody closed are still loaded after garbage collection", n)
	}
}

// FuzzSign feeds any digest and any hash both to Sign and straight to the
// binding (native.sign, the one function of each build that signs), which
// must check them again rather than trust its caller. Either gives an error
// or crypto/rsa's signature; with the openssl tag the binding is
// libcrypto: scripts/fuzz.sh builds with the tag when it can.
func FuzzSign(f *testing.F) {
	k := testKeys(f, 2048, 1)[0]
	s := newSigner(f, k)
	sum := sha256.Sum256([]byte("payload"))
	f.Add(sum[:], uint8(5))
	f.Add(sum[:31], uint8(5))
	f.Add([]byte{}, uint8(5))
	f.Add(make([]byte, 64), uint8(7))
	f.Add(make([]byte, 48), uint8(6))
	f.Add(sum[:20], uint8(3))
	f.Add(make([]byte, 300), uint8(0))
	f.Add(sum[:], uint8(250))
	f.Fuzz(func(t *testing.T, digest []byte, hash uint8) {
		h := crypto.Hash(hash % 24) // crypto's hashes are 1..19; 0 and the rest are none
		valid := (h == crypto.SHA256 || h == crypto.SHA384 || h == crypto.SHA512) && len(digest) == h.Size()
		sig, err := s.Sign(nil, digest, h)
		if valid != (err == nil) {
			t.Fatalf("Sign(%d-byte digest, %v) = %v; want an error: %v", len(digest), h, err, !valid)
		}
		var want []byte
		if valid {
			if want, err = rsa.SignPKCS1v15(nil, k, h, digest); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sig, want) {
				t.Fatalf("Sign differs from crypto/rsa for a %v digest %x", h, digest)
			}
		}
		if Impl == "go" && !valid {
			return // crypto/rsa panics on a hash it does not know: Sign keeps those out
		}
		s.mu.RLock()
		raw, err := s.key.sign(h, digest, s.Size())
		s.mu.RUnlock()
		switch {
		case valid && (err != nil || !bytes.Equal(raw, want)):
			t.Fatalf("the binding: %x, %v; want crypto/rsa's signature", raw, err)
		case !valid && Impl == "openssl" && err == nil:
			t.Fatalf("the binding signed a %d-byte digest as %v", len(digest), h)
		}
	})
}
