package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

const secretsUsage = `Usage: keyward secrets COMMAND --client CLIENT_ID --org ORG_ID [flags]

  keyward secrets add                   give the client one more secret; prints it once
  keyward secrets list                  list the client's secrets (never their plain text)
  keyward secrets deactivate SECRET_ID  stop a secret authenticating (it can be activated again)
  keyward secrets activate SECRET_ID    let an inactive secret authenticate again
  keyward secrets delete SECRET_ID      delete a secret for good

A client may hold several active secrets: rotate one without downtime by adding the new secret,
moving the client to it, then deactivating and deleting the old one.
` + remoteFlagsHelp + `--org may be left out by an org admin (keyward:org:admin): its own organization is used.

Run "keyward secrets COMMAND --help" for a command's flags and examples.
`

func runSecrets(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sub, rest := subcommand(args)
	switch sub {
	case "add":
		return runSecretsAdd(ctx, rest, getenv, stdout, stderr)
	case "list":
		return runSecretsList(ctx, rest, getenv, stdout, stderr)
	case "deactivate":
		return runSecretsStatus(ctx, "deactivate", "INACTIVE", rest, getenv, stdout, stderr)
	case "activate":
		return runSecretsStatus(ctx, "activate", "ACTIVE", rest, getenv, stdout, stderr)
	case "delete":
		return runSecretsDelete(ctx, rest, getenv, stdout, stderr)
	}
	return groupUsage(sub, rest, secretsUsage, "secrets", stdout, stderr)
}

// secretTarget is the client a secrets command works on.
type secretTarget struct{ org, client *string }

func newSecretTarget(c *remoteCommand) secretTarget {
	return secretTarget{
		org:    c.fs.String("org", "", "the organization's id"),
		client: c.fs.String("client", "", "the client's id (required)"),
	}
}

// path is the client's secrets collection, once the flags are checked.
func (t secretTarget) path(ctx context.Context, api *apiClient) (string, error) {
	orgID, err := api.orgOf(ctx, *t.org)
	if err != nil {
		return "", err
	}
	return clientPath(orgID, *t.client) + "/secrets", nil
}

func (t secretTarget) check() error {
	if *t.client == "" {
		return &usageError{"--client is required"}
	}
	return nil
}

// open parses args with the positional arguments named, checks the flags,
// and returns the admin API, the client's secrets collection and the
// positional arguments.
func (t secretTarget) open(ctx context.Context, c *remoteCommand, args []string, positional ...string) (*apiClient, string, []string, error) {
	pos, err := c.parse(args, positional...)
	if err != nil {
		return nil, "", nil, err
	}
	if err := t.check(); err != nil {
		return nil, "", nil, err
	}
	api, err := c.api(ctx)
	if err != nil {
		return nil, "", nil, err
	}
	path, err := t.path(ctx, api)
	if err != nil {
		return nil, "", nil, err
	}
	return api, path, pos, nil
}

func runSecretsAdd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newRemoteCommand("secrets add", "--client CLIENT_ID --org ORG_ID [flags]",
		"Adds an active secret to a client_secret client and prints it once, to stdout only.",
		`  keyward secrets add --client m2m_x3bd6ns4yiqkpnlkhdvbq7ouuq --org org_5d2c7xq4bb3ym7ojxv6o4mhfiq
  NEW_SECRET=$(keyward secrets add --client "$CLIENT_ID" --org "$ORG_ID" --output json | jq -r .plain_secret)`,
		getenv, stdout, stderr)
	api, path, _, err := newSecretTarget(c).open(ctx, c, args)
	if err != nil {
		return err
	}
	var resp struct {
		Secret      clientSecret `json:"secret"`
		PlainSecret string       `json:"plain_secret"`
	}
	raw, err := api.do(ctx, http.MethodPost, path, map[string]any{}, &resp)
	if err != nil {
		return err
	}
	if c.output == "json" {
		fmt.Fprintln(c.stderr, "keyward: plain_secret is shown only this once: store it now (keyward keeps only a hash)")
	}
	return c.print(raw, func(w io.Writer) {
		printSecret(w, resp.Secret)
		fmt.Fprintf(w, "CLIENT SECRET\t%s\n", resp.PlainSecret)
		fmt.Fprintln(w, "\nStore the client secret now: it is shown only this once (keyward keeps only a hash).")
	})
}

