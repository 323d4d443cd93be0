package keys_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/keyward/keyward/internal/keys"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/signer"
)

// TestRS256SignsThroughInternalSigner: the active RS256 key is a
// *signer.RSA (libcrypto in the openssl build), jwx signs through it rather
// than converting it back into an *rsa.PrivateKey, and golang-jwt verifies
// what it signs. Not parallel: it counts the process's signatures.
func TestRS256SignsThroughInternalSigner(t *testing.T) {
	m, _, clk := newManager(t)
	if _, ok := m.ActiveSigner().(*signer.RSA); !ok {
		t.Fatalf("the active RS256 key is a %T, want a *signer.RSA", m.ActiveSigner())
	}
	t.Logf("signing with %s", signer.Description())
	before := signer.Signatures()
	const n = 50
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = issue(t, m, clk.Now(), time.Hour, "jti-"+string(rune('a'+i%26)))
	}
	if got := signer.Signatures() - before; got != n {
		t.Fatalf("%d tokens signed, but internal/signer made %d signatures", n, got)
	}
	body, _ := m.JWKS()
	pub := parseJWKS(t, body)
	for _, tok := range tokens {
		if _, err := verifyToken(pub, tok, clk.Now); err != nil {
			t.Fatalf("golang-jwt rejects the token: %v", err)
		}
		if _, err := m.Verify(tok, testIssuer); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}
}

func TestES256AndEdDSAStayWithGo(t *testing.T) {
	t.Parallel()
	for alg, want := range map[string]func(crypto.Signer) bool{
		keys.ES256: func(s crypto.Signer) bool { _, ok := s.(*ecdsa.PrivateKey); return ok },
		keys.EdDSA: func(s crypto.Signer) bool { _, ok := s.(ed25519.PrivateKey); return ok },
	} {
		t.Run(alg+" keys sign with Go's implementation", func(t *testing.T) {
			t.Parallel()
			cfg := testConfig
			cfg.Alg = alg
			m := keys.New(pgtest.NewStore(t), newRing(t, testKEK(1)), cfg, newClock().Now, quietLog())
			if err := m.Ensure(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !want(m.ActiveSigner()) {
				t.Errorf("the active %s key is a %T", alg, m.ActiveSigner())
			}
		})
	}
}

// signsWith reports whether s still signs (a closed *signer.RSA does not).
func signsWith(t *testing.T, s crypto.Signer) bool {
	t.Helper()
	sum := sha256.Sum256([]byte("payload"))
	_, err := s.Sign(nil, sum[:], crypto.SHA256)
	if err != nil && !errors.Is(err, signer.ErrClosed) {
		t.Fatalf("Sign: %v", err)
	}
	return err == nil
}

// TestKeysThatStopSigningAreFreed: a retired key, a revoked key and, on
// Close, the active key are closed (freed by libcrypto in the openssl
// build); the key that takes over signs.
func TestKeysThatStopSigningAreFreed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, _, clk := newManager(t)
	first := m.ActiveSigner()
	clk.Advance(testConfig.PublishLead)
	if err := m.Rotate(ctx); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if signsWith(t, first) {
		t.Error("the retired key is still open")
	}
	second := m.ActiveSigner()
	if !signsWith(t, second) {
		t.Fatal("the new active key does not sign")
	}
	if err := m.Revoke(ctx, m.ActiveKID()); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if signsWith(t, second) {
		t.Error("the revoked key is still open")
	}
	third := m.ActiveSigner()
	issue(t, m, clk.Now(), time.Hour, "after-revoke")
	m.Close()
	if signsWith(t, third) {
		t.Error("the active key is still open after Close")
	}
	if _, err := m.Sign([]byte(`{}`)); !errors.Is(err, signer.ErrClosed) {
		t.Errorf("Sign after Close = %v, want signer.ErrClosed", err)
	}
}

