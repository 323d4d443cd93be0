package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// setup creates orgs organizations and n clients through the admin API,
// conc at a time, spread over the organizations in turn, and prints the
// last client's credentials and the creation rate.
func setup(ctx context.Context, out io.Writer, base, adminID, adminSecret string, n, conc, orgs int) error {
	hc := adminClient(conc)
	tok, err := getToken(ctx, hc, base, adminID, adminSecret)
	if err != nil {
		return err
	}
	var orgIDs []string
	for range max(orgs, 1) {
		var org struct {
			Organization struct{ ID string } `json:"organization"`
		}
		if err := call(ctx, hc, http.MethodPost, base+"/api/v1/organizations", tok, map[string]any{"display_name": "bench"}, &org); err != nil {
			return err
		}
		orgIDs = append(orgIDs, org.Organization.ID)
	}
	type created struct {
		Client struct {
			ClientID string `json:"client_id"`
		} `json:"client"`
		PlainSecret string `json:"plain_secret"`
	}
	var (
		mu       sync.Mutex
		last     created
		firstErr error
		next     = make(chan int)
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range max(conc, 1) {
		wg.Go(func() {
			for i := range next {
				body := map[string]any{"name": fmt.Sprintf("bench client %d", i), "scopes": []string{"bench:read", "bench:write"},
					"audience": []string{"bench-api"}, "custom_claims": []map[string]string{{"key": "tier", "value": "bench"}}}
				var c created
				err := call(ctx, hc, http.MethodPost, base+"/api/v1/organizations/"+orgIDs[i%len(orgIDs)]+"/clients", tok, body, &c)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				last = c
				mu.Unlock()
			}
		})
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	el := time.Since(start)
	if firstErr != nil {
		return firstErr
	}
	return json.NewEncoder(out).Encode(map[string]any{
		"organization_id": orgIDs[0], "client_id": last.Client.ClientID, "client_secret": last.PlainSecret,
		"clients_created": n, "organizations": len(orgIDs), "concurrency": conc, "seconds": el.Seconds(), "create_per_second": float64(n) / el.Seconds(),
	})
}

// benchList walks a list endpoint in pages of 500, timing each, then
// times n requests of its first page and n of a deep one (the last full
// page of 500 along the walk), 50 items each, alternating, and reports
// their medians: constant time per page means the two match.
func benchList(ctx context.Context, out io.Writer, base, adminID, adminSecret, path string, n int) error {
	hc := adminClient(1)
	tok, err := getToken(ctx, hc, base, adminID, adminSecret)
	if err != nil {
		return err
	}
	type page struct {
		NextPageToken string `json:"next_page_token"`
		TotalSize     int    `json:"total_size"`
		items         int
	}
	get := func(size int, pageToken string) (page, time.Duration, error) {
		q := url.Values{"page_size": {fmt.Sprint(size)}}
		if pageToken != "" {
			q.Set("page_token", pageToken)
		}
		var raw map[string]json.RawMessage
		t0 := time.Now()
		err := call(ctx, hc, http.MethodGet, base+path+"?"+q.Encode(), tok, nil, &raw)
		d := time.Since(t0)
		var p page
		for k, v := range raw {
			var list []json.RawMessage
			switch k {
			case "next_page_token":
				err = errors.Join(err, json.Unmarshal(v, &p.NextPageToken))
			case "total_size":
				err = errors.Join(err, json.Unmarshal(v, &p.TotalSize))
			default: // the list itself, whatever its name
				if json.Unmarshal(v, &list) == nil {
					p.items = len(list)
				}
			}
		}
		return p, d, err
	}

	var tokens []string // tokens[i] fetches page i
	var walk []time.Duration
	var items []int // before page i
	seen, total := 0, 0
	for pageToken := ""; ; {
		p, d, err := get(500, pageToken)
		if err != nil {
			return err
		}
		tokens, walk, items, total = append(tokens, pageToken), append(walk, d), append(items, seen), p.TotalSize
		seen += p.items
		if p.NextPageToken == "" {
			break
		}
		pageToken = p.NextPageToken
	}
	// The deepest position along the walk that still has a full page of 50
	// after it.
	deep := len(tokens) - 1
	for deep > 0 && seen-items[deep] < 50 {
		deep--
	}
	var first, deepLats []time.Duration
	for range n {
		_, d, err := get(50, "")
		if err != nil {
			return err
		}
		first = append(first, d)
		if _, d, err = get(50, tokens[deep]); err != nil {
			return err
		}
		deepLats = append(deepLats, d)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	median := func(ds []time.Duration) float64 {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return ms(ds[len(ds)/2])
	}
	return json.NewEncoder(out).Encode(map[string]any{
		"scenario": "list", "path": path, "total_size": total,
		"walk_pages_of_500": len(walk), "walk_first_ms": ms(walk[0]), "walk_last_ms": ms(walk[len(walk)-1]),
		"walk_median_ms": median(walk), "walk_max_ms": ms(slices.Max(walk)),
		"deep_page_starts_at": items[deep], "first_p50_ms": median(first), "deep_p50_ms": median(deepLats),
	})
}

func adminClient(conc int) *http.Client {
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: max(conc, 2)}}
}

func getToken(ctx context.Context, hc *http.Client, base, id, plain string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/oauth/token",
		strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", basicAuth(id, plain))
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := do(hc, req, &tr); err != nil {
		return "", err
	}
	return tr.AccessToken, nil
}

func call(ctx context.Context, hc *http.Client, method, u, tok string, body, v any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return do(hc, req, v)
}

func do(hc *http.Client, req *http.Request, v any) error {
	resp, err := hc.Do(req)
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
	return serveBare(ctx, out, addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ct)
		w.Write(body)
	}))
}

// serveBare serves h on addr until ctx is done, first printing the URL it
// listens at as {"listening": URL}.
func serveBare(ctx context.Context, out io.Writer, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
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
