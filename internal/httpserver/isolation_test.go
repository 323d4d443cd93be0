package httpserver_test

// Org-scoped admin tokens (keyward:org:admin): an org admin manages its own
// organization, and every other organization looks to it exactly as one
// that does not exist.

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// admRoute is an admin API route with {org}, {client} and {secret}
// placeholders, and a body that would change something if it were obeyed.
type admRoute struct {
	method, path string
	body         any
}

func (r admRoute) url(org, client, secret string) string {
	return strings.NewReplacer("{org}", org, "{client}", client, "{secret}", secret).Replace("/api/v1" + r.path)
}

// admOrgRoutes is every route under /organizations/{org_id}, every verb.
var admOrgRoutes = []admRoute{
	{"GET", "/organizations/{org}", nil},
	{"PATCH", "/organizations/{org}", map[string]any{"display_name": "taken over", "external_id": "stolen"}},
	{"DELETE", "/organizations/{org}", nil},
	{"POST", "/organizations/{org}/clients", map[string]any{"name": "intruder", "scopes": []string{"read"}}},
	{"GET", "/organizations/{org}/clients", nil},
	{"GET", "/organizations/{org}/clients/{client}", nil},
	{"PATCH", "/organizations/{org}/clients/{client}", map[string]any{"name": "taken over", "scopes": []string{}, "expiry": 86400}},
	{"DELETE", "/organizations/{org}/clients/{client}", nil},
	{"POST", "/organizations/{org}/clients/{client}/secrets", nil},
	{"PATCH", "/organizations/{org}/clients/{client}/secrets/{secret}", map[string]any{"status": "INACTIVE"}},
	{"DELETE", "/organizations/{org}/clients/{client}/secrets/{secret}", nil},
	{"POST", "/organizations/{org}/clients/{client}/keys", map[string]any{"public_key_pem": admIsolationPEM}},
	{"GET", "/organizations/{org}/clients/{client}/keys", nil},
	{"DELETE", "/organizations/{org}/clients/{client}/keys/{secret}", nil},
	{"POST", "/organizations/{org}/clients/{client}/api_keys", nil},
	{"GET", "/organizations/{org}/clients/{client}/api_keys", nil},
	{"PATCH", "/organizations/{org}/clients/{client}/api_keys/{secret}", map[string]any{"status": "INACTIVE"}},
	{"DELETE", "/organizations/{org}/clients/{client}/api_keys/{secret}", nil},
}