func runSecretsList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newRemoteCommand("secrets list", "--client CLIENT_ID --org ORG_ID [flags]",
		"Lists a client's secrets, oldest first: their ids, last four characters, status and last use.",
		`  keyward secrets list --client m2m_x3bd6ns4yiqkpnlkhdvbq7ouuq --org org_5d2c7xq4bb3ym7ojxv6o4mhfiq`,
		getenv, stdout, stderr)
	t := newSecretTarget(c)
	if _, err := c.parse(args); err != nil {
		return err
	}
	if err := t.check(); err != nil {
		return err
	}
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	orgID, err := api.orgOf(ctx, *t.org)
	if err != nil {
		return err
	}
	var resp struct {
		Client struct {
			Secrets []clientSecret `json:"secrets"`
		} `json:"client"`
	}
	if _, err := api.do(ctx, http.MethodGet, clientPath(orgID, *t.client), nil, &resp); err != nil {
		return err
	}
	raw, err := json.Marshal(map[string]any{"secrets": resp.Client.Secrets})
	if err != nil {
		return err
	}
	return c.print(raw, func(w io.Writer) {
		fmt.Fprintln(w, "SECRET ID\tENDS WITH\tSTATUS\tCREATED\tLAST USED")
		for _, s := range resp.Client.Secrets {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", s.ID, s.SecretSuffix, s.Status, s.CreateTime, nullOrDash(s.LastUsedTime))
		}
	})
}

// runSecretsStatus sets a secret's status: deactivate or activate.
func runSecretsStatus(ctx context.Context, verb, status string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	about := "Stops a secret authenticating, at once on every replica; `keyward secrets activate` undoes it."
	if status == "ACTIVE" {
		about = "Lets an inactive secret authenticate again."
	}
	c := newRemoteCommand("secrets "+verb, "SECRET_ID --client CLIENT_ID --org ORG_ID [flags]", about,
		fmt.Sprintf(`  keyward secrets %s sks_7hq2xk4mplqbd3oy5n2c4ta6ve --client m2m_x3bd6ns4yiqkpnlkhdvbq7ouuq --org org_5d2c7xq4bb3ym7ojxv6o4mhfiq`, verb),
		getenv, stdout, stderr)
	api, path, pos, err := newSecretTarget(c).open(ctx, c, args, "SECRET_ID")
	if err != nil {
		return err
	}
	var resp struct {
		Secret clientSecret `json:"secret"`
	}
	raw, err := api.do(ctx, http.MethodPatch, path+"/"+pathEscape(pos[0]), map[string]string{"status": status}, &resp)
	if err != nil {
		return err
	}
	return c.print(raw, func(w io.Writer) { printSecret(w, resp.Secret) })
}

func runSecretsDelete(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newRemoteCommand("secrets delete", "SECRET_ID --client CLIENT_ID --org ORG_ID [flags]",
		"Deletes a secret for good: it stops authenticating at once. There is no undo.",
		`  keyward secrets delete sks_7hq2xk4mplqbd3oy5n2c4ta6ve --client m2m_x3bd6ns4yiqkpnlkhdvbq7ouuq --org org_5d2c7xq4bb3ym7ojxv6o4mhfiq`,
		getenv, stdout, stderr)
	api, path, pos, err := newSecretTarget(c).open(ctx, c, args, "SECRET_ID")
	if err != nil {
		return err
	}
	if _, err := api.do(ctx, http.MethodDelete, path+"/"+pathEscape(pos[0]), nil, nil); err != nil {
		return err
	}
	c.done("deleted secret %s", pos[0])
	return nil
}

// printSecret shows a secret as NAME<tab>VALUE lines.
func printSecret(w io.Writer, s clientSecret) {
	fmt.Fprintf(w, "SECRET ID\t%s\n", s.ID)
	fmt.Fprintf(w, "ENDS WITH\t%s\n", s.SecretSuffix)
	fmt.Fprintf(w, "STATUS\t%s\n", s.Status)
	fmt.Fprintf(w, "CREATED\t%s\n", s.CreateTime)
	fmt.Fprintf(w, "UPDATED\t%s\n", s.UpdateTime)
	fmt.Fprintf(w, "LAST USED\t%s\n", nullOrDash(s.LastUsedTime))
}
