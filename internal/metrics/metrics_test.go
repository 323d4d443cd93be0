package metrics

import (
	"strings"
	"testing"
)

func TestExposition(t *testing.T) {
	r := New()
	c := r.Counter("keyward_requests_total", "Requests.", "route", "code")
	c.Inc("/oauth/token", "200")
	c.Inc("/oauth/token", "200")
	c.Inc("/x", `a"b\c`)
	h := r.Histogram("keyward_latency_seconds", "Latency.", []float64{0.01, 0.1}, "grant")
	h.Observe(0.005, "client_credentials")
	h.Observe(0.05, "client_credentials")
	h.Observe(3, "client_credentials")
	r.GaugeFunc("keyward_up", "Up.", func() []Sample { return []Sample{{Value: 1}} })

	var b strings.Builder
	r.Write(&b)
	want := `# HELP keyward_requests_total Requests.
# TYPE keyward_requests_total counter
keyward_requests_total{route="/oauth/token",code="200"} 2
keyward_requests_total{route="/x",code="a\"b\\c"} 1
# HELP keyward_latency_seconds Latency.
# TYPE keyward_latency_seconds histogram
keyward_latency_seconds_bucket{grant="client_credentials",le="0.01"} 1
keyward_latency_seconds_bucket{grant="client_credentials",le="0.1"} 2
keyward_latency_seconds_bucket{grant="client_credentials",le="+Inf"} 3
keyward_latency_seconds_sum{grant="client_credentials"} 3.055
keyward_latency_seconds_count{grant="client_credentials"} 3
# HELP keyward_up Up.
# TYPE keyward_up gauge
keyward_up 1
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
