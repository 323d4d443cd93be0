package httpserver_test

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/pgtest"
)

// outageProxy forwards TCP to the database and can cut it (closing every
// connection and refusing new ones) and restore it.
type outageProxy struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	up       bool
	conns    []net.Conn
}

func newOutageProxy(t *testing.T, upstream string) *outageProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &outageProxy{ln: ln, upstream: upstream, up: true}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			up := p.up
			p.mu.Unlock()
			if !up {
				c.Close()
				continue
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

func (p *outageProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = false
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *outageProxy) restore() {
	p.mu.Lock()
	p.up = true
	p.mu.Unlock()
}

// With the database down, clients the token endpoint holds in memory keep
// getting tokens; everything that needs the database answers 503 with
// Retry-After; and when the database is back, keyward recovers by itself.
func TestOutageStaticStability(t *testing.T) {
	t.Parallel()
	direct, err := url.Parse(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newOutageProxy(t, direct.Host)
	viaProxy := *direct
	viaProxy.Host = proxy.ln.Addr().String()
	ts := newTestServerOn(t, viaProxy.String(), nil)

	adminTok := ts.adminToken(t)
	org := ts.createOrg(t, adminTok, "Acme")
	seenID, seenPlain := ts.createClient(t, adminTok, org, map[string]any{})
	unseenID, unseenPlain := ts.createClient(t, adminTok, org, map[string]any{})
	ts.token(t, seenID, seenPlain) // now in memory

	proxy.cut()

	t.Run("a client seen before keeps getting tokens", func(t *testing.T) {
		for range 20 {
			ts.token(t, seenID, seenPlain)
		}
	})
	t.Run("a client not in memory gets 503 with Retry-After", func(t *testing.T) {
		tr := ts.postToken(t, unseenID, unseenPlain, grant)
		if tr.Status != http.StatusServiceUnavailable || tr.Error != "temporarily_unavailable" || tr.Header.Get("Retry-After") == "" {
			t.Fatalf("got %d %s Retry-After %q, want 503 temporarily_unavailable with Retry-After",
				tr.Status, tr.Error, tr.Header.Get("Retry-After"))
		}
	})
	t.Run("the admin API answers 503 with Retry-After", func(t *testing.T) {
		for _, path := range []string{"/api/v1/organizations", "/api/v1/organizations/" + org + "/clients"} {
			r := ts.do(t, "GET", path, adminTok, nil)
			body := r.JSON(t)
			if r.Status != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" || r.Header.Get("Retry-After") == "" {
				t.Fatalf("GET %s: %d %s, want 503 temporarily_unavailable with Retry-After", path, r.Status, r.Body)
			}
		}
	})
	t.Run("readyz answers 503 and healthz 200", func(t *testing.T) {
		if r := ts.do(t, "GET", "/readyz", "", nil); r.Status != http.StatusServiceUnavailable {
			t.Fatalf("/readyz: %d, want 503", r.Status)
		}
		if r := ts.do(t, "GET", "/healthz", "", nil); r.Status != http.StatusOK {
			t.Fatalf("/healthz: %d, want 200", r.Status)
		}
	})

	proxy.restore()

	t.Run("once the database is back everything recovers without a restart", func(t *testing.T) {
		checks := map[string]func() int{
			"readyz":               func() int { return ts.do(t, "GET", "/readyz", "", nil).Status },
			"admin API":            func() int { return ts.do(t, "GET", "/api/v1/organizations", adminTok, nil).Status },
			"unseen client tokens": func() int { return ts.postToken(t, unseenID, unseenPlain, grant).Status },
		}
		for name, check := range checks {
			var status int
			if !eventually(t, 15*time.Second, func() bool { status = check(); return status == http.StatusOK }) {
				t.Errorf("%s still answers %d", name, status)
			}
		}
	})
	t.Run("change notifications flow again", func(t *testing.T) {
		// A change made behind this replica's back (directly in the
		// database) must reach its cache through the restored listener.
		st := ts.Store
		if _, err := st.Pool().Exec(t.Context(), `UPDATE client_secrets SET status = 'INACTIVE' WHERE client_id = $1`, seenID); err != nil {
			t.Fatal(err)
		}
		var tr tokenResponse
		if !eventually(t, 10*time.Second, func() bool {
			tr = ts.postToken(t, seenID, seenPlain, grant)
			return tr.Status == http.StatusUnauthorized
		}) {
			t.Fatalf("the deactivated secret still answers %d after the outage", tr.Status)
		}
	})
}
