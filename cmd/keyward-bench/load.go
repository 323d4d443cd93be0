package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/signer"
)

// benchSign signs a token-sized payload in a tight loop on one goroutine:
// the most a core can issue. For RS256 (PKCS#1 v1.5, SHA-256), impl "go"
// signs with crypto/rsa and impl "openssl" through internal/signer, which
// must then be built with -tags openssl (libcrypto through cgo). ES256 and
// EdDSA sign with Go's crypto/ecdsa and crypto/ed25519 through
// crypto.Signer, as keyward's token path does.
func benchSign(ctx context.Context, out io.Writer, alg, impl string, bits int, d time.Duration) error {
	payload := []byte(strings.Repeat("x", 420)) // about the size of a token's signing input
	var sign func() error
	switch {
	case alg == "RS256":
		s, closeSigner, err := newRSASigner("sign", impl, bits)
		if err != nil {
			return err
		}
		defer closeSigner()
		sign = func() error {
			sum := sha256.Sum256(payload)
			_, err := s.Sign(nil, sum[:], crypto.SHA256)
			return err
		}
	case impl != "go":
		return fmt.Errorf("sign: -impl %s is for RS256; %s signs with Go's implementation", impl, alg)
	case alg == "ES256":
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		sign = func() error {
			sum := sha256.Sum256(payload)
			_, err := key.Sign(rand.Reader, sum[:], crypto.SHA256)
			return err
		}
	case alg == "EdDSA":
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		sign = func() error {
			_, err := key.Sign(nil, payload, crypto.Hash(0))
			return err
		}
	default:
		return fmt.Errorf("sign: -alg must be RS256, ES256 or EdDSA, not %q", alg)
	}
	deadline := time.Now().Add(d)
	n := 0
	start := time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if err := sign(); err != nil {
			return err
		}
		n++
	}
	el := time.Since(start)
	res := map[string]any{
		"scenario": "sign", "alg": alg, "impl": impl, "ops": n, "seconds": el.Seconds(), "per_second": float64(n) / el.Seconds(),
	}
	if impl == "openssl" {
		res["signer"] = signer.Description()
	}
	return json.NewEncoder(out).Encode(res)
}

// newRSASigner makes an RSA key of bits and its signer: crypto/rsa for impl
// "go", libcrypto through internal/signer for "openssl" (a build with -tags
// openssl). The caller calls closeSigner when done.
func newRSASigner(cmd, impl string, bits int) (s crypto.Signer, closeSigner func(), err error) {
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, nil, err
	}
	switch impl {
	case "go":
		return key, func() {}, nil
	case "openssl":
		if signer.Impl != "openssl" {
			return nil, nil, fmt.Errorf("%s -impl openssl: keyward-bench was built without -tags openssl", cmd)
		}
		native, err := signer.New(key)
		if err != nil {
			return nil, nil, err
		}
		return native, func() { native.Close() }, nil
	}
	return nil, nil, fmt.Errorf("%s: -impl must be go or openssl, not %q", cmd, impl)
}

type tokenOptions struct {
	base, population, clientID, clientSecret string
	seeded, workingSet, freshFrom, requests  int
	fresh                                    bool
	conc                                     int
	dur                                      time.Duration
}

