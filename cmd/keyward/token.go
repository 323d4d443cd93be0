package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, strings.Fields(v)...); return nil }

// runToken gets an access token and prints it: a client for people and
// shell scripts. It authenticates with a client id and secret
// (client_credentials), or with a credentials.json downloaded from keyward,
// whose private key signs an RFC 7523 assertion (the jwt-bearer grant).
func runToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	issuer := fs.String("issuer", envOr(getenv, "KEYWARD_ISSUER", "http://localhost:8080"), "the server's issuer URL (env KEYWARD_ISSUER)")
	clientID := fs.String("client-id", getenv("KEYWARD_CLIENT_ID"), "client id (env KEYWARD_CLIENT_ID)")
	clientSecret := fs.String("client-secret", getenv("KEYWARD_CLIENT_SECRET"), "client secret (env KEYWARD_CLIENT_SECRET)")
	credsFile := fs.String("credentials", getenv("KEYWARD_CREDENTIALS"),
		"a credentials.json of a private_key_jwt client: sign an assertion with its key instead of sending a secret (env KEYWARD_CREDENTIALS)")
	contextID := fs.String("context-identifier", "", "a context identifier for the token's ctx claim (the client must allow it)")
	var scopes, audience multiFlag
	fs.Var(&scopes, "scope", "scope to ask for; repeat or separate with spaces (default: all of the client's)")
	fs.Var(&audience, "audience", "audience to ask for; repeatable (default: all of the client's)")
	verbose := fs.Bool("json", false, "print the whole token response as JSON instead of the access token")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: keyward token --issuer URL --client-id ID --client-secret SECRET [--scope S]... [--audience A]...\n"+
			"       keyward token --credentials credentials.json [--scope S]... [--audience A]...\n\nFlags:")
		printFlags(stderr, fs) // never prints a secret taken from the environment as a default
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errReported, errFlagParse)
	}
	if fs.NArg() > 0 {
		return &usageError{"token takes no arguments"}
	}
	client := &http.Client{Timeout: 30 * time.Second}
	form := url.Values{}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	for _, a := range audience {
		form.Add("audience", a)
	}
	if *contextID != "" {
		form.Set("context_identifier", *contextID)
	}

	var endpoint string
	var basicID, basicSecret string
	switch {
	case *credsFile != "":
		creds, err := readCredentials(*credsFile)
		if err != nil {
			return err
		}
		assertion, err := creds.assertion(time.Now())
		if err != nil {
			return err
		}
		endpoint = creds.TokenURI
		form.Set("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
		form.Set("assertion", assertion)
	case *clientID == "" || *clientSecret == "":
		return &usageError{"--client-id and --client-secret are required (or --credentials FILE)"}
	default:
		var err error
		if endpoint, err = tokenEndpoint(ctx, client, strings.TrimSuffix(*issuer, "/")); err != nil {
			return err
		}
		form.Set("grant_type", "client_credentials")
		basicID, basicSecret = *clientID, *clientSecret
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("token response: %w", err)
	}
	var out struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("token endpoint answered %s with something other than JSON", resp.Status)
	}
	if resp.StatusCode != http.StatusOK || out.AccessToken == "" {
		return fmt.Errorf("token endpoint answered %s: %s: %s", resp.Status, out.Error, out.Description)
	}
	if *verbose {
		_, err = stdout.Write(append(body, '\n'))
		return err
	}
	_, err = fmt.Fprintln(stdout, out.AccessToken)
	return err
}

// credentialsFile is the credentials.json keyward answers once when it
// generates a key for a private_key_jwt client.
type credentialsFile struct {
	ClientID   string `json:"client_id"`
	KeyID      string `json:"key_id"`
	TokenURI   string `json:"token_uri"`
	PrivateKey string `json:"private_key"`

	key crypto.Signer
	alg jwa.SignatureAlgorithm
}

// readCredentials reads and checks a credentials.json. Its errors are
// usage errors naming the file: they are the user's to fix.
func readCredentials(path string) (credentialsFile, error) {
	var c credentialsFile
	b, err := os.ReadFile(path)
	if err != nil {
		return c, &usageError{"--credentials: " + err.Error()}
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, &usageError{"--credentials " + path + " is not a credentials.json: " + err.Error()}
	}
	for name, v := range map[string]string{"client_id": c.ClientID, "key_id": c.KeyID, "token_uri": c.TokenURI, "private_key": c.PrivateKey} {
		if v == "" {
			return c, &usageError{"--credentials " + path + " has no " + name}
		}
	}
	if u, err := url.Parse(c.TokenURI); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, &usageError{"--credentials " + path + ": token_uri " + c.TokenURI + " is not an http(s) URL"}
	}
	key, err := parsePrivateKeyPEM([]byte(c.PrivateKey))
	if errors.Is(err, errNotPEM) {
		return c, &usageError{"--credentials " + path + ": private_key is not a PEM block"}
	}
	if err != nil {
		return c, &usageError{"--credentials " + path + ": private_key: " + err.Error()}
	}
	c.key, c.alg = key, jwa.ES256
	if _, ok := key.(*rsa.PrivateKey); ok {
		c.alg = jwa.RS256
	}
	return c, nil
}

// assertionLifetime is how long an assertion the command signs is valid:
// long enough for a slow network, far below the server's hour.
const assertionLifetime = 5 * time.Minute

// assertion signs an RFC 7523 assertion: iss and sub the client, aud the
// token endpoint, a fresh jti, and the key named by kid.
func (c credentialsFile) assertion(now time.Time) (string, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	claims, err := json.Marshal(map[string]any{
		"iss": c.ClientID, "sub": c.ClientID, "aud": c.TokenURI,
		"iat": now.Unix(), "exp": now.Add(assertionLifetime).Unix(), "jti": hex.EncodeToString(jti),
	})
	if err != nil {
		return "", err
	}
	h := jws.NewHeaders()
	_ = h.Set(jws.KeyIDKey, c.KeyID)
	_ = h.Set(jws.TypeKey, "JWT")
	out, err := jws.Sign(claims, jws.WithKey(c.alg, c.key, jws.WithProtectedHeaders(h)))
	if err != nil {
		return "", fmt.Errorf("sign the assertion: %w", err)
	}
	return string(out), nil
}

// tokenEndpoint reads the token endpoint from the issuer's RFC 8414
// metadata, falling back to the issuer's /oauth/token.
func tokenEndpoint(ctx context.Context, client *http.Client, issuer string) (string, error) {
	if _, err := url.ParseRequestURI(issuer); err != nil {
		return "", &usageError{fmt.Sprintf("--issuer %q is not a URL", issuer)}
	}
	fallback := issuer + "/oauth/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, issuer+"/.well-known/oauth-authorization-server", nil)
	if err != nil {
		return fallback, nil
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("cannot reach %s: %w", issuer, err)
	}
	defer resp.Body.Close()
	var meta struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&meta) != nil || meta.TokenEndpoint == "" {
		return fallback, nil
	}
	return meta.TokenEndpoint, nil
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}
