package httpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/admin"
	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/clientcache"
	"github.com/keyward/keyward/internal/httpserver"
	"github.com/keyward/keyward/internal/keys"
	"github.com/keyward/keyward/internal/lastused"
	"github.com/keyward/keyward/internal/oauth"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/ratelimit"
	"github.com/keyward/keyward/internal/scope"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

// fakeClock is the injected clock of a test server. It starts at the real
// time, so that libraries checking exp against their own clock agree, and
// moves only when a test advances it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testServer is keyward's full router on a real listener and a database of
// the test's own.
type testServer struct {
	URL   string // also the issuer
	Store *store.Store
	Keys  *keys.Manager
	Ring  *secret.Keyring
	Clock *fakeClock
	Usage *lastused.Recorder
	// Clients is the token path's client cache.
	Clients *clientcache.Cache
	// Failures gathers failed client authentications for the audit log;
	// tests flush it themselves.
	Failures *audit.Failures
	Config   keys.Config
	logs     *syncBuffer // everything the server logged
}

// Logs returns what the server has logged so far.
func (ts *testServer) Logs() string {
	ts.logs.mu.Lock()
	defer ts.logs.mu.Unlock()
	return ts.logs.buf.String()
}

// syncBuffer lets the server log from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf *bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

const testMaxExpiry = 86400

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	return newTestServerOn(t, pgtest.NewDatabase(t), nil)
}

// newTestServerOn starts a server on the database at dbURL, which other
// test servers may share as replicas; tracer, when not nil, sees every
// query the server's pool runs.
func newTestServerOn(t *testing.T, dbURL string, tracer pgx.QueryTracer) *testServer {
	t.Helper()
	return newTestServerWith(t, serverOptions{dbURL: dbURL, tracer: tracer})
}

// serverOptions change a test server from the defaults. Failure limits
// default to generous ones, since many tests fail authentications on
// purpose from one address.
type serverOptions struct {
	dbURL            string
	tracer           pgx.QueryTracer
	failuresBySource int
	failuresByClient int
	maxTokenRequests int
}

