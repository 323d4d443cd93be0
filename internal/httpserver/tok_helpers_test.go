package httpserver_test

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// The helpers of the token endpoint and well-known tests. They check what
// keyward issues the way a resource server would: over HTTP, with
// golang-jwt, an independent library, not the server's jwx.

const tokFormType = "application/x-www-form-urlencoded"

// tokResult is a raw token endpoint answer and its decoded body.
type tokResult struct {
	Status int
	Header http.Header
	Body   []byte

	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// tokRequest describes one request to the token endpoint. The zero value
// is a POST with the form content type and no credentials.
type tokRequest struct {
	Method        string // POST when empty
	ContentType   string // tokFormType when empty; "-" sends none
	Authorization string
	Body          io.Reader // Form.Encode() when nil
	Form          url.Values
}

// tokSend sends req to /oauth/token and reads the whole answer.
func (ts *testServer) tokSend(t *testing.T, req tokRequest) tokResult {
	t.Helper()
	return ts.tokSendTo(t, ts.URL+"/oauth/token", req)
}

func (ts *testServer) tokSendTo(t *testing.T, endpoint string, req tokRequest) tokResult {
	t.Helper()
	method := req.Method
	if method == "" {
		method = http.MethodPost
	}
	body := req.Body
	if body == nil && req.Form != nil {
		body = strings.NewReader(req.Form.Encode())
	}
	r, err := http.NewRequest(method, endpoint, body)
	if err != nil {
		t.Fatal(err)
	}
	switch req.ContentType {
	case "":
		r.Header.Set("Content-Type", tokFormType)
	case "-":
	default:
		r.Header.Set("Content-Type", req.ContentType)
	}
	if req.Authorization != "" {
		r.Header.Set("Authorization", req.Authorization)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("%s /oauth/token: %v", method, err)
	}
	defer resp.Body.Close()
	res := tokResult{Status: resp.StatusCode, Header: resp.Header}
	if res.Body, err = io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	if len(res.Body) > 0 {
		if err := json.Unmarshal(res.Body, &res); err != nil {
			t.Fatalf("token endpoint answered %d with non-JSON %q", res.Status, res.Body)
		}
	}
	return res
}

// tokBasic is an RFC 6749 section 2.3.1 Authorization header: the
// form-urlencoded id and secret in HTTP Basic.
func tokBasic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// tokRawBasic is an HTTP Basic header of exactly the given text.
func tokRawBasic(text string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(text))
}

// tokForm builds a form from name, value pairs; a name may repeat.
func tokForm(pairs ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		v.Add(pairs[i], pairs[i+1])
	}
	return v
}

// tokWantSuccess fails the test unless res is a 200 token response with
// the headers RFC 6749 section 5.1 requires.
func tokWantSuccess(t *testing.T, res tokResult) {
	t.Helper()
	if res.Status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", res.Status, res.Body)
	}
	for h, want := range map[string]string{
		"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache",
	} {
		if got := res.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if res.TokenType != "Bearer" {
		t.Errorf("token_type = %q, want Bearer", res.TokenType)
	}
	if res.AccessToken == "" {
		t.Error("access_token is empty")
	}
}

