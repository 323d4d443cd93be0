package httpserver_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/httpserver"
	"github.com/keyward/keyward/internal/keys"
	"github.com/keyward/keyward/internal/oauth"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the current output")

// tokGolden compares got with testdata/name, or rewrites the file with -update.
func tokGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n got:\n%s\nwant:\n%s", name, got, want)
	}
}

// tokIndent pretty-prints JSON for a golden file.
func tokIndent(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// tokGet sends a GET with optional headers (name, value pairs).
func tokGet(t *testing.T, url string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// tokPublished returns the kids of the keys the manager holds in a state
// that the JWKS must publish, by state.
func tokPublished(ts *testServer) map[string]string {
	out := map[string]string{}
	for _, k := range ts.Keys.Keys() {
		if k.State == store.KeyNext || k.State == store.KeyActive || k.State == store.KeyRetired {
			out[k.KID] = k.State
		}
	}
	return out
}

// tokWantPublicJWKS checks that set holds exactly the published keys, each a
// public RSA signing key and nothing more.
func tokWantPublicJWKS(t *testing.T, ts *testServer, set tokJWKS) {
	t.Helper()
	published := tokPublished(ts)
	var want []string
	for kid := range published {
		want = append(want, kid)
	}
	got := set.kids()
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("JWKS kids %v, want the next, active and retired keys %v", got, want)
	}
	for _, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[private]; ok {
				t.Errorf("key %v carries the private member %q", k["kid"], private)
			}
		}
		for name, want := range map[string]string{"kty": "RSA", "use": "sig", "alg": "RS256"} {
			if k[name] != want {
				t.Errorf("key %v has %s %v, want %s", k["kid"], name, k[name], want)
			}
		}
		for _, name := range []string{"kid", "n", "e"} {
			if s, _ := k[name].(string); s == "" {
				t.Errorf("key %v lacks %s", k["kid"], name)
			}
		}
	}
	set.publicKeys(t) // n and e decode
}

// tokJWKSShape replaces the variable parts of a JWKS (kid, n) by
// descriptions of their form, for a golden file.
func tokJWKSShape(t *testing.T, raw []byte) []byte {
	t.Helper()
	var doc map[string][]map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("jwks.json: %v", err)
	}
	for _, k := range doc["keys"] {
		kid, _ := k["kid"].(string)
		k["kid"] = fmt.Sprintf("<%d characters>", len(kid))
		n, err := base64.RawURLEncoding.DecodeString(fmt.Sprint(k["n"]))
		if err != nil {
			t.Fatalf("n of %s is not base64url: %v", kid, err)
		}
		k["n"] = fmt.Sprintf("<%d-bit modulus>", len(n)*8)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	return tokIndent(t, bytes.TrimSpace(b.Bytes()))
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	jwksURL := ts.URL + "/.well-known/jwks.json"

	resp, body := tokGet(t, jwksURL)
	etag := resp.Header.Get("ETag")

	t.Run("publishes the active and the next key as public RSA signing keys", func(t *testing.T) {
		t.Parallel()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		set := tokJWKS{Raw: body}
		if err := json.Unmarshal(body, &set); err != nil {
			t.Fatal(err)
		}
		tokWantPublicJWKS(t, ts, set)
		states := slices.Sorted(func(yield func(string) bool) {
			for _, s := range tokPublished(ts) {
				if !yield(s) {
					return
				}
			}
		})
		if !slices.Equal(states, []string{store.KeyActive, store.KeyNext}) {
			t.Errorf("a fresh server publishes keys in states %v, want active and next", states)
		}
		tokGolden(t, "jwks.golden.json", tokJWKSShape(t, body))
	})
	t.Run("is cacheable no longer than the publish lead, with a content type and an ETag", func(t *testing.T) {
		t.Parallel()
		if got := resp.Header.Get("Cache-Control"); got != "public, max-age=900" {
			t.Errorf("Cache-Control = %q, want public, max-age=900", got)
		}
		if got := resp.Header.Get("Content-Type"); got != "application/jwk-set+json" && got != "application/json" {
			t.Errorf("Content-Type = %q, want application/jwk-set+json or application/json", got)
		}
		if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 3 {
			t.Errorf("ETag = %q, want a quoted entity tag", etag)
		}
	})

	conditional := []struct {
		name        string
		ifNoneMatch string
		wantStatus  int
	}{
		{"a matching If-None-Match gets 304 without a body", etag, http.StatusNotModified},
		{"a weak If-None-Match of the same tag gets 304", "W/" + etag, http.StatusNotModified},
		{"a list of tags containing the current one gets 304", `"stale", ` + etag + `, W/"other"`, http.StatusNotModified},
		{"If-None-Match: * gets 304", "*", http.StatusNotModified},
		{"a tag that does not match gets the document", `"not-the-etag"`, http.StatusOK},
		{"the tag without quotes does not match", strings.Trim(etag, `"`), http.StatusOK},
	}
	for _, tt := range conditional {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, b := tokGet(t, jwksURL, "If-None-Match", tt.ifNoneMatch)
			if r.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", r.StatusCode, tt.wantStatus)
			}
			if got := r.Header.Get("ETag"); got != etag {
				t.Errorf("ETag = %q, want %q", got, etag)
			}
			if r.Header.Get("Cache-Control") == "" {
				t.Error("no Cache-Control")
			}
			switch tt.wantStatus {
			case http.StatusNotModified:
				if len(b) != 0 {
					t.Errorf("a 304 carries a body: %q", b)
				}
			default:
				if !bytes.Equal(b, body) {
					t.Errorf("body %s, want %s", b, body)
				}
			}
		})
	}
}

