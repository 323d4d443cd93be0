package main

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/big"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// soakOptions drive a soak: several replicas under mixed load for a long
// time, with a key rotation and a database outage along the way.
type soakOptions struct {
	urls                    []string
	adminID, adminSecret    string
	dur                     time.Duration
	tokenWorkers            int
	jwksWorkers, writers    int
	rotateAt, outageAt      float64 // fractions of dur
	outageCmd               string  // run through sh -c at outageAt
	graceAfterOutage        time.Duration
	verifierRefetchInterval time.Duration
}

// soakStats counts what happened; 5xx answers are split into those inside
// the deliberate outage window and those outside it, and each by endpoint.
type soakStats struct {
	requests       atomic.Int64
	tokens         atomic.Int64
	jwks           atomic.Int64
	writes         atomic.Int64
	status5xxIn    atomic.Int64
	status5xxOut   atomic.Int64
	otherErrors    atomic.Int64
	unknownKid     atomic.Int64
	badSignature   atomic.Int64
	transportError atomic.Int64

	mu           sync.Mutex
	by5xxIn      map[string]int64 // by what was asked: token, JWKS, create client
	by5xxOut     map[string]int64
	outageStart  time.Time
	outageEnd    time.Time // zero while it lasts
	firstFailure string
}

func (s *soakStats) inOutage(t time.Time, grace time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.outageStart.IsZero() || t.Before(s.outageStart) {
		return false
	}
	return s.outageEnd.IsZero() || t.Before(s.outageEnd.Add(grace))
}

func (s *soakStats) note(msg string) {
	s.mu.Lock()
	if s.firstFailure == "" {
		s.firstFailure = msg
	}
	s.mu.Unlock()
}

// status records a response's status, and whether it was a 5xx outside the
// outage window.
func (s *soakStats) status(code int, started time.Time, grace time.Duration, what string) {
	s.requests.Add(1)
	switch {
	case code >= 500:
		in := s.inOutage(started, grace)
		s.mu.Lock()
		if in {
			s.status5xxIn.Add(1)
			s.by5xxIn[what]++
		} else {
			s.status5xxOut.Add(1)
			s.by5xxOut[what]++
		}
		s.mu.Unlock()
		if !in {
			s.note(fmt.Sprintf("%s answered %d outside the outage", what, code))
		}
	case code >= 400 && code != http.StatusTooManyRequests:
		s.otherErrors.Add(1)
		s.note(fmt.Sprintf("%s answered %d", what, code))
	}
}

// verifier caches each replica's JWKS exactly as long as Cache-Control
// max-age allows, as a correctly caching resource server does, and refetches
// at most once per interval when it meets an unknown kid.
type verifier struct {
	url      string
	hc       *http.Client
	interval time.Duration

	mu       sync.Mutex
	keys     map[string]*rsa.PublicKey
	expires  time.Time
	lastPull time.Time
}

func (v *verifier) fetch() error {
	resp, err := v.hc.Get(v.url + "/.well-known/jwks.json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ Kty, Kid, N, E string }
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&set) != nil {
		return fmt.Errorf("JWKS answered %s", resp.Status)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if k.Kty != "RSA" || err1 != nil || err2 != nil {
			continue
		}
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	maxAge := 0
	for _, part := range strings.Split(resp.Header.Get("Cache-Control"), ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "max-age="); ok {
			maxAge, _ = strconv.Atoi(v)
		}
	}
	v.keys, v.expires, v.lastPull = keys, time.Now().Add(time.Duration(maxAge)*time.Second), time.Now()
	return nil
}