// TestSigningGoesOnWhileKeysRotate: a signature that starts as its key is
// retired and freed signs with the new key instead of failing.
func TestSigningGoesOnWhileKeysRotate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, _, clk := newManager(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := m.Sign([]byte(`{"sub":"m2m_test"}`)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for range 3 {
		clk.Advance(testConfig.PublishLead)
		if err := m.Rotate(ctx); err != nil {
			t.Errorf("Rotate: %v", err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Sign during rotations: %v", err)
	}
}

// TestSignIsWhatJWSSignMakes: Sign builds the compact JWS itself around
// jwx's signer (the protected header encoded once per key); for the
// deterministic algorithms its tokens are byte for byte what jws.Sign makes
// with the same key and headers, and ES256's verify with jwx.
func TestSignIsWhatJWSSignMakes(t *testing.T) {
	t.Parallel()
	shared := pgtest.NewStore(t)
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			m, _, _ := freshOn(t, shared, withAlg(testConfig, alg))
			payload := []byte(`{"iss":"https://keyward.test","sub":"m2m_test","exp":1893456000}`)
			got, err := m.Sign(payload)
			if err != nil {
				t.Fatal(err)
			}
			h := jws.NewHeaders()
			_ = h.Set(jws.TypeKey, "at+jwt")
			_ = h.Set(jws.KeyIDKey, m.ActiveKID())
			want, err := jws.Sign(payload, jws.WithKey(jwa.SignatureAlgorithm(alg), m.ActiveSigner(), jws.WithProtectedHeaders(h)))
			if err != nil {
				t.Fatal(err)
			}
			gotParts, wantParts := strings.Split(got, "."), strings.Split(string(want), ".")
			if len(gotParts) != 3 || gotParts[0] != wantParts[0] || gotParts[1] != wantParts[1] {
				t.Fatalf("Sign = %s\njws.Sign = %s\nheader or payload differ", got, want)
			}
			if alg != keys.ES256 && got != string(want) { // ECDSA signatures are randomised
				t.Errorf("signatures differ:\nSign     %s\njws.Sign %s", gotParts[2], wantParts[2])
			}
			if _, err := jws.Verify([]byte(got), jws.WithKey(jwa.SignatureAlgorithm(alg), m.ActiveSigner().Public())); err != nil {
				t.Errorf("jws.Verify: %v", err)
			}
		})
	}
}

// BenchmarkSign: an access token signed by Manager.Sign against the same
// token from jws.Sign with the same key and headers (go test -bench Sign
// -benchmem ./internal/keys; with -tags openssl for libcrypto's RS256).
// The difference is the per-token cost Sign saves by encoding the protected
// header once per key.
func BenchmarkSign(b *testing.B) {
	shared := pgtest.NewStore(b)
	payload := []byte(`{"iss":"https://keyward.test","sub":"m2m_0123456789abcdef","aud":"https://api.example.com",` +
		`"exp":1893456000,"iat":1893455100,"nbf":1893455100,"jti":"tok_0123456789abcdef0123",` +
		`"client_id":"m2m_0123456789abcdef","scope":"read:reports write:reports","org_id":"org_0123456789abcdef"}`)
	for _, alg := range []string{keys.RS256, keys.ES256, keys.EdDSA} {
		if _, err := shared.Pool().Exec(context.Background(), `DELETE FROM signing_keys`); err != nil {
			b.Fatal(err)
		}
		cfg := testConfig
		cfg.Alg = alg
		m := keys.New(shared, newRing(b, testKEK(1)), cfg, newClock().Now, quietLog())
		if err := m.Ensure(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.Run(alg+"/Manager.Sign", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Sign(payload); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/jws.Sign", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h := jws.NewHeaders()
				_ = h.Set(jws.TypeKey, "at+jwt")
				_ = h.Set(jws.KeyIDKey, m.ActiveKID())
				if _, err := jws.Sign(payload, jws.WithKey(jwa.SignatureAlgorithm(alg), m.ActiveSigner(), jws.WithProtectedHeaders(h))); err != nil {
					b.Fatal(err)
				}
			}
		})
		m.Close()
	}
}
