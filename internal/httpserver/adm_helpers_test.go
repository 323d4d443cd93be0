package httpserver_test

// Helpers of the admin API tests (admin_test.go, isolation_test.go). Their
// names start with adm so that they cannot clash with other tests' helpers
// in this package.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyward/keyward/internal/store"
)

// admErrorCodes is the contract's error code for each admin API status.
var admErrorCodes = map[int]string{
	http.StatusBadRequest:            "invalid_request",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not_found",
	http.StatusConflict:              "conflict",
	http.StatusRequestEntityTooLarge: "invalid_request",
}

// admWantError checks that r is an error answer of the contract's shape,
// exactly {"error", "error_description"}, with status and the contract's code
// for it, and that the description contains each of mentions.
func admWantError(t *testing.T, r apiResponse, status int, mentions ...string) {
	t.Helper()
	if r.Status >= 500 {
		t.Fatalf("answer %d (want %d): %s", r.Status, status, r.Body)
	}
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("error answer is not a JSON object: %q", r.Body)
	}
	code, _ := body["error"].(string)
	desc, _ := body["error_description"].(string)
	if len(body) != 2 || code == "" || desc == "" {
		t.Fatalf("error answer %s is not exactly {\"error\", \"error_description\"}", r.Body)
	}
	if want := admErrorCodes[status]; code != want {
		t.Errorf("error %q, want %q (%s)", code, want, desc)
	}
	for _, m := range mentions {
		if !strings.Contains(desc, m) {
			t.Errorf("error_description %q does not mention %q", desc, m)
		}
	}
}

// admWant fails the test unless r has the wanted status (and is never a 500).
func admWant(t *testing.T, r apiResponse, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
}

// admObject returns the object under key in r's JSON body.
func admObject(t *testing.T, r apiResponse, key string) map[string]any {
	t.Helper()
	m, ok := r.JSON(t)[key].(map[string]any)
	if !ok {
		t.Fatalf("answer has no object %q: %s", key, r.Body)
	}
	return m
}

// admList returns the array under key in r's JSON body, as objects.
func admList(t *testing.T, r apiResponse, key string) []map[string]any {
	t.Helper()
	raw, ok := r.JSON(t)[key].([]any)
	if !ok {
		t.Fatalf("answer has no array %q: %s", key, r.Body)
	}
	out := make([]map[string]any, len(raw))
	for i, v := range raw {
		if out[i], ok = v.(map[string]any); !ok {
			t.Fatalf("%s[%d] is not an object: %s", key, i, r.Body)
		}
	}
	return out
}

// admWantTime checks that v is an RFC 3339 time in UTC and returns it.
func admWantTime(t *testing.T, name string, v any) time.Time {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%s = %v, want an RFC 3339 string", name, v)
	}
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("%s = %q is not RFC 3339: %v", name, s, err)
	}
	if !strings.HasSuffix(s, "Z") {
		t.Errorf("%s = %q is not in UTC", name, s)
	}
	return tm
}

// admNewClient creates a client in org with the given fields and returns the
// client object and the plain secret.
func (ts *testServer) admNewClient(t *testing.T, tok, org string, fields map[string]any) (client map[string]any, plain string) {
	t.Helper()
	if fields == nil {
		fields = map[string]any{}
	}
	if _, ok := fields["name"]; !ok {
		fields["name"] = "test client"
	}
	r := ts.do(t, "POST", "/api/v1/organizations/"+org+"/clients", tok, fields)
	admWant(t, r, http.StatusCreated)
	m := r.JSON(t)
	return m["client"].(map[string]any), m["plain_secret"].(string)
}

// admAddSecret adds a secret to a client and returns its id and plain text.
func (ts *testServer) admAddSecret(t *testing.T, tok, org, client string) (id, plain string) {
	t.Helper()
	r := ts.do(t, "POST", "/api/v1/organizations/"+org+"/clients/"+client+"/secrets", tok, nil)
	admWant(t, r, http.StatusCreated)
	return admObject(t, r, "secret")["id"].(string), r.JSON(t)["plain_secret"].(string)
}

// admOrgAdmin makes an org admin of org (a client of org holding
// keyward:org:admin, created by an environment admin) and returns its id and
// an access token.
func (ts *testServer) admOrgAdmin(t *testing.T, envTok, org string) (id, tok string) {
	t.Helper()
	c, plain := ts.admNewClient(t, envTok, org, map[string]any{"name": "org admin", "scopes": []string{"keyward:org:admin"}})
	id = c["client_id"].(string)
	return id, ts.token(t, id, plain)
}

// admClaims returns the claims and header of a JWT without verifying it;
// the tests that verify signatures live with the token endpoint.
func admClaims(t *testing.T, tok string) (jwt.MapClaims, map[string]any) {
	t.Helper()
	claims := jwt.MapClaims{}
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, claims)
	if err != nil {
		t.Fatalf("parse access token: %v", err)
	}
	return claims, parsed.Header
}

// admForeignToken signs claims with a new RSA key of the test's own (not the
// server's), with a header that otherwise looks like the server's: RS256,
// typ at+jwt and the given kid.
func admForeignToken(t *testing.T, kid string, claims jwt.MapClaims) string {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["typ"] = "at+jwt"
	tok.Header["kid"] = kid
	s, err := tok.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// admOrgState is everything the database holds about an organization.
type admOrgState struct {
	Org     store.Organization
	Clients []store.Client
}

// admSnapshot reads an organization with its clients and their secrets
// straight from the store.
func (ts *testServer) admSnapshot(t *testing.T, org string) admOrgState {
	t.Helper()
	ctx := context.Background()
	o, err := ts.Store.Organization(ctx, org)
	if err != nil {
		t.Fatalf("read organization %s: %v", org, err)
	}
	clients, _, _, err := ts.Store.ListClients(ctx, org, store.Page{Limit: 1000})
	if err != nil {
		t.Fatalf("read clients of %s: %v", org, err)
	}
	return admOrgState{Org: o, Clients: clients}
}

// admWantUnchanged fails the test if org differs from before.
func (ts *testServer) admWantUnchanged(t *testing.T, org string, before admOrgState) {
	t.Helper()
	if after := ts.admSnapshot(t, org); !reflect.DeepEqual(before, after) {
		t.Errorf("organization %s changed:\nbefore %+v\nafter  %+v", org, before, after)
	}
}

// admCount runs a count query against the test's database.
func (ts *testServer) admCount(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := ts.Store.Pool().QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// admRequest sends a request with exactly the given headers and body (nil,
// or a reader sent as is: chunked unless it is a *strings.Reader or a
// *bytes.Reader).
func (ts *testServer) admRequest(t *testing.T, method, path string, header http.Header, body io.Reader) apiResponse {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
}