func TestJWKSAfterRotation(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t)
	ts := f.ts
	jwksURL := ts.URL + "/.well-known/jwks.json"

	before := ts.tokFetchJWKS(t)
	oldResp, _ := tokGet(t, jwksURL)
	oldETag := oldResp.Header.Get("ETag")
	oldKID := ts.Keys.ActiveKID()
	oldToken := ts.token(t, f.bare.ID, f.bare.Secret) // lives an hour

	ts.Clock.Advance(31 * time.Minute)
	if err := ts.Keys.Rotate(context.Background()); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	after := ts.tokFetchJWKS(t)
	resp, _ := tokGet(t, jwksURL)

	t.Run("publishes the next, the active and the retired key", func(t *testing.T) {
		tokWantPublicJWKS(t, ts, after)
		byState := map[string][]string{}
		for kid, state := range tokPublished(ts) {
			byState[state] = append(byState[state], kid)
		}
		if len(after.Keys) != 3 || len(byState[store.KeyNext]) != 1 || len(byState[store.KeyActive]) != 1 ||
			!slices.Equal(byState[store.KeyRetired], []string{oldKID}) {
			t.Errorf("after one rotation the JWKS has %v by state, want one next, one active and the old key retired", byState)
		}
		if !slices.Contains(before.kids(), ts.Keys.ActiveKID()) {
			t.Errorf("the new active key %s was not published as next before it signed (JWKS was %v)", ts.Keys.ActiveKID(), before.kids())
		}
	})
	t.Run("changes the ETag", func(t *testing.T) {
		if got := resp.Header.Get("ETag"); got == "" || got == oldETag {
			t.Errorf("ETag after rotation %q, before %q: want a new one", got, oldETag)
		}
		r, b := tokGet(t, jwksURL, "If-None-Match", oldETag)
		if r.StatusCode != http.StatusOK || !bytes.Equal(b, after.Raw) {
			t.Errorf("the old ETag gets %d %s, want 200 with the new JWKS", r.StatusCode, b)
		}
	})
	t.Run("a token issued before the rotation still verifies against the new JWKS", func(t *testing.T) {
		header, claims := ts.tokVerifyWith(t, after, oldToken)
		if header["kid"] != oldKID || claims["sub"] != f.bare.ID {
			t.Errorf("kid %v sub %v, want %s %s", header["kid"], claims["sub"], oldKID, f.bare.ID)
		}
	})
	t.Run("a token issued after the rotation is signed by the new active key", func(t *testing.T) {
		header, _ := ts.tokVerifyWith(t, after, ts.token(t, f.full.ID, f.full.Secret))
		if header["kid"] == oldKID || header["kid"] != ts.Keys.ActiveKID() {
			t.Errorf("kid %v, want the new active key %s", header["kid"], ts.Keys.ActiveKID())
		}
	})
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t)
	ts := f.ts
	paths := []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}
	var bodies [][]byte
	for _, p := range paths {
		resp, body := tokGet(t, ts.URL+p)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", p, resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %s: Content-Type %q, want application/json", p, ct)
		}
		bodies = append(bodies, body)
	}
	body := bodies[0]
	var meta struct {
		Issuer           string   `json:"issuer"`
		TokenEndpoint    string   `json:"token_endpoint"`
		JWKSURI          string   `json:"jwks_uri"`
		GrantTypes       []string `json:"grant_types_supported"`
		AuthMethods      []string `json:"token_endpoint_auth_methods_supported"`
		AuthSigningAlgs  []string `json:"token_endpoint_auth_signing_alg_values_supported"`
		ResponseTypes    []string `json:"response_types_supported"`
		IntrospectionURL string   `json:"introspection_endpoint"`
		RevocationURL    string   `json:"revocation_endpoint"`
	}
	if err := json.Unmarshal(body, &meta); err != nil {
		t.Fatalf("metadata is not JSON: %v: %s", err, body)
	}

	t.Run("is the same document on both well-known paths", func(t *testing.T) {
		if !bytes.Equal(bodies[0], bodies[1]) {
			t.Errorf("%s:\n%s\n%s:\n%s", paths[0], bodies[0], paths[1], bodies[1])
		}
	})
	t.Run("matches the golden document", func(t *testing.T) {
		tokGolden(t, "metadata.golden.json", tokIndent(t, bytes.ReplaceAll(body, []byte(ts.URL), []byte("http://issuer.test"))))
	})
	t.Run("names the server's URL as issuer", func(t *testing.T) {
		if meta.Issuer != ts.URL {
			t.Errorf("issuer = %q, want %q", meta.Issuer, ts.URL)
		}
	})
	t.Run("advertises both grants, every client authentication method and the assertion algorithms", func(t *testing.T) {
		if !slices.Equal(meta.GrantTypes, []string{"client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer"}) {
			t.Errorf("grant_types_supported = %v", meta.GrantTypes)
		}
		if want := []string{"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"}; !slices.Equal(meta.AuthMethods, want) {
			t.Errorf("token_endpoint_auth_methods_supported = %v, want %v", meta.AuthMethods, want)
		}
		// RFC 8414: required once private_key_jwt or client_secret_jwt is
		// listed; none is never among them.
		if want := []string{"HS256", "RS256", "PS256", "ES256"}; !slices.Equal(meta.AuthSigningAlgs, want) {
			t.Errorf("token_endpoint_auth_signing_alg_values_supported = %v, want %v", meta.AuthSigningAlgs, want)
		}
	})
	t.Run("advertises the introspection and revocation endpoints, which answer", func(t *testing.T) {
		for _, u := range []string{meta.IntrospectionURL, meta.RevocationURL} {
			res := ts.tokSendTo(t, u, tokRequest{Authorization: tokBasic(f.bare.ID, f.bare.Secret), Form: tokForm("token", "x")})
			if res.Status != http.StatusOK {
				t.Errorf("POST %s answered %d: %s", u, res.Status, res.Body)
			}
		}
		if meta.IntrospectionURL != ts.URL+"/oauth/introspect" || meta.RevocationURL != ts.URL+"/oauth/revoke" {
			t.Errorf("introspection_endpoint %q, revocation_endpoint %q", meta.IntrospectionURL, meta.RevocationURL)
		}
	})
	t.Run("advertises a token_endpoint that issues tokens", func(t *testing.T) {
		res := ts.tokSendTo(t, meta.TokenEndpoint, tokRequest{
			Authorization: tokBasic(f.bare.ID, f.bare.Secret), Form: tokForm("grant_type", "client_credentials"),
		})
		tokWantSuccess(t, res)
		ts.tokVerify(t, res.AccessToken)
	})
	t.Run("advertises a jwks_uri that serves the JWKS", func(t *testing.T) {
		resp, b := tokGet(t, meta.JWKSURI)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(b, ts.tokFetchJWKS(t).Raw) {
			t.Errorf("GET %s: %d %s", meta.JWKSURI, resp.StatusCode, b)
		}
	})
}

