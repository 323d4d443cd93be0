package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

// The admin commands (orgs, clients, secrets, and keys with --url) are a
// client of the admin API, like any other tool: they get an access token
// with client credentials at KEYWARD_URL/oauth/token and call /api/v1 with
// it. Nothing here touches the database.

// remoteCommand is one admin command being run: its flags, its output and,
// once parsed, its connection settings.
type remoteCommand struct {
	fs             *flag.FlagSet
	stdout, stderr io.Writer
	name           string // "orgs create"

	url, clientID, clientSecret, token, output string
}

// newRemoteCommand makes the flag set of `keyward NAME`, with the connection
// and output flags every admin command shares. synopsis is the usage line
// after "keyward NAME", about says what the command does and examples are
// lines to copy.
func newRemoteCommand(name, synopsis, about, examples string, getenv func(string) string, stdout, stderr io.Writer) *remoteCommand {
	c := &remoteCommand{fs: flag.NewFlagSet(name, flag.ContinueOnError), stdout: stdout, stderr: stderr, name: name}
	c.fs.SetOutput(stderr)
	c.fs.StringVar(&c.url, "url", getenv("KEYWARD_URL"), "keyward's base URL, such as http://127.0.0.1:8080 (env KEYWARD_URL)")
	c.fs.StringVar(&c.clientID, "client-id", getenv("KEYWARD_CLIENT_ID"), "an admin client's id (env KEYWARD_CLIENT_ID)")
	c.fs.StringVar(&c.clientSecret, "client-secret", getenv("KEYWARD_CLIENT_SECRET"), "its secret (env KEYWARD_CLIENT_SECRET)")
	c.fs.StringVar(&c.token, "token", getenv("KEYWARD_TOKEN"), "an admin access token to use instead of the client credentials (env KEYWARD_TOKEN)")
	c.fs.StringVar(&c.output, "output", "table", "table, for people, or json: the API's answer, for scripts")
	c.fs.StringVar(&c.output, "o", "table", "short for --output")
	c.fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: keyward %s %s\n\n%s\n", name, synopsis, about)
		if examples != "" {
			fmt.Fprintf(stderr, "\nExamples:\n%s\n", strings.TrimRight(examples, "\n"))
		}
		fmt.Fprintln(stderr, "\nFlags:")
		printFlags(stderr, c.fs)
	}
	return c
}

