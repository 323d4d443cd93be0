package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, strings.Fields(v)...); return nil }

// runToken gets an access token with client credentials and prints it: a
// client for people and shell scripts.
func runToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	issuer := fs.String("issuer", envOr(getenv, "KEYWARD_ISSUER", "http://localhost:8080"), "the server's issuer URL (env KEYWARD_ISSUER)")
	clientID := fs.String("client-id", getenv("KEYWARD_CLIENT_ID"), "client id (env KEYWARD_CLIENT_ID)")
	clientSecret := fs.String("client-secret", getenv("KEYWARD_CLIENT_SECRET"), "client secret (env KEYWARD_CLIENT_SECRET)")
	var scopes, audience multiFlag
	fs.Var(&scopes, "scope", "scope to ask for; repeat or separate with spaces (default: all of the client's)")
	fs.Var(&audience, "audience", "audience to ask for; repeatable (default: all of the client's)")
	verbose := fs.Bool("json", false, "print the whole token response as JSON instead of the access token")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: keyward token --issuer URL --client-id ID --client-secret SECRET [--scope S]... [--audience A]...\n\nFlags:")
		fs.PrintDefaults()
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
	if *clientID == "" || *clientSecret == "" {
		return &usageError{"--client-id and --client-secret are required"}
	}
	client := &http.Client{Timeout: 30 * time.Second}
	endpoint, err := tokenEndpoint(ctx, client, strings.TrimSuffix(*issuer, "/"))
	if err != nil {
		return err
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	for _, a := range audience {
		form.Add("audience", a)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(*clientID), url.QueryEscape(*clientSecret))
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
