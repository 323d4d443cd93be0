package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// remoteFlagsHelp ends the help of every admin command group.
const remoteFlagsHelp = `
They call the admin API at KEYWARD_URL (or --url) with an access token of an
admin client: KEYWARD_CLIENT_ID and KEYWARD_CLIENT_SECRET (or --client-id and
--client-secret; or KEYWARD_TOKEN, a token got elsewhere). Output is a table,
or with --output json the API's answer. An error exits 1 with the server's
description.
`

const orgsUsage = `Usage: keyward orgs COMMAND [flags]

  keyward orgs create --name NAME [--external-id ID]   create an organization
  keyward orgs list                                     list the organizations you may see
  keyward orgs get ORG_ID                               show one
  keyward orgs update ORG_ID [--name NAME] [--external-id ID]
  keyward orgs delete ORG_ID                            delete one with its clients
` + remoteFlagsHelp + `
Run "keyward orgs COMMAND --help" for a command's flags and examples.
`

// org is an organization as the admin API answers it.
type org struct {
	ID          string  `json:"id"`
	DisplayName string  `json:"display_name"`
	ExternalID  *string `json:"external_id"`
	CreateTime  string  `json:"create_time"`
	UpdateTime  string  `json:"update_time"`
}

func runOrgs(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sub, rest := subcommand(args)
	switch sub {
	case "create":
		return runOrgsCreate(ctx, rest, getenv, stdout, stderr)
	case "list":
		return runOrgsList(ctx, rest, getenv, stdout, stderr)
	case "get":
		return runOrgsGet(ctx, rest, getenv, stdout, stderr)
	case "update":
		return runOrgsUpdate(ctx, rest, getenv, stdout, stderr)
	case "delete":
		return runOrgsDelete(ctx, rest, getenv, stdout, stderr)
	}
	return groupUsage(sub, rest, orgsUsage, "orgs", stdout, stderr)
}

// groupUsage answers `keyward GROUP` with no known command: the group's
// usage, on stdout for --help, else on stderr with exit status 2.
func groupUsage(sub string, rest []string, usage, group string, stdout, stderr io.Writer) error {
	if sub == "help" || (sub == "" && len(rest) > 0 && isHelp(rest[0])) {
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	if sub == "" {
		return &usageError{"keyward " + group + ": no command given"}
	}
	return &usageError{fmt.Sprintf("keyward %s: unknown command %q", group, sub)}
}

func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

func runOrgsCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newRemoteCommand("orgs create", "--name NAME [--external-id ID] [flags]",
		"Creates an organization: a tenant that owns clients. Environment admins only.",
		`  keyward orgs create --name "Acme Corp"
  keyward orgs create --name "Acme Corp" --external-id acme-42
  ORG_ID=$(keyward orgs create --name "Acme Corp" --output json | jq -r .organization.id)`,
		getenv, stdout, stderr)
	name := c.fs.String("name", "", "the display name (required)")
	ext := c.fs.String("external-id", "", "your own id for the organization, unique among them")
	if _, err := c.parse(args); err != nil {
		return err
	}
	if *name == "" {
		return &usageError{"--name is required"}
	}
	body := map[string]any{"display_name": *name}
	if *ext != "" {
		body["external_id"] = *ext
	}
	return c.showOrg(ctx, http.MethodPost, "/api/v1/organizations", body)
}

func runOrgsGet(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newRemoteCommand("orgs get", "ORG_ID [flags]", "Shows an organization.",
		`  keyward orgs get org_5d2c7xq4bb3ym7ojxv6o4mhfiq
  keyward orgs get org_5d2c7xq4bb3ym7ojxv6o4mhfiq --output json`,
		getenv, stdout, stderr)
	pos, err := c.parse(args, "ORG_ID")
	if err != nil {
		return err
	}
	return c.showOrg(ctx, http.MethodGet, "/api/v1/organizations/"+pathEscape(pos[0]), nil)
}

func runOrgsUpdate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newRemoteCommand("orgs update", "ORG_ID [--name NAME] [--external-id ID] [flags]",
		"Changes the fields given, and only those. --external-id \"\" removes the external id.",
		`  keyward orgs update org_5d2c7xq4bb3ym7ojxv6o4mhfiq --name "Acme Corporation"
  keyward orgs update org_5d2c7xq4bb3ym7ojxv6o4mhfiq --external-id ""`,
		getenv, stdout, stderr)
	name := c.fs.String("name", "", "the new display name")
	ext := c.fs.String("external-id", "", "the new external id; \"\" removes it")
	pos, err := c.parse(args, "ORG_ID")
	if err != nil {
		return err
	}
	body := map[string]any{}
	if c.set("name") {
		body["display_name"] = *name
	}
	if c.set("external-id") {
		if *ext == "" {
			body["external_id"] = nil
		} else {
			body["external_id"] = *ext
		}
	}
	if len(body) == 0 {
		return &usageError{"nothing to change: give --name or --external-id"}
	}
	return c.showOrg(ctx, http.MethodPatch, "/api/v1/organizations/"+pathEscape(pos[0]), body)
}

func runOrgsDelete(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newRemoteCommand("orgs delete", "ORG_ID [flags]",
		"Deletes an organization and every client in it: their tokens stop working on the admin API at once\nand their credentials stop authenticating. Environment admins only. There is no undo.",
		`  keyward orgs delete org_5d2c7xq4bb3ym7ojxv6o4mhfiq`,
		getenv, stdout, stderr)
	pos, err := c.parse(args, "ORG_ID")
	if err != nil {
		return err
	}
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	if _, err := api.do(ctx, http.MethodDelete, "/api/v1/organizations/"+pathEscape(pos[0]), nil, nil); err != nil {
		return err
	}
	c.done("deleted organization %s and its clients", pos[0])
	return nil
}

func runOrgsList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newRemoteCommand("orgs list", "[flags]",
		"Lists the organizations the admin client may see, oldest first: every one for an environment\nadmin, its own for an org admin. Follows every page.",
		`  keyward orgs list
  keyward orgs list --output json | jq -r '.organizations[].id'`,
		getenv, stdout, stderr)
	if _, err := c.parse(args); err != nil {
		return err
	}
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	raw, err := api.list(ctx, "/api/v1/organizations", "organizations")
	if err != nil {
		return err
	}
	var l struct {
		Organizations []org `json:"organizations"`
	}
	if err := decodeAnswer(raw, &l); err != nil {
		return err
	}
	return c.print(raw, func(w io.Writer) {
		fmt.Fprintln(w, "ID\tDISPLAY NAME\tEXTERNAL ID\tCREATED")
		for _, o := range l.Organizations {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", o.ID, o.DisplayName, nullOrDash(o.ExternalID), o.CreateTime)
		}
	})
}

// showOrg sends a request answered by {organization} and prints it.
func (c *remoteCommand) showOrg(ctx context.Context, method, path string, body any) error {
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	var resp struct {
		Organization org `json:"organization"`
	}
	raw, err := api.do(ctx, method, path, body, &resp)
	if err != nil {
		return err
	}
	o := resp.Organization
	return c.print(raw, func(w io.Writer) {
		fmt.Fprintf(w, "ID\t%s\n", o.ID)
		fmt.Fprintf(w, "DISPLAY NAME\t%s\n", o.DisplayName)
		fmt.Fprintf(w, "EXTERNAL ID\t%s\n", nullOrDash(o.ExternalID))
		fmt.Fprintf(w, "CREATED\t%s\n", o.CreateTime)
		fmt.Fprintf(w, "UPDATED\t%s\n", o.UpdateTime)
	})
}