// check verifies token's RS256 signature with a cached key, and reports
// an unknown kid after at most one refetch.
func (v *verifier) check(token string) (unknownKid, badSig bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false, true
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	var h struct{ Alg, Kid string }
	if err != nil || json.Unmarshal(hb, &h) != nil || h.Alg != "RS256" {
		return false, true
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if time.Now().After(v.expires) {
		if v.fetch() != nil {
			return false, false // the replica is away; not the token's fault
		}
	}
	key := v.keys[h.Kid]
	if key == nil && time.Since(v.lastPull) >= v.interval {
		if v.fetch() == nil {
			key = v.keys[h.Kid]
		}
	}
	if key == nil {
		return true, false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err != nil || rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig) != nil {
		return false, true
	}
	return false, false
}

func soak(ctx context.Context, out io.Writer, o soakOptions) error {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	base := o.urls[0]
	tok, err := getToken(ctx, hc, base, o.adminID, o.adminSecret)
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	var org struct {
		Organization struct{ ID string } `json:"organization"`
	}
	if err := call(ctx, hc, http.MethodPost, base+"/api/v1/organizations", tok, map[string]any{"display_name": "soak"}, &org); err != nil {
		return err
	}
	type cred struct{ id, secret string }
	var creds []cred
	for i := range 20 {
		var c struct {
			Client struct {
				ClientID string `json:"client_id"`
			} `json:"client"`
			PlainSecret string `json:"plain_secret"`
		}
		body := map[string]any{"name": fmt.Sprintf("soak %d", i), "scopes": []string{"soak:read"}}
		if err := call(ctx, hc, http.MethodPost, base+"/api/v1/organizations/"+org.Organization.ID+"/clients", tok, body, &c); err != nil {
			return err
		}
		creds = append(creds, cred{c.Client.ClientID, c.PlainSecret})
	}

	st := &soakStats{by5xxIn: map[string]int64{}, by5xxOut: map[string]int64{}}
	verifiers := make([]*verifier, len(o.urls))
	for i, u := range o.urls {
		verifiers[i] = &verifier{url: u, hc: hc, interval: o.verifierRefetchInterval}
	}
	runCtx, cancel := context.WithTimeout(ctx, o.dur)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	var ackedMu sync.Mutex
	var acked []string
	var adminTok atomic.Pointer[string]
	adminTok.Store(&tok)

	for w := range o.tokenWorkers {
		wg.Go(func() {
			form := "grant_type=client_credentials"
			for i := w; runCtx.Err() == nil; i++ {
				r := i % len(o.urls)
				c := creds[rand.IntN(len(creds))]
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(runCtx, http.MethodPost, o.urls[r]+"/oauth/token", strings.NewReader(form))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Authorization", basicAuth(c.id, c.secret))
				resp, err := hc.Do(req)
				if err != nil {
					if runCtx.Err() == nil {
						st.transportError.Add(1)
					}
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				st.status(resp.StatusCode, t0, o.graceAfterOutage, "token")
				if resp.StatusCode != http.StatusOK {
					continue
				}
				st.tokens.Add(1)
				var tr struct {
					AccessToken string `json:"access_token"`
				}
				json.Unmarshal(b, &tr)
				// Verify against another replica's JWKS: they must agree.
				unknown, bad := verifiers[(r+1)%len(o.urls)].check(tr.AccessToken)
				if unknown {
					st.unknownKid.Add(1)
					st.note("a token's kid was unknown to a caching verifier")
				}
				if bad {
					st.badSignature.Add(1)
					st.note("a token did not verify")
				}
			}
		})
	}
	for w := range o.jwksWorkers {
		wg.Go(func() {
			for i := w; runCtx.Err() == nil; i++ {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(runCtx, http.MethodGet, o.urls[i%len(o.urls)]+"/.well-known/jwks.json", nil)
				resp, err := hc.Do(req)
				if err != nil {
					if runCtx.Err() == nil {
						st.transportError.Add(1)
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				st.jwks.Add(1)
				st.status(resp.StatusCode, t0, o.graceAfterOutage, "JWKS")
			}
		})
	}
	for w := range o.writers {
		wg.Go(func() {
			for i := w; runCtx.Err() == nil; i++ {
				t0 := time.Now()
				body, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("soak write %d-%d", w, i)})
				req, _ := http.NewRequestWithContext(runCtx, http.MethodPost,
					o.urls[i%len(o.urls)]+"/api/v1/organizations/"+org.Organization.ID+"/clients", strings.NewReader(string(body)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+*adminTok.Load())
				resp, err := hc.Do(req)
				if err != nil {
					if runCtx.Err() == nil {
						st.transportError.Add(1)
					}
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				st.writes.Add(1)
				st.status(resp.StatusCode, t0, o.graceAfterOutage, "create client")
				if resp.StatusCode == http.StatusCreated {
					var c struct {
						Client struct {
							ClientID string `json:"client_id"`
						} `json:"client"`
					}
					json.Unmarshal(b, &c)
					ackedMu.Lock()
					acked = append(acked, c.Client.ClientID)
					ackedMu.Unlock()
				}
				time.Sleep(20 * time.Millisecond) // admin writes are occasional, not a flood
			}
		})
	}
	// The admin token outlives the run only if refreshed.
	wg.Go(func() {
		t := time.NewTicker(30 * time.Minute)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				if nt, err := getToken(runCtx, hc, base, o.adminID, o.adminSecret); err == nil {
					adminTok.Store(&nt)
				}
			}
		}
	})

	events := []string{}
	// A rotation: retried until the next key has been published long enough.
	wg.Go(func() {
		if !sleepUntil(runCtx, start.Add(time.Duration(o.rotateAt*float64(o.dur)))) {
			return
		}
		for runCtx.Err() == nil {
			var keys map[string]any
			err := call(runCtx, hc, http.MethodPost, base+"/api/v1/keys/rotate", *adminTok.Load(), nil, &keys)
			if err == nil {
				ackedMu.Lock()
				events = append(events, fmt.Sprintf("rotated at %s", time.Since(start).Round(time.Second)))
				ackedMu.Unlock()
				return
			}
			sleepUntil(runCtx, time.Now().Add(time.Second))
		}
	})
	// The outage: the command (a database restart), then until every
	// replica is ready again.
	if o.outageCmd != "" {
		wg.Go(func() {
			if !sleepUntil(runCtx, start.Add(time.Duration(o.outageAt*float64(o.dur)))) {
				return
			}
			st.mu.Lock()
			st.outageStart = time.Now()
			st.mu.Unlock()
			outErr := exec.CommandContext(runCtx, "sh", "-c", o.outageCmd).Run()
			for _, u := range o.urls {
				for runCtx.Err() == nil {
					resp, err := hc.Get(u + "/readyz")
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode == http.StatusOK {
							break
						}
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			st.mu.Lock()
			st.outageEnd = time.Now()
			window := st.outageEnd.Sub(st.outageStart).Round(time.Millisecond)
			st.mu.Unlock()
			ackedMu.Lock()
			events = append(events, fmt.Sprintf("outage at %s for %s (command error: %v)", st.outageStart.Sub(start).Round(time.Second), window, outErr))
			ackedMu.Unlock()
		})
	}
	wg.Wait()

	// What was acknowledged must be there.
	lost := 0
	finalTok, err := getToken(ctx, hc, base, o.adminID, o.adminSecret)
	if err != nil {
		return fmt.Errorf("admin token after the run: %w", err)
	}
	for _, id := range acked {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/organizations/"+org.Organization.ID+"/clients/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+finalTok)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			lost++
		}
	}
	st.mu.Lock()
	by5xxIn, by5xxOut := maps.Clone(st.by5xxIn), maps.Clone(st.by5xxOut)
	st.mu.Unlock()
	res := map[string]any{
		"scenario": "soak", "seconds": time.Since(start).Seconds(), "replicas": len(o.urls),
		"requests": st.requests.Load(), "tokens": st.tokens.Load(), "jwks": st.jwks.Load(), "admin_writes": st.writes.Load(),
		"acknowledged_writes": len(acked), "lost_writes": lost,
		"5xx_outside_outage": st.status5xxOut.Load(), "5xx_during_outage": st.status5xxIn.Load(),
		"5xx_outside_outage_by_endpoint": by5xxOut, "5xx_during_outage_by_endpoint": by5xxIn,
		"other_4xx": st.otherErrors.Load(), "transport_errors": st.transportError.Load(),
		"unknown_kid": st.unknownKid.Load(), "bad_signature": st.badSignature.Load(), "events": events,
	}
	if st.firstFailure != "" {
		res["first_failure"] = st.firstFailure
	}
	return json.NewEncoder(out).Encode(res)
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(t)):
		return true
	}
}
