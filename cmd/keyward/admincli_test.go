package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/pgtest"
)

// adminCLI runs admin commands against one live keyward serve.
type adminCLI struct {
	srv *server
	env env // KEYWARD_URL and the bootstrap admin's credentials
}

func startAdminCLI(t *testing.T) *adminCLI {
	t.Helper()
	const id, secret = "m2m_cli_admin", "kw_sk_cli-admin-secret-0123456789abcdef"
	srv := startServe(t, env{
		"KEYWARD_DATABASE_URL":            pgtest.NewDatabase(t),
		"KEYWARD_KEY_ENCRYPTION_KEY":      newKEK(),
		"KEYWARD_BOOTSTRAP_CLIENT_ID":     id,
		"KEYWARD_BOOTSTRAP_CLIENT_SECRET": secret,
	})
	return &adminCLI{srv: srv, env: env{"KEYWARD_URL": srv.URL, "KEYWARD_CLIENT_ID": id, "KEYWARD_CLIENT_SECRET": secret}}
}

// run runs `keyward ARGS...` with the CLI's environment plus extra.
func (a *adminCLI) run(extra env, args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, a.env.with(extra).get, &out, &errOut)
	return out.String(), errOut.String(), err
}

// ok runs a command that must succeed and returns its stdout.
func (a *adminCLI) ok(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := a.run(nil, args...)
	if err != nil {
		t.Fatalf("keyward %s = %v; stderr:\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// json runs a command with --output json and decodes what it printed.
func (a *adminCLI) json(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out := a.ok(t, append(args, "--output", "json")...)
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("keyward %s --output json printed %q, not a JSON object", strings.Join(args, " "), out)
	}
	return m
}

// field reads a nested string field of a decoded answer: field(m, "client", "client_id").
func field(t *testing.T, m map[string]any, path ...string) string {
	t.Helper()
	var cur any = m
	for _, p := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%v has no %s", m, strings.Join(path, "."))
		}
		cur = obj[p]
	}
	s, _ := cur.(string)
	return s
}