// printFlags lists a command's flags as people type them, --name VALUE,
// with -o folded into --output.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "o" {
			return
		}
		typ, usage := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if f.Name == "output" {
			name = "-o, --output"
		}
		if typ != "" {
			name += " " + typ
		}
		fmt.Fprintf(w, "  %s\n    \t%s", name, strings.ReplaceAll(usage, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" && !strings.HasPrefix(f.Usage, "keyward's base URL") &&
			!strings.Contains(f.Usage, "(env ") {
			fmt.Fprintf(w, " (default %q)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// parse reads the flags, which may come before, between or after the
// positional arguments (as with kubectl and gh), and checks that there are
// exactly the positional arguments named in want ("ORG_ID", ...).
func (c *remoteCommand) parse(args []string, want ...string) ([]string, error) {
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %w", errReported, errFlagParse)
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			break
		}
		// flag.Parse stops at the first positional argument, or after "--".
		if len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if c.output != "table" && c.output != "json" {
		return nil, &usageError{fmt.Sprintf("--output must be table or json, not %q", c.output)}
	}
	if len(pos) != len(want) {
		msg := fmt.Sprintf("keyward %s takes no arguments", c.name)
		if len(want) > 0 {
			msg = fmt.Sprintf("keyward %s takes %s", c.name, strings.Join(want, " "))
		}
		return nil, &usageError{msg + " (keyward " + c.name + " --help)"}
	}
	return pos, nil
}

// set reports whether the flag name was given on the command line.
func (c *remoteCommand) set(name string) bool {
	found := false
	c.fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}

// api connects to the admin API as the command's flags say.
func (c *remoteCommand) api(ctx context.Context) (*apiClient, error) {
	if c.url == "" {
		return nil, &usageError{"--url or KEYWARD_URL is required: keyward's base URL, such as http://127.0.0.1:8080"}
	}
	u, err := url.Parse(c.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &usageError{fmt.Sprintf("--url %q is not an http(s) URL", c.url)}
	}
	a := &apiClient{base: strings.TrimSuffix(c.url, "/"), http: &http.Client{Timeout: 30 * time.Second}, token: c.token}
	if a.token == "" {
		if c.clientID == "" || c.clientSecret == "" {
			return nil, &usageError{"--client-id and --client-secret (or KEYWARD_CLIENT_ID and KEYWARD_CLIENT_SECRET) are required: an admin client's credentials"}
		}
		if err := a.authenticate(ctx, c.clientID, c.clientSecret); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// print writes an answer: raw, indented, for --output json, else the table
// that table writes.
func (c *remoteCommand) print(raw []byte, table func(w io.Writer)) error {
	if c.output == "json" {
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return fmt.Errorf("the server's answer is not JSON: %w", err)
		}
		buf.WriteByte('\n')
		_, err := c.stdout.Write(buf.Bytes())
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// apiClient calls keyward's admin API with a bearer token.
type apiClient struct {
	base  string
	http  *http.Client
	token string
}

// apiError is an error answer of keyward: the command exits 1 with its
// description.
type apiError struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *apiError) Error() string {
	if e.Description == "" {
		return fmt.Sprintf("the server answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("%s (%d %s)", e.Description, e.Status, e.Code)
}

// decodeError reads an error answer.
func decodeError(resp *http.Response, body []byte) error {
	e := &apiError{Status: resp.StatusCode}
	_ = json.Unmarshal(body, e)
	return e
}

// authenticate gets an access token with client_secret_basic.
func (a *apiClient) authenticate(ctx context.Context, id, secret string) error {
	form := url.Values{"grant_type": {"client_credentials"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, body, err := a.send(req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cannot get an access token as %s: %w", id, decodeError(resp, body))
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return fmt.Errorf("%s/oauth/token answered no access token", a.base)
	}
	a.token = tr.AccessToken
	return nil
}

// send runs req and reads the answer (at most 8 MiB).
func (a *apiClient) send(req *http.Request) (*http.Response, []byte, error) {
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach keyward at %s: %w", a.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	return resp, body, nil
}

// do calls the admin API: body, when not nil, is sent as JSON; a 2xx
// answer's body is returned and, when into is not nil, decoded into it.
func (a *apiClient) do(ctx context.Context, method, path string, body, into any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "application/json")
	resp, raw, err := a.send(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, decodeError(resp, raw)
	}
	if into != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, into); err != nil {
			return nil, fmt.Errorf("%s %s: the answer does not decode: %w", method, path, err)
		}
	}
	return raw, nil
}

// list follows every page of a list at path and returns its items (under
// field) as one list answer, {field: [...], next_page_token: "", total_size}.
func (a *apiClient) list(ctx context.Context, path, field string) ([]byte, error) {
	items := []json.RawMessage{}
	total := 0
	token := ""
	for {
		q := url.Values{"page_size": {"500"}}
		if token != "" {
			q.Set("page_token", token)
		}
		var page map[string]json.RawMessage
		if _, err := a.do(ctx, http.MethodGet, path+"?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		var got []json.RawMessage
		if err := json.Unmarshal(page[field], &got); err != nil {
			return nil, fmt.Errorf("GET %s: the answer has no %s list", path, field)
		}
		items = append(items, got...)
		_ = json.Unmarshal(page["total_size"], &total)
		token = ""
		_ = json.Unmarshal(page["next_page_token"], &token)
		if token == "" || len(got) == 0 {
			break
		}
	}
	return json.Marshal(map[string]any{field: items, "next_page_token": "", "total_size": total})
}

// orgOf returns org, or when it is empty the organization of the caller's
// token (an org admin's): the organization flag may be left out then.
func (a *apiClient) orgOf(ctx context.Context, org string) (string, error) {
	if org != "" {
		return org, nil
	}
	var who struct {
		OrganizationID *string `json:"organization_id"`
	}
	if _, err := a.do(ctx, http.MethodGet, "/api/v1/whoami", nil, &who); err != nil {
		return "", err
	}
	if who.OrganizationID == nil || *who.OrganizationID == "" {
		return "", &usageError{"--org is required: the admin client belongs to no organization"}
	}
	return *who.OrganizationID, nil
}

// done says what a command without an answer body (a delete) did: a line
// on stdout for people; nothing with --output json, whose scripts read the
// exit status.
func (c *remoteCommand) done(format string, args ...any) {
	if c.output != "json" {
		fmt.Fprintf(c.stdout, format+"\n", args...)
	}
}

// decodeAnswer decodes an answer the command already holds.
func decodeAnswer(raw []byte, into any) error {
	if err := json.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("the server's answer does not decode: %w", err)
	}
	return nil
}

// orDash shows an empty value as "-" in a table.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// nullOrDash shows a nullable value.
func nullOrDash(s *string) string {
	if s == nil {
		return "-"
	}
	return orDash(*s)
}

// joinOrDash shows a list in one cell.
func joinOrDash(l []string, sep string) string {
	return orDash(strings.Join(l, sep))
}

// pathEscape escapes one path segment of the admin API.
func pathEscape(s string) string { return url.PathEscape(s) }