// tokWantError fails the test unless res is the contract's error shape with
// status and code. challenge says whether WWW-Authenticate must be Basic
// (true) or absent (false).
func tokWantError(t *testing.T, res tokResult, status int, code string, challenge bool) {
	t.Helper()
	if res.Status == http.StatusInternalServerError {
		t.Fatalf("answered 500: %s", res.Body)
	}
	if res.Status != status || res.Error != code {
		t.Errorf("answered %d %q, want %d %q: %s", res.Status, res.Error, status, code, res.Body)
	}
	if res.Description == "" {
		t.Errorf("error_description is empty: %s", res.Body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if res.AccessToken != "" {
		t.Error("an error carries an access_token")
	}
	got := res.Header.Values("WWW-Authenticate")
	switch {
	case challenge && !slices.Equal(got, []string{`Basic realm="keyward"`}):
		t.Errorf(`WWW-Authenticate = %q, want [Basic realm="keyward"]`, got)
	case !challenge && len(got) > 0:
		t.Errorf("WWW-Authenticate = %q, want none", got)
	}
}

// tokClient is a client created through the admin API for a test.
type tokClient struct {
	ID     string
	Secret string
	Org    string
	View   map[string]any // the admin API's client object
}

// tokNewClient creates a client in org through the admin API.
func (ts *testServer) tokNewClient(t *testing.T, adminTok, org string, fields map[string]any) tokClient {
	t.Helper()
	if fields["name"] == nil {
		fields["name"] = "token test client"
	}
	r := ts.do(t, "POST", "/api/v1/organizations/"+org+"/clients", adminTok, fields)
	if r.Status != http.StatusCreated {
		t.Fatalf("create client: %d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	view := m["client"].(map[string]any)
	return tokClient{ID: view["client_id"].(string), Secret: m["plain_secret"].(string), Org: org, View: view}
}

// secretID returns the id of the client's first secret.
func (c tokClient) secretID(t *testing.T) string {
	t.Helper()
	secrets, _ := c.View["secrets"].([]any)
	if len(secrets) == 0 {
		t.Fatalf("client %s has no secrets: %v", c.ID, c.View)
	}
	return secrets[0].(map[string]any)["id"].(string)
}

func (c tokClient) path() string {
	return "/api/v1/organizations/" + c.Org + "/clients/" + c.ID
}

// tokJWKS is the JWKS as served, decoded generically so that tests see
// every member a key carries.
type tokJWKS struct {
	Raw  []byte
	Keys []map[string]any `json:"keys"`
}

// tokFetchJWKS gets the JWKS over HTTP.
func (ts *testServer) tokFetchJWKS(t *testing.T) tokJWKS {
	t.Helper()
	resp, err := http.Get(ts.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET jwks.json: %d %s", resp.StatusCode, body)
	}
	set := tokJWKS{Raw: body}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("jwks.json is not JSON: %v: %s", err, body)
	}
	return set
}

// kids returns the key ids of the set, in order.
func (s tokJWKS) kids() []string {
	var out []string
	for _, k := range s.Keys {
		kid, _ := k["kid"].(string)
		out = append(out, kid)
	}
	return out
}

// publicKeys builds RSA public keys from the n and e of every key.
func (s tokJWKS) publicKeys(t *testing.T) map[string]*rsa.PublicKey {
	t.Helper()
	out := map[string]*rsa.PublicKey{}
	for _, k := range s.Keys {
		kid, _ := k["kid"].(string)
		n, err1 := base64.RawURLEncoding.DecodeString(fmt.Sprint(k["n"]))
		e, err2 := base64.RawURLEncoding.DecodeString(fmt.Sprint(k["e"]))
		if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			t.Fatalf("key %q has a malformed n or e: %v", kid, k)
		}
		out[kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return out
}

// tokVerify verifies an access token as a resource server would, against
// the JWKS fetched over HTTP now, and returns its header and claims. It
// checks the RFC 9068 header, the signature, iss and the times (on the
// server's clock).
func (ts *testServer) tokVerify(t *testing.T, raw string) (header map[string]any, claims jwt.MapClaims) {
	t.Helper()
	return ts.tokVerifyWith(t, ts.tokFetchJWKS(t), raw)
}

func (ts *testServer) tokVerifyWith(t *testing.T, set tokJWKS, raw string) (header map[string]any, claims jwt.MapClaims) {
	t.Helper()
	pub := set.publicKeys(t)
	claims = jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		kid, ok := tok.Header["kid"].(string)
		if !ok {
			return nil, fmt.Errorf("the header has no kid")
		}
		k, ok := pub[kid]
		if !ok {
			return nil, fmt.Errorf("kid %q is not in the JWKS %v", kid, set.kids())
		}
		return k, nil
	},
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithIssuer(ts.URL),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(ts.Clock.Now),
		jwt.WithStrictDecoding(),
	)
	if err != nil {
		t.Fatalf("the access token does not verify against the JWKS: %v", err)
	}
	if tok.Header["alg"] != "RS256" || tok.Header["typ"] != "at+jwt" {
		t.Errorf("header alg %v typ %v, want RS256 at+jwt", tok.Header["alg"], tok.Header["typ"])
	}
	return tok.Header, claims
}

// tokProxy forwards TCP connections to a database server until cut, which
// makes the database vanish for everything connected through it.
type tokProxy struct {
	ln       net.Listener
	upstream string

	mu    sync.Mutex
	conns []net.Conn
	down  bool
}

func newTokProxy(t *testing.T, host string, port uint16) *tokProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tokProxy{ln: ln, upstream: net.JoinHostPort(host, strconv.Itoa(int(port)))}
	t.Cleanup(p.cut)
	go p.serve()
	return p
}

func (p *tokProxy) addr() string { return p.ln.Addr().String() }

func (p *tokProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.upstream)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, u) {
			return
		}
		go func() { io.Copy(u, c); u.Close() }()
		go func() { io.Copy(c, u); c.Close() }()
	}
}

func (p *tokProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	p.conns = append(p.conns, conns...)
	return true
}

// cut closes the listener and every forwarded connection.
func (p *tokProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