// admIsolationPEM is an EC P-256 public key that the walk tries to register.
const admIsolationPEM = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEM+v7AyvPcSDb/AuvNJD2JuBV9g39
Haj+epEssPgJDmIUwVU1+7Z3EgxaQd6WRkbL3CC4lwz/KxhXxb1WI5QULQ==
-----END PUBLIC KEY-----`

// admEveryAdminRoute is every route that needs an admin scope.
var admEveryAdminRoute = append([]admRoute{
	{"POST", "/organizations", map[string]any{"display_name": "new"}},
	{"GET", "/organizations", nil},
	{"GET", "/keys", nil},
	{"POST", "/keys/rotate", nil},
}, admOrgRoutes...)

const (
	admMissingOrg    = "org_doesnotexist0000000000"
	admMissingClient = "m2m_doesnotexist0000000000"
	admMissingSecret = "sks_doesnotexist0000000000"
)

func TestIsolationOtherOrganizationsLookMissing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	envTok := ts.adminToken(t)
	a := ts.createOrg(t, envTok, "A")
	b := ts.createOrg(t, envTok, "B")
	_, tok := ts.admOrgAdmin(t, envTok, a)
	if claims, _ := admClaims(t, tok); claims["org_id"] != a {
		t.Fatalf("the org admin's token has org_id %v, want %s", claims["org_id"], a)
	}
	aClient, aPlain := ts.createClient(t, envTok, a, map[string]any{"name": "a's client"})
	bClient, bPlain := ts.createClient(t, envTok, b, map[string]any{"name": "b's client", "scopes": []string{"read"},
		"custom_claims": []map[string]string{{"key": "tier", "value": "gold"}}})
	bSecret, bPlain2 := ts.admAddSecret(t, envTok, b, bClient)
	// An environment client belongs to no organization; it is no org
	// admin's to touch either.
	envClient, envPlain := ts.envAdmin(t)
	envClientRow, err := ts.Store.ClientByID(context.Background(), envClient)
	if err != nil {
		t.Fatal(err)
	}
	envSecret := envClientRow.Secrets[0].ID
	beforeA, beforeB := ts.admSnapshot(t, a), ts.admSnapshot(t, b)

	// Each case names real ids of B (or a mix with A's) and the same route
	// with ids that exist nowhere; the answers must be identical.
	type ids struct{ org, client, secret string }
	cases := []struct {
		name       string
		real, fake ids
		routes     []admRoute
	}{
		{"with B's organization, client and secret",
			ids{b, bClient, bSecret}, ids{admMissingOrg, admMissingClient, admMissingSecret}, admOrgRoutes},
		{"with its own organization and B's client and secret",
			ids{a, bClient, bSecret}, ids{a, admMissingClient, admMissingSecret}, admRoutesWith("{client}")},
		{"with its own organization and client and B's secret",
			ids{a, aClient, bSecret}, ids{a, aClient, admMissingSecret}, admRoutesWith("{secret}")},
		{"with its own organization and an environment client",
			ids{a, envClient, envSecret}, ids{a, admMissingClient, admMissingSecret}, admRoutesWith("{client}")},
	}
	t.Run("every org-scoped route", func(t *testing.T) {
		for _, c := range cases {
			for _, rt := range c.routes {
				t.Run(c.name+", "+rt.method+" "+rt.path+" answers 404 as for ids that do not exist", func(t *testing.T) {
					t.Parallel()
					real := ts.do(t, rt.method, rt.url(c.real.org, c.real.client, c.real.secret), tok, rt.body)
					admWantError(t, real, http.StatusNotFound)
					fake := ts.do(t, rt.method, rt.url(c.fake.org, c.fake.client, c.fake.secret), tok, rt.body)
					admWantError(t, fake, http.StatusNotFound)
					if !bytes.Equal(real.Body, fake.Body) {
						t.Errorf("real ids answer %s, ids that do not exist answer %s", real.Body, fake.Body)
					}
					for _, h := range []string{"Content-Type", "Content-Length", "WWW-Authenticate", "Allow"} {
						if real.Header.Get(h) != fake.Header.Get(h) {
							t.Errorf("header %s: %q for real ids, %q for ids that do not exist", h, real.Header.Get(h), fake.Header.Get(h))
						}
					}
				})
			}
		}
	})
	// After every walk, in the database:
	ts.admWantUnchanged(t, b, beforeB)
	ts.admWantUnchanged(t, a, beforeA)
	if n := ts.admCount(t, `SELECT count(*) FROM organizations`); n != 2 {
		t.Errorf("%d organizations, want 2", n)
	}
	if n := ts.admCount(t, `SELECT (SELECT count(*) FROM client_keys) + (SELECT count(*) FROM api_keys)`); n != 0 {
		t.Errorf("%d keys or API keys were made", n)
	}
	// and from outside:
	for _, c := range []struct{ id, plain string }{{bClient, bPlain}, {bClient, bPlain2}, {aClient, aPlain}, {envClient, envPlain}} {
		ts.token(t, c.id, c.plain)
	}
	if after, err := ts.Store.ClientByID(context.Background(), envClient); err != nil || !reflect.DeepEqual(after, envClientRow) {
		t.Errorf("the environment client changed: %+v, %v", after, err)
	}
	g := ts.do(t, "GET", "/api/v1/organizations/"+b+"/clients/"+bClient, envTok, nil)
	admWant(t, g, http.StatusOK)
	if cl := admObject(t, g, "client"); cl["name"] != "b's client" || len(cl["secrets"].([]any)) != 2 {
		t.Errorf("B's client changed: %s", g.Body)
	}
}

// admRoutesWith returns the org-scoped routes whose path has placeholder.
func admRoutesWith(placeholder string) []admRoute {
	var out []admRoute
	for _, r := range admOrgRoutes {
		if strings.Contains(r.path, placeholder) {
			out = append(out, r)
		}
	}
	return out
}

func TestIsolationOrgAdminManagesItsOwnOrganization(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	envTok := ts.adminToken(t)
	a := ts.createOrg(t, envTok, "A")
	ts.createOrg(t, envTok, "B")
	adminID, tok := ts.admOrgAdmin(t, envTok, a)
	base := "/api/v1/organizations/" + a

	t.Run("it lists only its own organization", func(t *testing.T) {
		r := ts.do(t, "GET", "/api/v1/organizations", tok, nil)
		admWant(t, r, http.StatusOK)
		orgs := admList(t, r, "organizations")
		if len(orgs) != 1 || orgs[0]["id"] != a {
			t.Errorf("listed %s, want only %s", r.Body, a)
		}
		if m := r.JSON(t); m["total_size"] != 1.0 || m["next_page_token"] != "" {
			t.Errorf("total_size %v, next_page_token %v; want 1 and \"\"", m["total_size"], m["next_page_token"])
		}
	})
	t.Run("it reads and renames its own organization", func(t *testing.T) {
		admWant(t, ts.do(t, "GET", base, tok, nil), http.StatusOK)
		r := ts.do(t, "PATCH", base, tok, map[string]any{"display_name": "A renamed"})
		admWant(t, r, http.StatusOK)
		if o := admObject(t, r, "organization"); o["display_name"] != "A renamed" {
			t.Errorf("display_name %v after PATCH", o["display_name"])
		}
	})
	t.Run("it may not create organizations", func(t *testing.T) {
		admWantError(t, ts.do(t, "POST", "/api/v1/organizations", tok, map[string]any{"display_name": "Mine"}), http.StatusForbidden)
		if n := ts.admCount(t, `SELECT count(*) FROM organizations`); n != 2 {
			t.Errorf("%d organizations, want 2", n)
		}
	})
	t.Run("it may not delete its own organization", func(t *testing.T) {
		admWantError(t, ts.do(t, "DELETE", base, tok, nil), http.StatusForbidden)
		admWant(t, ts.do(t, "GET", base, envTok, nil), http.StatusOK)
	})
	t.Run("it may not see or rotate keys", func(t *testing.T) {
		admWantError(t, ts.do(t, "GET", "/api/v1/keys", tok, nil), http.StatusForbidden)
		admWantError(t, ts.do(t, "POST", "/api/v1/keys/rotate", tok, nil), http.StatusForbidden)
	})

	for _, tt := range []struct {
		scopes []string
		field  string
	}{
		{[]string{"keyward:admin"}, "scopes[0]"},
		{[]string{"read", "keyward:org:admin"}, "scopes[1]"},
	} {
		t.Run("registering "+strings.Join(tt.scopes, " ")+" on a new client is forbidden", func(t *testing.T) {
			r := ts.do(t, "POST", base+"/clients", tok, map[string]any{"name": "escalate", "scopes": tt.scopes})
			admWantError(t, r, http.StatusForbidden, tt.field)
		})
	}
	t.Run("no client is left by the forbidden requests", func(t *testing.T) {
		if n := ts.admCount(t, `SELECT count(*) FROM clients WHERE organization_id = $1`, a); n != 1 {
			t.Errorf("%d clients in A, want only the org admin", n)
		}
	})

	var client, plain string
	t.Run("it creates a client with ordinary scopes that gets tokens of its organization", func(t *testing.T) {
		c, p := ts.admNewClient(t, tok, a, map[string]any{"name": "worker", "scopes": []string{"jobs:run"}})
		client, plain = c["client_id"].(string), p
		tr := ts.postToken(t, client, plain, url.Values{"grant_type": {"client_credentials"}})
		if tr.Status != http.StatusOK {
			t.Fatalf("token: %d %s", tr.Status, tr.Description)
		}
		if claims, _ := admClaims(t, tr.AccessToken); claims["org_id"] != a {
			t.Errorf("org_id %v, want %s", claims["org_id"], a)
		}
	})
	if client == "" {
		t.FailNow()
	}
	path := base + "/clients/" + client
	t.Run("it lists, reads and patches its clients", func(t *testing.T) {
		l := ts.do(t, "GET", base+"/clients", tok, nil)
		admWant(t, l, http.StatusOK)
		if l.JSON(t)["total_size"] != 2.0 {
			t.Errorf("list: %s, want the org admin and the worker", l.Body)
		}
		admWant(t, ts.do(t, "GET", path, tok, nil), http.StatusOK)
		admWant(t, ts.do(t, "PATCH", path, tok, map[string]any{"description": "runs jobs"}), http.StatusOK)
	})
	t.Run("adding keyward:admin to its client is forbidden", func(t *testing.T) {
		r := ts.do(t, "PATCH", path, tok, map[string]any{"scopes": []string{"jobs:run", "keyward:admin"}})
		admWantError(t, r, http.StatusForbidden, "scopes")
		g := ts.do(t, "GET", path, envTok, nil)
		if sc := admObject(t, g, "client")["scopes"].([]any); len(sc) != 1 || sc[0] != "jobs:run" {
			t.Errorf("scopes after the forbidden PATCH: %v", sc)
		}
	})
	t.Run("it may keep the keyward scope its own client holds", func(t *testing.T) {
		r := ts.do(t, "PATCH", base+"/clients/"+adminID, tok, map[string]any{"scopes": []string{"keyward:org:admin", "read"}})
		admWant(t, r, http.StatusOK)
	})
	t.Run("it manages its client's secrets", func(t *testing.T) {
		sid, p2 := ts.admAddSecret(t, tok, a, client)
		ts.token(t, client, p2)
		sp := path + "/secrets/" + sid
		admWant(t, ts.do(t, "PATCH", sp, tok, map[string]any{"status": "INACTIVE"}), http.StatusOK)
		if tr := ts.postToken(t, client, p2, url.Values{"grant_type": {"client_credentials"}}); tr.Status != http.StatusUnauthorized {
			t.Errorf("the inactive secret got %d, want 401", tr.Status)
		}
		admWant(t, ts.do(t, "DELETE", sp, tok, nil), http.StatusNoContent)
		ts.token(t, client, plain)
	})
	t.Run("it deletes its client", func(t *testing.T) {
		admWant(t, ts.do(t, "DELETE", path, tok, nil), http.StatusNoContent)
		admWantError(t, ts.do(t, "GET", path, envTok, nil), http.StatusNotFound)
	})
}

func TestIsolationTokenWithoutAdminScopeIsForbiddenEverywhere(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	envTok := ts.adminToken(t)
	a := ts.createOrg(t, envTok, "A")
	// The client holds keyward:org:admin but asks for a token without it.
	id, plain := ts.createClient(t, envTok, a, map[string]any{"scopes": []string{"keyward:org:admin", "read"}})
	sid := ts.admSnapshot(t, a).Clients[0].Secrets[0].ID
	tr := ts.postToken(t, id, plain, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}})
	if tr.Status != http.StatusOK {
		t.Fatalf("token: %d %s", tr.Status, tr.Description)
	}
	tok := tr.AccessToken
	before := ts.admSnapshot(t, a)
	keysBefore := ts.do(t, "GET", "/api/v1/keys", envTok, nil)

	t.Run("every admin route", func(t *testing.T) {
		for _, rt := range admEveryAdminRoute {
			t.Run(rt.method+" "+rt.path+" is forbidden", func(t *testing.T) {
				t.Parallel()
				admWantError(t, ts.do(t, rt.method, rt.url(a, id, sid), tok, rt.body), http.StatusForbidden)
			})
		}
		t.Run("whoami still answers", func(t *testing.T) {
			t.Parallel()
			admWant(t, ts.do(t, "GET", "/api/v1/whoami", tok, nil), http.StatusOK)
		})
	})
	ts.admWantUnchanged(t, a, before)
	if n := ts.admCount(t, `SELECT count(*) FROM organizations`); n != 1 {
		t.Errorf("%d organizations, want 1", n)
	}
	if k := ts.do(t, "GET", "/api/v1/keys", envTok, nil); !bytes.Equal(k.Body, keysBefore.Body) {
		t.Errorf("keys changed from %s to %s", keysBefore.Body, k.Body)
	}
}

// external_id is unique across the environment, so an org admin may not
// choose one: a 409 would tell it which ids other organizations use.
func TestIsolationOrgAdminCannotSetExternalID(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	envTok := ts.adminToken(t)
	orgA := ts.createOrg(t, envTok, "A")
	orgB := ts.createOrg(t, envTok, "B")
	admWant(t, ts.do(t, "PATCH", "/api/v1/organizations/"+orgB, envTok, map[string]any{"external_id": "taken"}), http.StatusOK)
	_, orgTok := ts.admOrgAdmin(t, envTok, orgA)
	before := ts.admSnapshot(t, orgA)

	for _, value := range []any{"taken", "free", nil} {
		r := ts.do(t, "PATCH", "/api/v1/organizations/"+orgA, orgTok, map[string]any{"external_id": value})
		admWantError(t, r, http.StatusForbidden, "external_id")
	}
	ts.admWantUnchanged(t, orgA, before)
	admWant(t, ts.do(t, "PATCH", "/api/v1/organizations/"+orgA, orgTok, map[string]any{"display_name": "A renamed"}), http.StatusOK)
}

// An org admin's list holds its own organization, and total_size counts it
// on every page.
func TestIsolationOrgAdminListCountsItsOrganizationOnEveryPage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	envTok := ts.adminToken(t)
	orgA := ts.createOrg(t, envTok, "A")
	ts.createOrg(t, envTok, "B")
	_, orgTok := ts.admOrgAdmin(t, envTok, orgA)

	first := ts.do(t, "GET", "/api/v1/organizations", orgTok, nil)
	admWant(t, first, http.StatusOK)
	body := first.JSON(t)
	if n := len(body["organizations"].([]any)); n != 1 || body["total_size"] != float64(1) {
		t.Fatalf("first page has %d organizations, total_size %v; want 1 and 1", n, body["total_size"])
	}
	// A token from the environment admin's walk points past org A.
	all := ts.do(t, "GET", "/api/v1/organizations?page_size=1", envTok, nil).JSON(t)
	second := ts.do(t, "GET", "/api/v1/organizations?page_token="+all["next_page_token"].(string), orgTok, nil).JSON(t)
	if n := len(second["organizations"].([]any)); n != 0 || second["total_size"] != float64(1) {
		t.Fatalf("page past org A has %d organizations, total_size %v; want 0 and 1", n, second["total_size"])
	}
}