// benchToken loads POST /oauth/token with client_secret_basic, as one
// client or as many clients of a seeded population.
func benchToken(ctx context.Context, out io.Writer, o tokenOptions) error {
	var auth func() (string, bool) // the next request's Authorization header; false when none is left
	var warm []string              // headers to send once each before measuring
	var fresh *freshWalk
	res := map[string]any{"scenario": "token"}
	switch {
	case o.clientID != "" && o.seeded == 0 && !o.fresh:
		h := basicAuth(o.clientID, o.clientSecret)
		auth = func() (string, bool) { return h, true }
		res["mode"] = "one client"
	case o.clientID == "" && o.seeded > 0 && o.fresh:
		pop := newPopulation(o.population)
		var err error
		if fresh, err = newFreshWalk(o.seeded, o.workingSet, o.freshFrom); err != nil {
			return err
		}
		auth = func() (string, bool) {
			i, ok := fresh.next()
			if !ok {
				return "", false
			}
			return pop.basicAuth(i), true
		}
		res["mode"], res["clients"] = "a new client every request", o.seeded
	case o.clientID == "" && o.seeded > 0:
		pop := newPopulation(o.population)
		set := workingSet(o.seeded, o.workingSet)
		headers := make([]string, len(set))
		for j, i := range set {
			headers[j] = pop.basicAuth(i)
		}
		auth = func() (string, bool) { return headers[mrand.IntN(len(headers))], true }
		warm = headers
		res["mode"], res["clients"], res["working_set"] = "uniform over a working set", o.seeded, len(headers)
	default:
		return errors.New("token: give either -client-id and -client-secret, or -clients-from-seed N (with -fresh or not)")
	}
	form := "grant_type=client_credentials"
	newReq := func(warmHeader string) (*http.Request, error) {
		h := warmHeader
		if h == "" {
			var ok bool
			if h, ok = auth(); !ok {
				return nil, errExhausted
			}
		}
		req, err := http.NewRequest(http.MethodPost, o.base+"/oauth/token", strings.NewReader(form))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", h)
		return req, nil
	}
	err := load(ctx, res, o.conc, o.dur, o.requests, warm, newReq)
	if fresh != nil {
		res["next_fresh"] = fresh.position()
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(res)
}

// workingSet returns min(w, n) client indices spread evenly over 0..n-1,
// so that their rows are spread over the tables and their indexes.
func workingSet(n, w int) []int {
	if w >= n || w < 1 {
		w = n
	}
	stride := n / w
	set := make([]int, w)
	for j := range set {
		set[j] = j * stride
	}
	return set
}

// A freshWalk visits the indices 0..n-1 outside the working set in a
// scattered order (k ↦ a·k mod n, a coprime with n), each once: every
// request names a client that no earlier request named, so it misses the
// server's cache, and its rows sit anywhere in the tables.
type freshWalk struct {
	n, a, stride, w uint64
	k               atomic.Uint64
}

var errExhausted = errors.New("every client of the population has been used")

func newFreshWalk(n, w, from int) (*freshWalk, error) {
	if w >= n {
		return nil, errors.New("token: -fresh needs more seeded clients than the working set (-working-set)")
	}
	f := &freshWalk{n: uint64(n), stride: uint64(n / max(w, 1)), w: uint64(max(w, 0))}
	gcd := func(a, b uint64) uint64 {
		for b != 0 {
			a, b = b, a%b
		}
		return a
	}
	f.a = max(uint64(float64(n)*0.6180339887), 1)
	for gcd(f.a, f.n) != 1 {
		f.a++
	}
	f.k.Store(uint64(from))
	return f, nil
}

func (f *freshWalk) next() (int, bool) {
	for {
		k := f.k.Add(1) - 1
		if k >= f.n {
			return 0, false
		}
		i := f.a * k % f.n
		if f.w > 0 && i%f.stride == 0 && i/f.stride < f.w {
			continue // in the working set: maybe cached
		}
		return int(i), true
	}
}

// position is where a later walk should start so as not to repeat this one.
func (f *freshWalk) position() int { return int(min(f.k.Load(), f.n)) }

// benchGet loads a GET endpoint.
func benchGet(ctx context.Context, out io.Writer, url string, conc int, d time.Duration) error {
	res := map[string]any{"scenario": "get", "url": url}
	err := load(ctx, res, conc, d, 0, nil, func(string) (*http.Request, error) {
		return http.NewRequest(http.MethodGet, url, nil)
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(res)
}

// load sends requests from conc workers, each on its own kept-alive
// connection, for d or until maxRequests (when not 0) have been sent, and
// adds throughput and latency percentiles to res. Before measuring it warms
// the connections and the server for a second, and sends each request of
// warm once.
func load(ctx context.Context, res map[string]any, conc int, d time.Duration, maxRequests int, warm []string,
	newReq func(warmHeader string) (*http.Request, error)) error {
	tr := &http.Transport{MaxIdleConns: conc, MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()

	warmStart := time.Now()
	if len(warm) > 0 {
		var next atomic.Int64
		_, errs, firstErr := runWorkers(ctx, client, conc, func() (*http.Request, error) {
			j := int(next.Add(1) - 1)
			if j >= len(warm) {
				return nil, errExhausted
			}
			return newReq(warm[j])
		})
		if errs > 0 {
			return errors.New("warming up: " + firstErr)
		}
	}
	warmCtx, cancelWarm := context.WithTimeout(ctx, time.Second)
	runWorkers(warmCtx, client, conc, func() (*http.Request, error) { return newReq("") })
	cancelWarm()
	res["warm_up_seconds"] = time.Since(warmStart).Seconds()
	if err := ctx.Err(); err != nil {
		return err
	}

	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var sent atomic.Int64
	start := time.Now()
	lats, errs, firstErr := runWorkers(runCtx, client, conc, func() (*http.Request, error) {
		if maxRequests > 0 && sent.Add(1) > int64(maxRequests) {
			return nil, errExhausted
		}
		return newReq("")
	})
	el := time.Since(start)
	slices.Sort(lats)
	pct := func(p float64) float64 {
		if len(lats) == 0 {
			return 0
		}
		return float64(lats[min(len(lats)-1, int(p*float64(len(lats))))].Microseconds()) / 1000
	}
	res["concurrency"], res["requests"], res["errors"] = conc, len(lats), errs
	res["seconds"], res["per_second"] = el.Seconds(), float64(len(lats))/el.Seconds()
	res["p50_ms"], res["p90_ms"], res["p99_ms"] = pct(0.50), pct(0.90), pct(0.99)
	if firstErr != "" {
		res["first_error"] = firstErr
	}
	return ctx.Err()
}

// runWorkers sends requests from conc workers until ctx is done or newReq
// has none left, and returns the latencies of the successful ones.
func runWorkers(ctx context.Context, client *http.Client, conc int, newReq func() (*http.Request, error)) (lats []time.Duration, errs int, firstErr string) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	fail := func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == "" {
			firstErr = msg
		}
	}
	for range conc {
		wg.Go(func() {
			var mine []time.Duration
			bad := 0
			for ctx.Err() == nil {
				req, err := newReq()
				if err != nil {
					if !errors.Is(err, errExhausted) {
						bad++
						fail(err.Error())
					}
					break
				}
				t0 := time.Now()
				resp, err := client.Do(req.WithContext(ctx))
				if err != nil {
					if ctx.Err() == nil {
						bad++
						fail(err.Error())
					}
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad++
					fail(resp.Status + " " + string(body))
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, mine...)
			errs += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	return lats, errs, firstErr
}