// row finds the table line that starts with label and returns the rest.
func row(t *testing.T, table, label string) string {
	t.Helper()
	for _, l := range strings.Split(table, "\n") {
		if rest, ok := strings.CutPrefix(l, label); ok && (rest == "" || rest[0] == ' ') {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatalf("no %q row in:\n%s", label, table)
	return ""
}

func TestAdminCLIQuickstart(t *testing.T) {
	t.Parallel()
	a := startAdminCLI(t)

	// organizations
	out := a.ok(t, "orgs", "create", "--name", "Acme Corp", "--external-id", "acme-42")
	orgID := row(t, out, "ID")
	if !strings.HasPrefix(orgID, "org_") || row(t, out, "DISPLAY NAME") != "Acme Corp" || row(t, out, "EXTERNAL ID") != "acme-42" {
		t.Fatalf("orgs create printed:\n%s", out)
	}
	if m := a.json(t, "orgs", "get", orgID); field(t, m, "organization", "id") != orgID {
		t.Errorf("orgs get %s --output json = %v", orgID, m)
	}
	if out := a.ok(t, "orgs", "list"); !strings.Contains(out, orgID) || !strings.HasPrefix(out, "ID ") {
		t.Errorf("orgs list does not show %s:\n%s", orgID, out)
	}
	if m := a.json(t, "orgs", "list"); m["total_size"] != float64(1) || m["next_page_token"] != "" {
		t.Errorf("orgs list --output json = %v, want total_size 1 and an empty next_page_token", m)
	}
	if out := a.ok(t, "orgs", "update", orgID, "--name", "Acme Corporation", "--external-id", ""); row(t, out, "DISPLAY NAME") != "Acme Corporation" || row(t, out, "EXTERNAL ID") != "-" {
		t.Errorf("orgs update printed:\n%s", out)
	}

	// a client: its secret is printed once, with a warning, on stdout only
	out, errOut, err := a.run(nil, "clients", "create", "--org", orgID, "--name", "deployer",
		"--scope", "deploy:applications read:logs", "--audience", "deployment-api.example.com",
		"--claim", "environment=production us", "--expiry", "15m")
	if err != nil {
		t.Fatalf("clients create = %v; stderr:\n%s", err, errOut)
	}
	clientID, plain := row(t, out, "CLIENT ID"), row(t, out, "CLIENT SECRET")
	if !strings.HasPrefix(clientID, "m2m_") || !strings.HasPrefix(plain, "kw_sk_") {
		t.Fatalf("clients create printed:\n%s", out)
	}
	if !strings.Contains(out, "shown only this once") {
		t.Errorf("clients create gave no warning that the secret is shown once:\n%s", out)
	}
	if errOut != "" {
		t.Errorf("clients create wrote to stderr: %q", errOut)
	}
	for label, want := range map[string]string{"SCOPES": "deploy:applications read:logs", "AUDIENCE": "deployment-api.example.com",
		"CUSTOM CLAIMS": "environment=production us", "EXPIRY": "900s", "AUTH METHOD": "client_secret"} {
		if got := row(t, out, label); got != want {
			t.Errorf("clients create: %s = %q, want %q", label, got, want)
		}
	}
	if tok, err := tokenCommand(t, a.srv.URL, clientID, plain); err != nil || strings.Count(tok, ".") != 2 {
		t.Fatalf("the printed secret gets no token: %q, %v", tok, err)
	}

	// --output json: the API's answer on stdout, the warning (without the secret) on stderr
	out, errOut, err = a.run(nil, "clients", "create", "--org", orgID, "--name", "second", "--output", "json")
	if err != nil {
		t.Fatalf("clients create --output json = %v", err)
	}
	var created struct {
		Client struct {
			ClientID string `json:"client_id"`
		} `json:"client"`
		PlainSecret string `json:"plain_secret"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || !strings.HasPrefix(created.PlainSecret, "kw_sk_") {
		t.Fatalf("clients create --output json printed %q (%v)", out, err)
	}
	if !strings.Contains(errOut, "shown only this once") || strings.Contains(errOut, created.PlainSecret) {
		t.Errorf("stderr = %q: want the warning, never the secret", errOut)
	}

	if out := a.ok(t, "clients", "list", "--org", orgID); !strings.Contains(out, clientID) || !strings.Contains(out, created.Client.ClientID) {
		t.Errorf("clients list lacks a client:\n%s", out)
	}
	if m := a.json(t, "clients", "get", clientID, "--org", orgID); field(t, m, "client", "name") != "deployer" {
		t.Errorf("clients get = %v", m)
	}
	out = a.ok(t, "clients", "update", clientID, "--org", orgID, "--scope", "", "--description", "deploys the API")
	if row(t, out, "SCOPES") != "-" || row(t, out, "DESCRIPTION") != "deploys the API" || row(t, out, "AUDIENCE") != "deployment-api.example.com" {
		t.Errorf("clients update changed more or less than asked:\n%s", out)
	}

	// secrets: rotate without downtime
	out = a.ok(t, "secrets", "add", "--client", clientID, "--org", orgID)
	newSecret, newID := row(t, out, "CLIENT SECRET"), row(t, out, "SECRET ID")
	if !strings.HasPrefix(newSecret, "kw_sk_") || !strings.HasPrefix(newID, "sks_") || !strings.Contains(out, "shown only this once") {
		t.Fatalf("secrets add printed:\n%s", out)
	}
	list := a.ok(t, "secrets", "list", "--client", clientID, "--org", orgID)
	var oldID string
	for _, l := range lines(list)[1:] {
		if f := strings.Fields(l); f[0] != newID {
			oldID = f[0]
		}
	}
	if oldID == "" || strings.Count(list, "ACTIVE") != 2 {
		t.Fatalf("secrets list:\n%s", list)
	}
	if out := a.ok(t, "secrets", "deactivate", oldID, "--client", clientID, "--org", orgID); row(t, out, "STATUS") != "INACTIVE" {
		t.Errorf("secrets deactivate printed:\n%s", out)
	}
	if _, err := tokenCommand(t, a.srv.URL, clientID, plain); err == nil {
		t.Error("a deactivated secret still gets a token")
	}
	if _, err := tokenCommand(t, a.srv.URL, clientID, newSecret); err != nil {
		t.Errorf("the added secret gets no token: %v", err)
	}
	if out := a.ok(t, "secrets", "activate", oldID, "--client", clientID, "--org", orgID); row(t, out, "STATUS") != "ACTIVE" {
		t.Errorf("secrets activate printed:\n%s", out)
	}
	if out := a.ok(t, "secrets", "delete", oldID, "--client", clientID, "--org", orgID); out != "deleted secret "+oldID+"\n" {
		t.Errorf("secrets delete printed %q", out)
	}
	if out := a.ok(t, "secrets", "delete", newID, "--client", clientID, "--org", orgID, "--output", "json"); out != "" {
		t.Errorf("secrets delete --output json printed %q, want nothing", out)
	}

	// an org admin may leave --org out
	orgAdmin := a.json(t, "clients", "create", "--org", orgID, "--name", "org-admin", "--scope", "keyward:org:admin")
	asOrgAdmin := env{"KEYWARD_CLIENT_ID": field(t, orgAdmin, "client", "client_id"), "KEYWARD_CLIENT_SECRET": field(t, orgAdmin, "plain_secret")}
	if out, errOut, err := a.run(asOrgAdmin, "clients", "list"); err != nil || !strings.Contains(out, clientID) {
		t.Errorf("clients list as an org admin without --org = %v, %q; stderr %q", err, out, errOut)
	}
	if _, _, err := a.run(nil, "clients", "list"); err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "--org is required") {
		t.Errorf("clients list as an environment admin without --org = %v, want a usage error asking for --org", err)
	}

	// deleting
	if out := a.ok(t, "clients", "delete", clientID, "--org", orgID); out != "deleted client "+clientID+"\n" {
		t.Errorf("clients delete printed %q", out)
	}
	if out := a.ok(t, "orgs", "delete", orgID); !strings.Contains(out, "deleted organization "+orgID) {
		t.Errorf("orgs delete printed %q", out)
	}
	if _, _, err := a.run(nil, "orgs", "get", orgID); err == nil || err.Error() != "organization not found (404 not_found)" || exitCode(err) != 1 {
		t.Errorf("orgs get of a deleted organization = %v, want the server's description and exit status 1", err)
	}
}

func TestAdminCLIKeysRemote(t *testing.T) {
	t.Parallel()
	a := startAdminCLI(t)
	remote := env{"KEYWARD_URL": ""}
	out, errOut, err := a.run(remote, "keys", "list", "--url", a.srv.URL)
	if err != nil {
		t.Fatalf("keys list --url = %v; stderr %s", err, errOut)
	}
	if !regexp.MustCompile(`(?m)^\S+\s+active\s+RS256\s`).MatchString(out) || !regexp.MustCompile(`(?m)^\S+\s+next\s+RS256\s`).MatchString(out) {
		t.Errorf("keys list --url shows no active and next key:\n%s", out)
	}
	// KEYWARD_URL alone (no database URL) selects the admin API too.
	if m := a.json(t, "keys", "list"); len(m["keys"].([]any)) != 2 {
		t.Errorf("keys list with KEYWARD_URL = %v", m)
	}
	// The next key is too new to sign: the server's refusal is the error.
	_, _, err = a.run(nil, "keys", "rotate")
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "published too recently") || !strings.Contains(err.Error(), "(409 conflict)") {
		t.Errorf("keys rotate with a fresh next key = %v, want the 409's description", err)
	}
	if _, _, err := a.run(nil, "keys", "rewrap", "--url", a.srv.URL); err == nil || exitCode(err) != 2 {
		t.Errorf("keys rewrap --url = %v, want a usage error", err)
	}
}

func TestAdminCLIErrors(t *testing.T) {
	t.Parallel()
	a := startAdminCLI(t)
	tests := []struct {
		name     string
		extra    env
		args     []string
		wantCode int
		wantErr  string
	}{
		{"wrong credentials", env{"KEYWARD_CLIENT_SECRET": "kw_sk_wrong"}, []string{"orgs", "list"}, 1,
			"cannot get an access token as m2m_cli_admin: client authentication failed (401 invalid_client)"},
		{"a bad token", env{"KEYWARD_TOKEN": "not-a-token"}, []string{"orgs", "list"}, 1, "(401 unauthorized)"},
		{"an invalid field", nil, []string{"clients", "create", "--org", "org_none", "--name", "x"}, 1, "organization not found (404 not_found)"},
		{"no URL", env{"KEYWARD_URL": ""}, []string{"orgs", "list"}, 2, "--url or KEYWARD_URL is required"},
		{"no credentials", env{"KEYWARD_CLIENT_ID": ""}, []string{"orgs", "list"}, 2, "--client-id and --client-secret"},
		{"a missing argument", nil, []string{"orgs", "get"}, 2, "keyward orgs get takes ORG_ID"},
		{"a missing required flag", nil, []string{"orgs", "create"}, 2, "--name is required"},
		{"an unknown output", nil, []string{"orgs", "list", "-o", "yaml"}, 2, "--output must be table or json"},
		{"an unknown command", nil, []string{"clients", "frobnicate"}, 2, `unknown command "frobnicate"`},
		{"a bad expiry", nil, []string{"clients", "create", "--org", "o", "--name", "n", "--expiry", "soon"}, 2, "--expiry"},
		{"nothing to update", nil, []string{"clients", "update", "m2m_x", "--org", "o"}, 2, "nothing to change"},
		{"an unreachable server", env{"KEYWARD_URL": "http://127.0.0.1:1"}, []string{"orgs", "list"}, 1, "cannot reach keyward"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := a.run(tt.extra, tt.args...)
			if err == nil {
				t.Fatalf("keyward %s succeeded", strings.Join(tt.args, " "))
			}
			if code := exitCode(err); code != tt.wantCode || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("keyward %s = %v (exit %d), want exit %d and %q", strings.Join(tt.args, " "), err, code, tt.wantCode, tt.wantErr)
			}
		})
	}
}

// TestAdminCLIHelp: every admin command answers --help with its usage and
// examples, exit status 0, and the groups list their commands.
func TestAdminCLIHelp(t *testing.T) {
	// Credentials in the environment are never shown as flag defaults.
	secrets := env{"KEYWARD_CLIENT_SECRET": "kw_sk_never-printed", "KEYWARD_TOKEN": "never-printed", "KEYWARD_CLIENT_ID": "m2m_never-printed"}
	commands := [][]string{
		{"token", ""},
		{"orgs", "create"}, {"orgs", "list"}, {"orgs", "get"}, {"orgs", "update"}, {"orgs", "delete"},
		{"clients", "create"}, {"clients", "list"}, {"clients", "get"}, {"clients", "update"}, {"clients", "delete"},
		{"secrets", "add"}, {"secrets", "list"}, {"secrets", "deactivate"}, {"secrets", "activate"}, {"secrets", "delete"},
		{"keys", "list", "--url", "http://x"}, {"keys", "rotate", "--url", "http://x"}, {"keys", "revoke", "--url", "http://x"},
	}
	for _, c := range commands {
		if c[1] == "" {
			c = c[:1]
		}
		t.Run(strings.Join(c, " "), func(t *testing.T) {
			if c[0] == "token" {
				var stdout, stderr bytes.Buffer
				_ = run(context.Background(), []string{"token", "--help"}, secrets.get, &stdout, &stderr)
				if strings.Contains(stderr.String(), "never-printed") || !strings.Contains(stderr.String(), "--client-secret") {
					t.Errorf("token --help:\n%s", stderr.String())
				}
				return
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append(c, "--help"), secrets.get, &stdout, &stderr)
			if !errors.Is(err, flag.ErrHelp) || exitCode(err) != 0 {
				t.Fatalf("--help = %v, want flag.ErrHelp (exit 0)", err)
			}
			help := stderr.String()
			if strings.Contains(help, "never-printed") {
				t.Errorf("--help shows a credential from the environment:\n%s", help)
			}
			for _, want := range []string{"Usage: keyward " + strings.Join(c[:2], " "), "Examples:\n  keyward " + c[0], "--output", "--url"} {
				if !strings.Contains(help, want) {
					t.Errorf("--help lacks %q:\n%s", want, help)
				}
			}
		})
	}
	for _, g := range []string{"orgs", "clients", "secrets"} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), []string{g, "--help"}, env{}.get, &stdout, &stderr); err != nil {
			t.Errorf("%s --help = %v", g, err)
		}
		if !strings.Contains(stdout.String(), "keyward "+g+" create") && !strings.Contains(stdout.String(), "keyward "+g+" add") {
			t.Errorf("%s --help does not list its commands:\n%s", g, stdout.String())
		}
	}
}

// TestAdminCLIProcess: the built binary prints the server's description on
// stderr and exits 1.
func TestAdminCLIProcess(t *testing.T) {
	t.Parallel()
	a := startAdminCLI(t)
	cmd := exec.Command(keywardBinary(t), "orgs", "get", "org_missing")
	for k, v := range a.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit = %v, want status 1", err)
	}
	if got, want := stderr.String(), "keyward: organization not found (404 not_found)\n"; got != want || stdout.Len() != 0 {
		t.Errorf("stderr = %q, stdout = %q; want stderr %q and no stdout", got, stdout.String(), want)
	}
}

// TestVersionFromLdflags: the version, commit and build date given to the
// linker, as scripts/docker/Dockerfile gives them, are what `keyward
// version` prints.
func TestVersionFromLdflags(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "keyward")
	ldflags := "-X main.version=v1.2.3 -X main.commit=0123456789abcdef0123 -X main.date=2026-11-30T10:08:12Z"
	if out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`^keyward v1\.2\.3 \(commit 0123456789ab, built 2026-11-30T10:08:12Z\) go1\.\S+ \S+/\S+, signer (go|openssl \S+)\n$`)
	if !want.Match(out) {
		t.Errorf("keyward version = %q, want %s", out, want)
	}
}
