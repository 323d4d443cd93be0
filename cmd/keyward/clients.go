package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const clientsUsage = `Usage: keyward clients COMMAND [flags]

  keyward clients create --org ORG_ID --name NAME [--scope S]... [--audience A]...
                                           create a client; prints its secret once
  keyward clients list --org ORG_ID        list an organization's clients
  keyward clients get CLIENT_ID --org ORG_ID
  keyward clients update CLIENT_ID --org ORG_ID [--name N] [--scope S]... [--expiry 1h] ...
  keyward clients delete CLIENT_ID --org ORG_ID
` + remoteFlagsHelp + `--org may be left out by an org admin (keyward:org:admin): its own organization is used.

Run "keyward clients COMMAND --help" for a command's flags and examples.
`

// client is a client as the admin API answers it.
type client struct {
	ClientID                string   `json:"client_id"`
	OrganizationID          string   `json:"organization_id"`
	Name                    string   `json:"name"`
	Description             string   `json:"description"`
	AuthMethod              string   `json:"auth_method"`
	InjectContextIdentifier bool     `json:"inject_context_identifier"`
	Scopes                  []string `json:"scopes"`
	Audience                []string `json:"audience"`
	CustomClaims            []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"custom_claims"`
	Expiry     int            `json:"expiry"`
	Secrets    []clientSecret `json:"secrets"`
	CreateTime string         `json:"create_time"`
	UpdateTime string         `json:"update_time"`
}

// clientSecret is one of a client's secrets, without its plain text.
type clientSecret struct {
	ID           string  `json:"id"`
	CreateTime   string  `json:"create_time"`
	UpdateTime   string  `json:"update_time"`
	SecretSuffix string  `json:"secret_suffix"`
	Status       string  `json:"status"`
	LastUsedTime *string `json:"last_used_time"`
}

func runClients(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sub, rest := subcommand(args)
	switch sub {
	case "create":
		return runClientsCreate(ctx, rest, getenv, stdout, stderr)
	case "list":
		return runClientsList(ctx, rest, getenv, stdout, stderr)
	case "get":
		return runClientsGet(ctx, rest, getenv, stdout, stderr)
	case "update":
		return runClientsUpdate(ctx, rest, getenv, stdout, stderr)
	case "delete":
		return runClientsDelete(ctx, rest, getenv, stdout, stderr)
	}
	return groupUsage(sub, rest, clientsUsage, "clients", stdout, stderr)
}

// claimsFlag gathers --claim KEY=VALUE flags; the value may hold spaces.
type claimsFlag []map[string]string

func (c *claimsFlag) String() string { return "" }
func (c *claimsFlag) Set(v string) error {
	if v == "" {
		return nil // --claim "" (alone) removes every custom claim
	}
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	*c = append(*c, map[string]string{"key": k, "value": val})
	return nil
}

// clientFieldFlags are the flags of the client's settable fields, shared
// by create and update.
type clientFieldFlags struct {
	name, description, expiry string
	scopes, audience          multiFlag
	claims                    claimsFlag
	injectContext             bool
}

func (f *clientFieldFlags) register(c *remoteCommand) {
	c.fs.StringVar(&f.name, "name", "", "the client's name, 1 to 256 characters")
	c.fs.StringVar(&f.description, "description", "", "what the client is for")
	c.fs.Var(&f.scopes, "scope", "a scope the client may get; repeat or separate with spaces")
	c.fs.Var(&f.audience, "audience", "an audience (resource server) its tokens may be for; repeatable")
	c.fs.Var(&f.claims, "claim", "a custom claim KEY=VALUE put in each of its tokens; repeatable")
	c.fs.StringVar(&f.expiry, "expiry", "", "its tokens' lifetime: seconds or a duration such as 15m or 1h (default 1h)")
	c.fs.BoolVar(&f.injectContext, "inject-context-identifier", false, "let its token requests carry context_identifier, which becomes the ctx claim")
}

// body is the JSON of the fields given on the command line.
func (f *clientFieldFlags) body(c *remoteCommand) (map[string]any, error) {
	b := map[string]any{}
	if c.set("name") {
		b["name"] = f.name
	}
	if c.set("description") {
		b["description"] = f.description
	}
	if c.set("scope") {
		b["scopes"] = append([]string{}, f.scopes...)
	}
	if c.set("audience") {
		b["audience"] = append([]string{}, f.audience...)
	}
	if c.set("claim") {
		b["custom_claims"] = append([]map[string]string{}, f.claims...)
	}
	if c.set("expiry") {
		secs, err := parseExpiry(f.expiry)
		if err != nil {
			return nil, err
		}
		b["expiry"] = secs
	}
	if c.set("inject-context-identifier") {
		b["inject_context_identifier"] = f.injectContext
	}
	return b, nil
}

// parseExpiry reads seconds ("3600") or a Go duration ("1h").
func parseExpiry(s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return n, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d%time.Second != 0 {
		return 0, &usageError{fmt.Sprintf("--expiry %q: want seconds or a duration such as 15m or 1h", s)}
	}
	return int(d / time.Second), nil
}

func runClientsCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newRemoteCommand("clients create", "--org ORG_ID --name NAME [flags]",
		`Creates a client (a machine that gets tokens) in an organization. A client_secret client
gets its first secret, printed once, to stdout only: keyward keeps only a hash of it.`,
		`  keyward clients create --org org_5d2c7xq4bb3ym7ojxv6o4mhfiq --name deployer \
    --scope deploy:applications --audience deployment-api.example.com
  keyward clients create --org "$ORG_ID" --name billing-sync --auth-method private_key_jwt --scope read:invoices
  keyward clients create --org "$ORG_ID" --name reporter --claim environment=production_us --expiry 15m --output json`,
		getenv, stdout, stderr)
	org := c.fs.String("org", "", "the organization's id")
	authMethod := c.fs.String("auth-method", "", "client_secret (default), private_key_jwt or api_key; never changes")
	var f clientFieldFlags
	f.register(c)
	if _, err := c.parse(args); err != nil {
		return err
	}
	if f.name == "" {
		return &usageError{"--name is required"}
	}
	body, err := f.body(c)
	if err != nil {
		return err
	}
	if *authMethod != "" {
		body["auth_method"] = *authMethod
	}
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	orgID, err := api.orgOf(ctx, *org)
	if err != nil {
		return err
	}
	var resp struct {
		Client      client  `json:"client"`
		PlainSecret *string `json:"plain_secret"`
	}
	raw, err := api.do(ctx, http.MethodPost, "/api/v1/organizations/"+pathEscape(orgID)+"/clients", body, &resp)
	if err != nil {
		return err
	}
	if resp.PlainSecret != nil && c.output == "json" {
		// The warning goes to stderr, where it cannot spoil the JSON; the
		// secret itself only ever goes to stdout.
		fmt.Fprintln(c.stderr, "keyward: plain_secret is shown only this once: store it now (keyward keeps only a hash)")
	}
	return c.print(raw, func(w io.Writer) {
		printClient(w, resp.Client)
		if resp.PlainSecret != nil {
			fmt.Fprintf(w, "CLIENT SECRET\t%s\n", *resp.PlainSecret)
			fmt.Fprintln(w, "\nStore the client secret now: it is shown only this once (keyward keeps only a hash).")
		}
	})
}

func runClientsGet(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newRemoteCommand("clients get", "CLIENT_ID --org ORG_ID [flags]",
		"Shows a client and its secrets (their last four characters, never the secrets).",
		`  keyward clients get m2m_x3bd6ns4yiqkpnlkhdvbq7ouuq --org org_5d2c7xq4bb3ym7ojxv6o4mhfiq
  keyward clients get "$CLIENT_ID" --org "$ORG_ID" --output json | jq .client.scopes`,
		getenv, stdout, stderr)
	org := c.fs.String("org", "", "the organization's id")
	pos, err := c.parse(args, "CLIENT_ID")
	if err != nil {
		return err
	}
	return c.showClient(ctx, *org, http.MethodGet, pos[0], nil)
}

func runClientsUpdate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newRemoteCommand("clients update", "CLIENT_ID --org ORG_ID [flags]",
		`Changes the fields given, and only those; a list flag replaces the whole list
(--scope "" empties it, as --claim "" does the custom claims). auth_method never changes.`,
		`  keyward clients update "$CLIENT_ID" --org "$ORG_ID" --scope deploy:applications --scope read:logs
  keyward clients update "$CLIENT_ID" --org "$ORG_ID" --expiry 15m --description "deploys the API"
  keyward clients update "$CLIENT_ID" --org "$ORG_ID" --audience "" --claim ""`,
		getenv, stdout, stderr)
	org := c.fs.String("org", "", "the organization's id")
	var f clientFieldFlags
	f.register(c)
	pos, err := c.parse(args, "CLIENT_ID")
	if err != nil {
		return err
	}
	body, err := f.body(c)
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return &usageError{"nothing to change: give at least one of --name, --description, --scope, --audience, --claim, --expiry, --inject-context-identifier"}
	}
	return c.showClient(ctx, *org, http.MethodPatch, pos[0], body)
}

func runClientsDelete(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newRemoteCommand("clients delete", "CLIENT_ID --org ORG_ID [flags]",
		"Deletes a client: its credentials stop authenticating and its tokens stop working on the\nadmin API at once. There is no undo.",
		`  keyward clients delete m2m_x3bd6ns4yiqkpnlkhdvbq7ouuq --org org_5d2c7xq4bb3ym7ojxv6o4mhfiq`,
		getenv, stdout, stderr)
	org := c.fs.String("org", "", "the organization's id")
	pos, err := c.parse(args, "CLIENT_ID")
	if err != nil {
		return err
	}
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	orgID, err := api.orgOf(ctx, *org)
	if err != nil {
		return err
	}
	if _, err := api.do(ctx, http.MethodDelete, clientPath(orgID, pos[0]), nil, nil); err != nil {
		return err
	}
	c.done("deleted client %s", pos[0])
	return nil
}

func runClientsList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newRemoteCommand("clients list", "--org ORG_ID [flags]",
		"Lists an organization's clients, oldest first. Follows every page.",
		`  keyward clients list --org org_5d2c7xq4bb3ym7ojxv6o4mhfiq
  keyward clients list --org "$ORG_ID" --output json | jq -r '.clients[] | [.client_id, .name] | @tsv'`,
		getenv, stdout, stderr)
	org := c.fs.String("org", "", "the organization's id")
	if _, err := c.parse(args); err != nil {
		return err
	}
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	orgID, err := api.orgOf(ctx, *org)
	if err != nil {
		return err
	}
	raw, err := api.list(ctx, "/api/v1/organizations/"+pathEscape(orgID)+"/clients", "clients")
	if err != nil {
		return err
	}
	var l struct {
		Clients []client `json:"clients"`
	}
	if err := decodeAnswer(raw, &l); err != nil {
		return err
	}
	return c.print(raw, func(w io.Writer) {
		fmt.Fprintln(w, "CLIENT ID\tNAME\tAUTH METHOD\tSCOPES\tAUDIENCE\tSECRETS\tCREATED")
		for _, cl := range l.Clients {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cl.ClientID, cl.Name, cl.AuthMethod,
				joinOrDash(cl.Scopes, " "), joinOrDash(cl.Audience, " "), secretsSummary(cl), cl.CreateTime)
		}
	})
}

func clientPath(orgID, clientID string) string {
	return "/api/v1/organizations/" + pathEscape(orgID) + "/clients/" + pathEscape(clientID)
}

// showClient sends a request answered by {client} and prints it.
func (c *remoteCommand) showClient(ctx context.Context, org, method, clientID string, body any) error {
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	orgID, err := api.orgOf(ctx, org)
	if err != nil {
		return err
	}
	var resp struct {
		Client client `json:"client"`
	}
	raw, err := api.do(ctx, method, clientPath(orgID, clientID), body, &resp)
	if err != nil {
		return err
	}
	return c.print(raw, func(w io.Writer) { printClient(w, resp.Client) })
}

// secretsSummary says how many of a client's secrets are active.
func secretsSummary(cl client) string {
	if cl.AuthMethod != "" && cl.AuthMethod != "client_secret" {
		return "-"
	}
	active := 0
	for _, s := range cl.Secrets {
		if s.Status == "ACTIVE" {
			active++
		}
	}
	return fmt.Sprintf("%d active of %d", active, len(cl.Secrets))
}

// printClient shows a client as NAME<tab>VALUE lines, then its secrets.
func printClient(w io.Writer, cl client) {
	var claims []string
	for _, cc := range cl.CustomClaims {
		claims = append(claims, cc.Key+"="+cc.Value)
	}
	fmt.Fprintf(w, "CLIENT ID\t%s\n", cl.ClientID)
	fmt.Fprintf(w, "ORGANIZATION\t%s\n", cl.OrganizationID)
	fmt.Fprintf(w, "NAME\t%s\n", cl.Name)
	fmt.Fprintf(w, "DESCRIPTION\t%s\n", orDash(cl.Description))
	fmt.Fprintf(w, "AUTH METHOD\t%s\n", cl.AuthMethod)
	fmt.Fprintf(w, "SCOPES\t%s\n", joinOrDash(cl.Scopes, " "))
	fmt.Fprintf(w, "AUDIENCE\t%s\n", joinOrDash(cl.Audience, " "))
	fmt.Fprintf(w, "CUSTOM CLAIMS\t%s\n", joinOrDash(claims, ", "))
	fmt.Fprintf(w, "EXPIRY\t%ds\n", cl.Expiry)
	fmt.Fprintf(w, "CONTEXT IDENTIFIER\t%s\n", map[bool]string{true: "allowed", false: "not allowed"}[cl.InjectContextIdentifier])
	fmt.Fprintf(w, "CREATED\t%s\n", cl.CreateTime)
	fmt.Fprintf(w, "UPDATED\t%s\n", cl.UpdateTime)
	for i, s := range cl.Secrets {
		if i == 0 {
			fmt.Fprintf(w, "SECRETS\t")
		} else {
			fmt.Fprintf(w, "\t")
		}
		fmt.Fprintf(w, "%s  %s  …%s  last used %s\n", s.ID, s.Status, s.SecretSuffix, nullOrDash(s.LastUsedTime))
	}
}
