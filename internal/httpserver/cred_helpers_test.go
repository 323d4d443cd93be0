package httpserver_test

// Helpers of the tests of every way a machine authenticates (assertions,
// registered keys, API keys, context identifiers, introspection and
// revocation). Their names start with cred so that they cannot clash with
// other tests' helpers in this package. Assertions are signed with
// golang-jwt or the standard library, never with the server's jwx.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyward/keyward/internal/secret"
)

const (
	credAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	credGrantType     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// credClient is a client created through the admin API for these tests.
type credClient struct {
	ID, Org string
	// Secret and SecretID are the first secret of a client_secret client.
	Secret, SecretID string
	View             map[string]any
}

func (c credClient) path() string { return "/api/v1/organizations/" + c.Org + "/clients/" + c.ID }

// credNewClient creates a client in org; fields may name auth_method.
func (ts *testServer) credNewClient(t *testing.T, tok, org string, fields map[string]any) credClient {
	t.Helper()
	if fields["name"] == nil {
		fields["name"] = "machine"
	}
	r := ts.do(t, "POST", "/api/v1/organizations/"+org+"/clients", tok, fields)
	admWant(t, r, http.StatusCreated)
	m := r.JSON(t)
	c := credClient{Org: org, View: m["client"].(map[string]any)}
	c.ID = c.View["client_id"].(string)
	if plain, ok := m["plain_secret"].(string); ok {
		c.Secret = plain
		c.SecretID = c.View["secrets"].([]any)[0].(map[string]any)["id"].(string)
	}
	return c
}

// credKey is a key registered on a private_key_jwt client, with the
// private half the test signs with.
type credKey struct {
	ID, Alg, Thumbprint string
	Private             crypto.Signer
}

// credGenerate asks the server to generate a key for c ({}) and returns it
// with the credentials.json it answered.
func (ts *testServer) credGenerate(t *testing.T, tok string, c credClient) (credKey, map[string]string) {
	t.Helper()
	r := ts.do(t, "POST", c.path()+"/keys", tok, map[string]any{})
	admWant(t, r, http.StatusCreated)
	var body struct {
		Key         map[string]any    `json:"key"`
		Credentials map[string]string `json:"credentials"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(body.Credentials["private_key"]))
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("credentials.private_key is not a PKCS#8 PEM block: %q", body.Credentials["private_key"])
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("credentials.private_key: %v", err)
	}
	return credKey{ID: body.Key["id"].(string), Alg: body.Key["alg"].(string), Thumbprint: body.Key["thumbprint"].(string),
		Private: priv.(crypto.Signer)}, body.Credentials
}

// credRegister registers the public half of priv on c with extra body
// fields (for example alg), sent as a PEM block.
func (ts *testServer) credRegister(t *testing.T, tok string, c credClient, priv crypto.Signer, fields map[string]any) credKey {
	t.Helper()
	body := map[string]any{"public_key_pem": credPublicPEM(t, priv.Public())}
	for k, v := range fields {
		body[k] = v
	}
	r := ts.do(t, "POST", c.path()+"/keys", tok, body)
	admWant(t, r, http.StatusCreated)
	k := admObject(t, r, "key")
	return credKey{ID: k["id"].(string), Alg: k["alg"].(string), Thumbprint: k["thumbprint"].(string), Private: priv}
}

func credPublicPEM(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

var (
	credRSAOnce sync.Once
	credRSAKeys []*rsa.PrivateKey
)

// credRSA returns one of a few RSA 2048 keys made once per test binary:
// generating one costs tens of milliseconds.
func credRSA(t *testing.T, i int) *rsa.PrivateKey {
	t.Helper()
	credRSAOnce.Do(func() {
		for range 4 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			credRSAKeys = append(credRSAKeys, k)
		}
	})
	return credRSAKeys[i]
}

func credEC(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// credClaims are the claims of a valid assertion of client id for the
// token endpoint, at the server's time, with a jti of their own.
func (ts *testServer) credClaims(id string) jwt.MapClaims {
	now := ts.Clock.Now()
	return jwt.MapClaims{
		"iss": id, "sub": id, "aud": ts.URL + "/oauth/token",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": secret.NewID("jti_"),
	}
}

// credSign signs claims with golang-jwt, with kid in the header unless it
// is empty and with any extra header members.
func credSign(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign assertion: %v", err)
	}
	return s
}

// credSignRS256Raw signs exactly the given header and payload text with the
// standard library, for assertions no JWT library would write.
func credSignRS256Raw(t *testing.T, header, payload string, key *rsa.PrivateKey) string {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	input := enc([]byte(header)) + "." + enc([]byte(payload))
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + enc(sig)
}

// credMethod is the golang-jwt signing method of alg.
func credMethod(alg string) jwt.SigningMethod {
	return jwt.GetSigningMethod(alg)
}

// credSignWith signs claims with k, naming it by kid unless kid is "-".
func credSignWith(t *testing.T, k credKey, kid string, claims jwt.MapClaims) string {
	t.Helper()
	if kid == "" {
		kid = k.ID
	}
	if kid == "-" {
		kid = ""
	}
	return credSign(t, credMethod(k.Alg), k.Private, kid, claims, nil)
}

// credAssert sends a client_credentials request authenticated by a client
// assertion, with extra form pairs.
func (ts *testServer) credAssert(t *testing.T, assertion string, pairs ...string) tokResult {
	t.Helper()
	form := tokForm(append([]string{"grant_type", "client_credentials",
		"client_assertion_type", credAssertionType, "client_assertion", assertion}, pairs...)...)
	return ts.tokSend(t, tokRequest{Form: form})
}

// credGrant sends a jwt-bearer grant request with extra form pairs.
func (ts *testServer) credGrant(t *testing.T, assertion string, pairs ...string) tokResult {
	t.Helper()
	return ts.tokSend(t, tokRequest{Form: tokForm(append([]string{"grant_type", credGrantType, "assertion", assertion}, pairs...)...)})
}

// credCaller is how a test authenticates at introspection and revocation.
type credCaller struct {
	basic     string     // an Authorization header, or
	assertion url.Values // client assertion form fields
}

func credBasic(id, secret string) credCaller { return credCaller{basic: tokBasic(id, secret)} }

func credAssertionCaller(assertion string) credCaller {
	return credCaller{assertion: url.Values{"client_assertion_type": {credAssertionType}, "client_assertion": {assertion}}}
}

// credPost sends token to /oauth/introspect or /oauth/revoke as caller.
func (ts *testServer) credPost(t *testing.T, endpoint string, caller credCaller, token string) tokResult {
	t.Helper()
	form := url.Values{"token": {token}}
	for k, v := range caller.assertion {
		form[k] = v
	}
	return ts.tokSendTo(t, ts.URL+endpoint, tokRequest{Authorization: caller.basic, Form: form})
}

// credIntrospect introspects token as caller and returns the answer, which
// must be a 200.
func (ts *testServer) credIntrospect(t *testing.T, caller credCaller, token string) map[string]any {
	t.Helper()
	res := ts.credPost(t, "/oauth/introspect", caller, token)
	if res.Status != http.StatusOK {
		t.Fatalf("introspect: %d %s", res.Status, res.Body)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("introspection Cache-Control %q, want no-store", cc)
	}
	var m map[string]any
	if err := json.Unmarshal(res.Body, &m); err != nil {
		t.Fatalf("introspection answer %q is not a JSON object", res.Body)
	}
	return m
}

// credWantActive checks whether an introspection answer is active; an
// inactive one must be exactly {"active": false}.
func credWantActive(t *testing.T, got map[string]any, want bool) {
	t.Helper()
	if got["active"] != want {
		t.Fatalf("active = %v, want %v: %v", got["active"], want, got)
	}
	if !want && len(got) != 1 {
		t.Errorf("an inactive answer carries more than active: %v", got)
	}
}

// credRevoke revokes token as caller; RFC 7009 answers 200 whatever the token.
func (ts *testServer) credRevoke(t *testing.T, caller credCaller, token string) {
	t.Helper()
	if res := ts.credPost(t, "/oauth/revoke", caller, token); res.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.Status, res.Body)
	}
}