func newTestServerWith(t *testing.T, o serverOptions) *testServer {
	t.Helper()
	if o.dbURL == "" {
		o.dbURL = pgtest.NewDatabase(t)
	}
	if o.failuresBySource == 0 {
		o.failuresBySource = 100000
	}
	if o.failuresByClient == 0 {
		o.failuresByClient = 100000
	}
	st, err := store.Open(context.Background(), o.dbURL, o.tracer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	kek := make([]byte, secret.KEKSize)
	copy(kek, "keyward test key-encryption key!")
	ring, err := secret.NewKeyring(kek)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{buf: &bytes.Buffer{}}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clock := &fakeClock{t: time.Now().UTC()}
	cfg := keys.Config{Bits: 2048, JWKSMaxAge: 15 * time.Minute, PublishLead: 30 * time.Minute, MaxTokenLifetime: testMaxExpiry * time.Second}
	km := keys.New(st, ring, cfg, clock.Now, log)
	if err := km.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	usage := lastused.New(st.RecordCredentialUse, log)
	failures := audit.NewFailures(st, log, 1000)
	clients := clientcache.New(st, clientcache.Config{Size: 1000, NegativeTTL: 5 * time.Second, StaleTTL: 5 * time.Minute, CheckInterval: time.Minute}, clock.Now, log)
	listenCtx, stopListening := context.WithCancel(context.Background())
	listening := make(chan struct{})
	synced, syncedDone := store.FirstResync(clients)
	go func() {
		defer close(listening)
		st.Listen(listenCtx, log, synced, store.ChannelClients)
	}()
	t.Cleanup(func() {
		stopListening()
		<-listening
	})
	// Tests start once the replica listens, as a served replica would.
	select {
	case <-syncedDone:
	case <-time.After(30 * time.Second):
		t.Fatal("the test server's cache did not start listening within 30 s")
	}

	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	// The same server settings as keyward serve: timeouts, header limit.
	srv.Config = httpserver.Server(nil, log)
	// Every answer is also checked against api/openapi.yaml (specresponses_test.go).
	srv.Config.Handler = checkedAgainstSpec(t, httpserver.New(httpserver.Deps{
		Log: log, Issuer: issuer, Keys: km, Ping: st.Ping, MaxTokenRequests: o.maxTokenRequests,
		Token: oauth.TokenDeps{Log: log, Issuer: issuer, Clients: clients, Ring: ring, Signer: km, Usage: usage, Now: clock.Now,
			Store: st, Tokens: km,
			FailuresBySource: ratelimit.New(o.failuresBySource, time.Minute, 10000, clock.Now),
			FailuresByClient: ratelimit.New(o.failuresByClient, time.Minute, 10000, clock.Now),
			Failures:         failures},
		Admin: admin.Deps{Log: log, Store: st, Keys: km, Ring: ring, Issuer: issuer, MaxExpiry: testMaxExpiry, Now: clock.Now,
			ClientChanged: clients.Invalidate},
	}))
	srv.Start()
	t.Cleanup(srv.Close)
	return &testServer{Failures: failures, URL: issuer, Store: st, Keys: km, Ring: ring, Clock: clock, Usage: usage, Clients: clients, Config: cfg, logs: logs}
}

// envAdmin creates an environment-admin client directly in the database
// and returns its credentials.
func (ts *testServer) envAdmin(t *testing.T) (id, plain string) {
	t.Helper()
	id, plain = secret.NewID("m2m_"), secret.NewClientSecret()
	now := ts.Clock.Now()
	sec := admin.SecretRow(ts.Ring, id, plain, now)
	_, err := ts.Store.CreateClient(context.Background(), store.Client{
		ID: id, Name: "test admin", AuthMethod: store.AuthClientSecret,
		Scopes: []string{scope.Admin}, Expiry: 3600, CreateTime: now,
	}, &sec)
	if err != nil {
		t.Fatal(err)
	}
	return id, plain
}

// tokenResponse is the token endpoint's answer, success or error.
type tokenResponse struct {
	Status      int
	Header      http.Header
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// postToken sends form to the token endpoint with HTTP Basic credentials
// (when id is not empty).
func (ts *testServer) postToken(t *testing.T, id, plain string, form url.Values) tokenResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.URL+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(plain))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr tokenResponse
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatalf("token endpoint answered %d with non-JSON %q", resp.StatusCode, body)
	}
	tr.Status, tr.Header = resp.StatusCode, resp.Header
	return tr
}

// token gets an access token for a client with client_secret_basic, or
// fails the test.
func (ts *testServer) token(t *testing.T, id, plain string) string {
	t.Helper()
	tr := ts.postToken(t, id, plain, url.Values{"grant_type": {"client_credentials"}})
	if tr.Status != http.StatusOK {
		t.Fatalf("token for %s: %d %s: %s", id, tr.Status, tr.Error, tr.Description)
	}
	return tr.AccessToken
}

// adminToken returns an access token of a new environment admin.
func (ts *testServer) adminToken(t *testing.T) string {
	t.Helper()
	id, plain := ts.envAdmin(t)
	return ts.token(t, id, plain)
}

// apiResponse is an admin API answer.
type apiResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map.
func (r apiResponse) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %q", r.Status, r.Body)
	}
	return m
}

// do sends an admin API request. body may be nil, a string (sent as is) or
// any value (sent as JSON).
func (ts *testServer) do(t *testing.T, method, path, token string, body any) apiResponse {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// createOrg creates an organization as an environment admin and returns its id.
func (ts *testServer) createOrg(t *testing.T, adminTok, name string) string {
	t.Helper()
	r := ts.do(t, "POST", "/api/v1/organizations", adminTok, map[string]any{"display_name": name})
	if r.Status != http.StatusCreated {
		t.Fatalf("create organization: %d %s", r.Status, r.Body)
	}
	return r.JSON(t)["organization"].(map[string]any)["id"].(string)
}

// createClient creates a client in org and returns its id and plain secret.
func (ts *testServer) createClient(t *testing.T, tok, org string, fields map[string]any) (id, plain string) {
	t.Helper()
	if fields["name"] == nil {
		fields["name"] = "test client"
	}
	r := ts.do(t, "POST", "/api/v1/organizations/"+org+"/clients", tok, fields)
	if r.Status != http.StatusCreated {
		t.Fatalf("create client: %d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	return m["client"].(map[string]any)["client_id"].(string), m["plain_secret"].(string)
}
