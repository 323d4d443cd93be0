package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/pgtest"
)

// readyTimeout bounds every wait for a server to become ready.
const readyTimeout = 30 * time.Second

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// env is a fake environment: tests never read the real one, so a
// DATABASE_URL on the machine cannot leak into them.
type env map[string]string

func (e env) get(key string) string { return e[key] }

// with returns a copy of e with kv added.
func (e env) with(kv env) env {
	c := env{}
	for k, v := range e {
		c[k] = v
	}
	for k, v := range kv {
		c[k] = v
	}
	return c
}

// newKEK returns a fresh key-encryption key in the configured form.
func newKEK() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// syncBuffer is a bytes.Buffer that a server may write while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// waitReady polls base/readyz every 50 ms until it answers 200. It fails the
// test when exited is closed first (the server gave up) or after
// readyTimeout; describe says what the server logged.
func waitReady(t *testing.T, base string, exited <-chan struct{}, describe func() string) {
	t.Helper()
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := httpClient.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("%s stopped before it was ready:\n%s", base, describe())
		case <-deadline.C:
			t.Fatalf("%s was not ready after %s (last: %v):\n%s", base, readyTimeout, err, describe())
		case <-tick.C:
		}
	}
}

// server is `keyward serve` running in-process through run.
type server struct {
	URL    string // also its issuer
	Logs   *syncBuffer
	cancel context.CancelFunc
	exited chan struct{}
	err    error // run's result, once exited is closed
}

// startServe runs `keyward serve` on a free port with e as its environment
// and waits until it is ready. The test's cleanup stops it.
func startServe(t *testing.T, e env, args ...string) *server {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{URL: "http://" + addr, Logs: &syncBuffer{}, cancel: cancel, exited: make(chan struct{})}
	args = append([]string{"serve", "--addr", addr, "--issuer", s.URL}, args...)
	go func() {
		defer close(s.exited)
		s.err = run(ctx, args, e.get, io.Discard, s.Logs)
	}()
	t.Cleanup(func() { s.Stop(t) })
	waitReady(t, s.URL, s.exited, s.describe)
	return s
}

// describe says how serve is doing and what it logged.
func (s *server) describe() string {
	status := "still running"
	select {
	case <-s.exited:
		status = fmt.Sprintf("run returned %v", s.err)
	default:
	}
	return status + "; logs:\n" + s.Logs.String()
}

// Stop cancels serve's context and returns what run returned.
func (s *server) Stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	select {
	case <-s.exited:
		return s.err
	case <-time.After(readyTimeout):
		t.Fatalf("serve did not stop within %s; logs:\n%s", readyTimeout, s.Logs)
		return nil
	}
}

// tokenCommand runs `keyward token` against issuer and returns what it printed.
func tokenCommand(t *testing.T, issuer, clientID, clientSecret string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"token", "--issuer", issuer, "--client-id", clientID, "--client-secret", clientSecret},
		env{}.get, &stdout, &stderr)
	return stdout.String(), err
}

// fetchJWKS reads base's JWKS into RSA public keys by kid, without jwx.
func fetchJWKS(t *testing.T, base string) map[string]*rsa.PublicKey {
	t.Helper()
	resp, err := httpClient.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatalf("GET JWKS: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/.well-known/jwks.json = %s", base, resp.Status)
	}
	var set struct {
		Keys []struct {
			Kty, Kid, Use, Alg, N, E string
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("decode JWKS: %v", err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "RSA" || k.Use != "sig" || k.Alg != "RS256" {
			t.Fatalf("JWKS key %s is kty=%q use=%q alg=%q, want RSA sig RS256", k.Kid, k.Kty, k.Use, k.Alg)
		}
		n, errN := base64.RawURLEncoding.DecodeString(k.N)
		e, errE := base64.RawURLEncoding.DecodeString(k.E)
		if errN != nil || errE != nil {
			t.Fatalf("JWKS key %s: n or e is not base64url", k.Kid)
		}
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return keys
}

// verifyToken checks token's RS256 signature against keys with golang-jwt
// (not the server's jwx) and returns its header and claims.
func verifyToken(t *testing.T, token string, keys map[string]*rsa.PublicKey, issuer string) (map[string]any, jwt.MapClaims) {
	t.Helper()
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		if k, ok := keys[kid]; ok {
			return k, nil
		}
		return nil, fmt.Errorf("kid %q is not in the JWKS", kid)
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(issuer), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		t.Fatalf("token does not verify: %v\ntoken: %s", err, token)
	}
	if typ := parsed.Header["typ"]; typ != "at+jwt" {
		t.Errorf("token typ = %v, want at+jwt", typ)
	}
	return parsed.Header, claims
}

// emptyDatabase creates a database with nothing in it, not even the
// migrations, drops it when the test ends, and returns its URL.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	base := pgtest.ServerURL(t)
	b := make([]byte, 8)
	rand.Read(b)
	name := "kwt_empty_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", pgtest.EnvVar, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// connect opens a connection to the database at dbURL for the test's own
// queries.
func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// queryInt runs a query that returns one integer.
func queryInt(t *testing.T, conn *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// keywardBinary builds ./cmd/keyward once per test run and returns its path.
// The directory outlives a single test (t.TempDir would not), so TestMain
// removes it.
func keywardBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "keyward-test-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "keyward")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// lines splits output into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
