// Command keyward-bench measures keyward on loopback: the token endpoint
// under concurrent load, the JWKS endpoint, and the baselines they are
// compared with (RS256 signatures per second in a tight loop, and a bare
// net/http handler serving the same bytes). scripts/bench.sh runs it with
// each side pinned to its own core.
package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "keyward-bench:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  keyward-bench sign  [-d 5s] [-bits 2048]           RS256 signatures per second, one goroutine
  keyward-bench setup -url U -admin-id I -admin-secret S [-clients N]
                                                     create an organization and N clients; print one as JSON
  keyward-bench token -url U -client-id I -client-secret S [-c 32] [-d 10s]
                                                     load the token endpoint (client_secret_basic)
  keyward-bench get   -url U [-c 32] [-d 10s]        load a GET endpoint (e.g. the JWKS)
  keyward-bench bytes -from U -addr A                serve U's body from a bare net/http handler
Results are printed as one JSON object per run.`

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	dur := fs.Duration("d", 10*time.Second, "duration")
	conc := fs.Int("c", 32, "concurrent connections")
	bits := fs.Int("bits", 2048, "RSA key size for sign")
	target := fs.String("url", "http://127.0.0.1:8080", "keyward base URL, or the URL to GET")
	clientID := fs.String("client-id", "", "client id")
	clientSecret := fs.String("client-secret", "", "client secret")
	adminID := fs.String("admin-id", "", "environment admin client id")
	adminSecret := fs.String("admin-secret", "", "environment admin client secret")
	clients := fs.Int("clients", 1, "clients to create")
	from := fs.String("from", "", "URL whose body the bare handler serves")
	addr := fs.String("addr", "127.0.0.1:0", "listen address of the bare handler")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "sign":
		return benchSign(ctx, out, *bits, *dur)
	case "setup":
		return setup(ctx, out, *target, *adminID, *adminSecret, *clients)
	case "token":
		form := url.Values{"grant_type": {"client_credentials"}}.Encode()
		return load(ctx, out, "token", *conc, *dur, func() (*http.Request, error) {
			req, err := http.NewRequest(http.MethodPost, *target+"/oauth/token", strings.NewReader(form))
			if err != nil {
				return nil, err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape(*clientID), url.QueryEscape(*clientSecret))
			return req, nil
		})
	case "get":
		return load(ctx, out, "get", *conc, *dur, func() (*http.Request, error) {
			return http.NewRequest(http.MethodGet, *target, nil)
		})
	case "bytes":
		return serveBytes(ctx, out, *from, *addr)
	}
	return errors.New(usage)
}

// benchSign signs a token-sized payload with RS256 (PKCS#1 v1.5, SHA-256)
// in a tight loop on one goroutine: the most a core can issue.
func benchSign(ctx context.Context, out io.Writer, bits int, d time.Duration) error {
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return err
	}
	payload := []byte(strings.Repeat("x", 420)) // about the size of a token's signing input
	deadline := time.Now().Add(d)
	n := 0
	start := time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		sum := sha256.Sum256(payload)
		if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:]); err != nil {
			return err
		}
		n++
	}
	el := time.Since(start)
	return json.NewEncoder(out).Encode(map[string]any{
		"scenario": "rs256_sign", "ops": n, "seconds": el.Seconds(), "per_second": float64(n) / el.Seconds(),
	})
}

// load sends requests from conc workers, each on its own kept-alive
// connection, for d, and prints throughput and latency percentiles.
func load(ctx context.Context, out io.Writer, name string, conc int, d time.Duration, newReq func() (*http.Request, error)) error {
	tr := &http.Transport{MaxIdleConns: conc, MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()

	// Warm up the connections and the server's caches.
	warm, cancelWarm := context.WithTimeout(ctx, time.Second)
	runWorkers(warm, client, conc, newReq)
	cancelWarm()

	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	lats, errs, firstErr := runWorkers(runCtx, client, conc, newReq)
	el := time.Since(start)
	slices.Sort(lats)
	pct := func(p float64) float64 {
		if len(lats) == 0 {
			return 0
		}
		return float64(lats[min(len(lats)-1, int(p*float64(len(lats))))].Microseconds()) / 1000
	}
	res := map[string]any{
		"scenario": name, "concurrency": conc, "requests": len(lats), "errors": errs,
		"seconds": el.Seconds(), "per_second": float64(len(lats)) / el.Seconds(),
		"p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99),
	}
	if firstErr != "" {
		res["first_error"] = firstErr
	}
	return json.NewEncoder(out).Encode(res)
}

func runWorkers(ctx context.Context, client *http.Client, conc int, newReq func() (*http.Request, error)) (lats []time.Duration, errs int, firstErr string) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			var mine []time.Duration
			bad := 0
			for ctx.Err() == nil {
				req, err := newReq()
				if err != nil {
					return
				}
				t0 := time.Now()
				resp, err := client.Do(req.WithContext(ctx))
				if err != nil {
					if ctx.Err() == nil {
						bad++
						mu.Lock()
						if firstErr == "" {
							firstErr = err.Error()
						}
						mu.Unlock()
					}
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad++
					mu.Lock()
					if firstErr == "" {
						firstErr = resp.Status + " " + string(body)
					}
					mu.Unlock()
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

// setup creates an organization and clients through the admin API and
// prints the last client's credentials.
func setup(ctx context.Context, out io.Writer, base, adminID, adminSecret string, n int) error {
	tok, err := getToken(ctx, base, adminID, adminSecret)
	if err != nil {
		return err
	}
	var org struct {
		Organization struct{ ID string } `json:"organization"`
	}
	if err := call(ctx, base+"/api/v1/organizations", tok, map[string]any{"display_name": "bench"}, &org); err != nil {
		return err
	}
	var c struct {
		Client struct {
			ClientID string `json:"client_id"`
		} `json:"client"`
		PlainSecret string `json:"plain_secret"`
	}
	start := time.Now()
	for i := range n {
		body := map[string]any{"name": fmt.Sprintf("bench client %d", i), "scopes": []string{"bench:read", "bench:write"},
			"audience": []string{"bench-api"}, "custom_claims": []map[string]string{{"key": "tier", "value": "bench"}}}
		if err := call(ctx, base+"/api/v1/organizations/"+org.Organization.ID+"/clients", tok, body, &c); err != nil {
			return err
		}
	}
	el := time.Since(start)
	return json.NewEncoder(out).Encode(map[string]any{
		"organization_id": org.Organization.ID, "client_id": c.Client.ClientID, "client_secret": c.PlainSecret,
		"clients_created": n, "create_per_second": float64(n) / el.Seconds(),
	})
}

func getToken(ctx context.Context, base, id, plain string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/oauth/token",
		strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(plain))
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := do(req, &tr); err != nil {
		return "", err
	}
	return tr.AccessToken, nil
}

func call(ctx context.Context, u, tok string, body, v any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(string(b)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	return do(req, v)
}

func do(req *http.Request, v any) error {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s %s", req.Method, req.URL.Path, resp.Status, b)
	}
	return json.Unmarshal(b, v)
}

// serveBytes fetches from once and serves its body and Content-Type from a
// bare handler until ctx is done: the ceiling for serving pre-encoded bytes.
func serveBytes(ctx context.Context, out io.Writer, from, addr string) error {
	resp, err := http.Get(from)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	ct := resp.Header.Get("Content-Type")
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ct)
		w.Write(body)
	})}
	fmt.Fprintf(out, "{\"listening\":%q}\n", "http://"+ln.Addr().String())
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