func TestHealth(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		t.Run("GET "+p+" answers 200 while the database answers and a key is loaded", func(t *testing.T) {
			t.Parallel()
			resp, body := tokGet(t, ts.URL+p)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s: %d %s", p, resp.StatusCode, body)
			}
		})
	}
}

// TestHealthWithDatabaseDown serves a second router over the test's
// database through a TCP proxy, then cuts the proxy, as when Postgres goes
// away under a running server.
func TestHealthWithDatabaseDown(t *testing.T) {
	t.Parallel()
	f := newTokFixture(t)
	ts := f.ts
	proxy := newTokProxy(t, ts.Store.Pool().Config().ConnConfig.Host, ts.Store.Pool().Config().ConnConfig.Port)
	cfg := ts.Store.Pool().Config().ConnConfig
	dbURL := fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", cfg.User, proxy.addr(), cfg.Database)
	st, err := store.Open(context.Background(), dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(httpserver.New(httpserver.Deps{
		Log: log, Issuer: ts.URL, Keys: ts.Keys, Ping: st.Ping,
		Token: oauth.TokenDeps{Log: log, Issuer: ts.URL, Clients: st, Ring: ts.Ring, Signer: ts.Keys, Usage: ts.Usage, Now: ts.Clock.Now},
	}))
	t.Cleanup(srv.Close)
	down := &testServer{URL: srv.URL, Clock: ts.Clock}
	tokenReq := tokRequest{Authorization: tokBasic(f.bare.ID, f.bare.Secret), Form: tokForm("grant_type", "client_credentials")}

	t.Run("through the proxy the server is ready and issues tokens", func(t *testing.T) {
		if resp, body := tokGet(t, srv.URL+"/readyz"); resp.StatusCode != http.StatusOK {
			t.Fatalf("/readyz: %d %s", resp.StatusCode, body)
		}
		tokWantSuccess(t, down.tokSend(t, tokenReq))
	})
	proxy.cut()
	t.Run("GET /readyz answers 503 when the database does not answer", func(t *testing.T) {
		resp, body := tokGet(t, srv.URL+"/readyz")
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503: %s", resp.StatusCode, body)
		}
	})
	t.Run("GET /healthz answers 200 while the process runs", func(t *testing.T) {
		resp, body := tokGet(t, srv.URL+"/healthz")
		if resp.StatusCode != http.StatusOK {
			t.Errorf("status %d, want 200: %s", resp.StatusCode, body)
		}
	})
	t.Run("the token endpoint answers 503 temporarily_unavailable, not 500", func(t *testing.T) {
		res := down.tokSend(t, tokenReq)
		tokWantError(t, res, http.StatusServiceUnavailable, "temporarily_unavailable", false)
		if res.Header.Get("Retry-After") == "" {
			t.Error("no Retry-After")
		}
	})
}

func TestHealthWithoutSigningKey(t *testing.T) {
	t.Parallel()
	st := pgtest.NewStore(t)
	kek := bytes.Repeat([]byte{7}, secret.KEKSize)
	ring, err := secret.NewKeyring(kek)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	km := keys.New(st, ring, keys.Config{Bits: 2048, JWKSMaxAge: time.Minute, PublishLead: time.Minute, MaxTokenLifetime: time.Hour}, time.Now, log)
	srv := httptest.NewServer(httpserver.New(httpserver.Deps{Log: log, Issuer: "http://issuer.test", Keys: km, Ping: st.Ping}))
	t.Cleanup(srv.Close)
	t.Run("GET /readyz answers 503 before a signing key is loaded", func(t *testing.T) {
		resp, body := tokGet(t, srv.URL+"/readyz")
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503: %s", resp.StatusCode, body)
		}
	})
}
