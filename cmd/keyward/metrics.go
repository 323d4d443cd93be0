package main

import (
	"runtime"
	"time"

	"github.com/keyward/keyward/internal/clientcache"
	"github.com/keyward/keyward/internal/keys"
	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/internal/signer"
	"github.com/keyward/keyward/internal/store"
)

// tokenMetrics counts token requests by grant and result, and their latency.
type tokenMetrics struct {
	requests *metrics.CounterVec
	latency  *metrics.HistogramVec
}

func (m tokenMetrics) TokenRequest(grant, result string, d time.Duration) {
	m.requests.Inc(grant, result)
	m.latency.Observe(d.Seconds(), grant)
}

// newMetrics registers everything /metrics shows.
func newMetrics(km *keys.Manager, clients *clientcache.Cache, st *store.Store, now func() time.Time) (*metrics.Registry, tokenMetrics) {
	reg := metrics.New()
	tm := tokenMetrics{
		requests: reg.Counter("keyward_token_requests_total",
			"Token requests by grant type and result (ok or the OAuth error code).", "grant", "result"),
		latency: reg.Histogram("keyward_token_request_duration_seconds",
			"Time to answer a token request.",
			[]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}, "grant"),
	}
	reg.GaugeFunc("keyward_signing_keys", "Signing keys by state.", func() []metrics.Sample {
		counts := map[string]int{store.KeyNext: 0, store.KeyActive: 0, store.KeyRetired: 0, store.KeyRevoked: 0}
		for _, k := range km.Keys() {
			counts[k.State]++
		}
		var out []metrics.Sample
		for _, s := range []string{store.KeyNext, store.KeyActive, store.KeyRetired, store.KeyRevoked} {
			out = append(out, metrics.Sample{Labels: []string{s}, Value: float64(counts[s])})
		}
		return out
	}, "state")
	reg.GaugeFunc("keyward_signing_key_age_seconds", "Age of each published signing key.", func() []metrics.Sample {
		var out []metrics.Sample
		t := now()
		for _, k := range km.Keys() {
			if k.State == store.KeyRevoked {
				continue
			}
			out = append(out, metrics.Sample{Labels: []string{k.KID, k.State, k.Alg}, Value: t.Sub(k.CreateTime).Seconds()})
		}
		return out
	}, "kid", "state", "alg")
	reg.CounterFunc("keyward_client_cache_lookups_total", "Token-path client lookups by outcome.", func() []metrics.Sample {
		hits, misses := clients.Stats()
		return []metrics.Sample{{Labels: []string{"hit"}, Value: float64(hits)}, {Labels: []string{"miss"}, Value: float64(misses)}}
	}, "outcome")
	reg.GaugeFunc("keyward_client_cache_entries", "Clients held in memory.", func() []metrics.Sample {
		return []metrics.Sample{{Value: float64(clients.Len())}}
	})
	reg.GaugeFunc("keyward_db_pool_connections", "Database pool connections by state.", func() []metrics.Sample {
		s := st.Pool().Stat()
		return []metrics.Sample{
			{Labels: []string{"acquired"}, Value: float64(s.AcquiredConns())},
			{Labels: []string{"idle"}, Value: float64(s.IdleConns())},
			{Labels: []string{"max"}, Value: float64(s.MaxConns())},
		}
	}, "state")
	reg.CounterFunc("keyward_db_pool_acquires_total", "Connections acquired from the database pool.", func() []metrics.Sample {
		return []metrics.Sample{{Value: float64(st.Pool().Stat().AcquireCount())}}
	})
	reg.GaugeFunc("keyward_goroutines", "Goroutines of the process (flat under steady load).", func() []metrics.Sample {
		return []metrics.Sample{{Value: float64(runtime.NumGoroutine())}}
	})
	reg.GaugeFunc("keyward_signer_info", "What signs RS256 tokens: openssl (libcrypto) or go (crypto/rsa); always 1.", func() []metrics.Sample {
		return []metrics.Sample{{Labels: []string{signer.Impl}, Value: 1}}
	}, "impl")
	return reg, tm
}
