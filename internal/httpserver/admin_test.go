package httpserver_test

// The admin API (/api/v1) through the real router and a real database:
// organizations, clients, secrets, pagination, authentication and keys.
// Org-scoped admin tokens are tested in isolation_test.go.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	admOrgID    = regexp.MustCompile(`^org_[A-Za-z0-9_-]+$`)
	admClientID = regexp.MustCompile(`^m2m_[A-Za-z0-9_-]+$`)
	admSecretID = regexp.MustCompile(`^sks_[A-Za-z0-9_-]+$`)
)

// ---- organizations ----

func TestAdminOrganizationCreate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	now := ts.Clock.Now().UTC().Format(time.RFC3339)

	tests := []struct {
		name         string
		body         map[string]any
		wantExternal any
	}{
		{"an organization with only a display name has a null external_id",
			map[string]any{"display_name": "Acme"}, nil},
		{"an organization keeps the external_id it was given",
			map[string]any{"display_name": "Acme", "external_id": "crm-42"}, "crm-42"},
		{"an explicit null external_id is stored as null",
			map[string]any{"display_name": "Acme", "external_id": nil}, nil},
		{"a display name of 256 characters is accepted however many bytes it takes",
			map[string]any{"display_name": strings.Repeat("é", 256)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := ts.do(t, "POST", "/api/v1/organizations", tok, tt.body)
			admWant(t, r, http.StatusCreated)
			o := admObject(t, r, "organization")
			var keys []string
			for k := range o {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if want := []string{"create_time", "display_name", "external_id", "id", "update_time"}; !slices.Equal(keys, want) {
				t.Errorf("organization fields %v, want %v", keys, want)
			}
			if id, _ := o["id"].(string); !admOrgID.MatchString(id) {
				t.Errorf("id %q is not org_ followed by URL-safe characters", id)
			}
			if o["display_name"] != tt.body["display_name"] {
				t.Errorf("display_name %v, want %v", o["display_name"], tt.body["display_name"])
			}
			if o["external_id"] != tt.wantExternal {
				t.Errorf("external_id %v, want %v", o["external_id"], tt.wantExternal)
			}
			admWantTime(t, "create_time", o["create_time"])
			admWantTime(t, "update_time", o["update_time"])
			if o["create_time"] != now || o["update_time"] != now {
				t.Errorf("create_time %v, update_time %v, want both %s", o["create_time"], o["update_time"], now)
			}

			g := ts.do(t, "GET", "/api/v1/organizations/"+o["id"].(string), tok, nil)
			admWant(t, g, http.StatusOK)
			if got := admObject(t, g, "organization"); !reflect.DeepEqual(got, o) {
				t.Errorf("GET answers %v, create answered %v", got, o)
			}
		})
	}
}

func TestAdminOrganizationCreateRejectsBadBodies(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)

	tests := []struct {
		name     string
		body     any
		mentions string
	}{
		{"a missing display_name is refused", map[string]any{"external_id": "x"}, "display_name"},
		{"an empty display_name is refused", map[string]any{"display_name": ""}, "display_name"},
		{"a blank display_name is refused", map[string]any{"display_name": "  \t "}, "display_name"},
		{"a display_name over 256 characters is refused", map[string]any{"display_name": strings.Repeat("x", 257)}, "display_name"},
		{"a null display_name is refused", map[string]any{"display_name": nil}, "display_name"},
		{"a display_name that is not a string is refused", map[string]any{"display_name": 5}, "display_name"},
		{"a display_name with control characters is refused", map[string]any{"display_name": "a\x00b"}, "display_name"},
		{"an empty external_id is refused", map[string]any{"display_name": "a", "external_id": ""}, "external_id"},
		{"an external_id that is not a string is refused", map[string]any{"display_name": "a", "external_id": 7}, "external_id"},
		{"an unknown field is refused by name", map[string]any{"display_name": "a", "colour": "red"}, "colour"},
		{"the read-only id is refused", map[string]any{"display_name": "a", "id": "org_mine"}, "id"},
		{"the read-only create_time is refused", map[string]any{"display_name": "a", "create_time": "2020-01-01T00:00:00Z"}, "create_time"},
		{"malformed JSON is refused", `{"display_name": "a",}`, ""},
		{"an unterminated object is refused", `{"display_name": "a"`, ""},
		{"a JSON array is refused", `[{"display_name": "a"}]`, ""},
		{"a JSON string is refused", `"a"`, ""},
		{"JSON null is refused", `null`, ""},
		{"an empty body is refused", ``, ""},
		{"duplicate keys are refused", `{"display_name": "a", "display_name": "b"}`, "display_name"},
		{"data after the object is refused", `{"display_name": "a"} {}`, ""},
		{"text after the object is refused", `{"display_name": "a"}x`, ""},
		{"invalid UTF-8 is refused", "{\"display_name\": \"\xff\xfe\"}", ""},
	}
	t.Run("each bad body", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				r := ts.do(t, "POST", "/api/v1/organizations", tok, tt.body)
				admWantError(t, r, http.StatusBadRequest, tt.mentions)
			})
		}
	})
	if n := ts.admCount(t, `SELECT count(*) FROM organizations`); n != 0 {
		t.Errorf("refused requests left %d organizations", n)
	}
}

func TestAdminOrganizationList(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)

	t.Run("an empty environment lists no organizations", func(t *testing.T) {
		r := ts.do(t, "GET", "/api/v1/organizations", tok, nil)
		admWant(t, r, http.StatusOK)
		m := r.JSON(t)
		if len(admList(t, r, "organizations")) != 0 || m["total_size"] != 0.0 || m["next_page_token"] != "" {
			t.Errorf("got %s, want no organizations, total_size 0 and next_page_token \"\"", r.Body)
		}
	})
	t.Run("organizations are listed in creation order with their fields", func(t *testing.T) {
		var want []map[string]any
		for _, name := range []string{"Zeta", "Alpha", "Mu"} {
			r := ts.do(t, "POST", "/api/v1/organizations", tok, map[string]any{"display_name": name})
			admWant(t, r, http.StatusCreated)
			want = append(want, admObject(t, r, "organization"))
		}
		r := ts.do(t, "GET", "/api/v1/organizations", tok, nil)
		admWant(t, r, http.StatusOK)
		if got := admList(t, r, "organizations"); !reflect.DeepEqual(got, want) {
			t.Errorf("listed %v, want %v", got, want)
		}
		if m := r.JSON(t); m["total_size"] != 3.0 || m["next_page_token"] != "" {
			t.Errorf("total_size %v, next_page_token %q; want 3 and \"\"", m["total_size"], m["next_page_token"])
		}
	})
}

func TestAdminOrganizationPatch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)

	tests := []struct {
		name  string
		patch map[string]any
		// want holds the fields expected to differ from the original
		// {"display_name": "Before", "external_id": "ext-<n>"}.
		want map[string]any
	}{
		{"a new display_name changes only the display_name",
			map[string]any{"display_name": "After"}, map[string]any{"display_name": "After"}},
		{"a new external_id changes only the external_id",
			map[string]any{"external_id": "new-ext-1"}, map[string]any{"external_id": "new-ext-1"}},
		{"a null external_id clears it",
			map[string]any{"external_id": nil}, map[string]any{"external_id": nil}},
		{"both fields change together",
			map[string]any{"display_name": "Both", "external_id": "new-ext-2"}, map[string]any{"display_name": "Both", "external_id": "new-ext-2"}},
		{"an empty object changes nothing",
			map[string]any{}, map[string]any{}},
		{"setting the external_id it already has changes nothing",
			map[string]any{"external_id": "SAME"}, map[string]any{}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ext := fmt.Sprintf("ext-%d", i)
			if tt.patch["external_id"] == "SAME" {
				tt.patch["external_id"] = ext
			}
			c := ts.do(t, "POST", "/api/v1/organizations", tok, map[string]any{"display_name": "Before", "external_id": ext})
			admWant(t, c, http.StatusCreated)
			orig := admObject(t, c, "organization")
			want := map[string]any{}
			for k, v := range orig {
				want[k] = v
			}
			for k, v := range tt.want {
				want[k] = v
			}
			path := "/api/v1/organizations/" + orig["id"].(string)

			r := ts.do(t, "PATCH", path, tok, tt.patch)
			admWant(t, r, http.StatusOK)
			got := admObject(t, r, "organization")
			for _, k := range []string{"id", "display_name", "external_id", "create_time"} {
				if got[k] != want[k] {
					t.Errorf("%s = %v after PATCH, want %v", k, got[k], want[k])
				}
			}
			g := ts.do(t, "GET", path, tok, nil)
			admWant(t, g, http.StatusOK)
			if stored := admObject(t, g, "organization"); !reflect.DeepEqual(stored, got) {
				t.Errorf("GET answers %v, PATCH answered %v", stored, got)
			}
		})
	}
}

func TestAdminOrganizationPatchSetsUpdateTime(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	c := ts.do(t, "POST", "/api/v1/organizations", tok, map[string]any{"display_name": "Before"})
	admWant(t, c, http.StatusCreated)
	orig := admObject(t, c, "organization")

	ts.Clock.Advance(90 * time.Second)
	r := ts.do(t, "PATCH", "/api/v1/organizations/"+orig["id"].(string), tok, map[string]any{"display_name": "After"})
	admWant(t, r, http.StatusOK)
	got := admObject(t, r, "organization")
	if got["create_time"] != orig["create_time"] {
		t.Errorf("create_time moved from %v to %v", orig["create_time"], got["create_time"])
	}
	if want := ts.Clock.Now().UTC().Format(time.RFC3339); got["update_time"] != want {
		t.Errorf("update_time %v, want %s", got["update_time"], want)
	}
}

func TestAdminOrganizationPatchRejectsBadBodies(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	taken := ts.do(t, "POST", "/api/v1/organizations", tok, map[string]any{"display_name": "Other", "external_id": "taken"})
	admWant(t, taken, http.StatusCreated)
	c := ts.do(t, "POST", "/api/v1/organizations", tok, map[string]any{"display_name": "Mine", "external_id": "mine"})
	admWant(t, c, http.StatusCreated)
	orig := admObject(t, c, "organization")
	path := "/api/v1/organizations/" + orig["id"].(string)

	tests := []struct {
		name     string
		body     any
		status   int
		mentions string
	}{
		{"an unknown field is refused by name", map[string]any{"display_name": "x", "colour": "red"}, 400, "colour"},
		{"the read-only id is refused", map[string]any{"id": "org_other"}, 400, "id"},
		{"the read-only create_time is refused", map[string]any{"create_time": "2020-01-01T00:00:00Z"}, 400, "create_time"},
		{"the read-only update_time is refused", map[string]any{"update_time": "2020-01-01T00:00:00Z"}, 400, "update_time"},
		{"an empty display_name is refused", map[string]any{"display_name": ""}, 400, "display_name"},
		{"a blank display_name is refused", map[string]any{"display_name": "   "}, 400, "display_name"},
		{"a display_name over 256 characters is refused", map[string]any{"display_name": strings.Repeat("é", 257)}, 400, "display_name"},
		{"a null display_name is refused", map[string]any{"display_name": nil}, 400, "display_name"},
		{"an external_id that is not a string is refused", map[string]any{"external_id": []string{"a"}}, 400, "external_id"},
		{"an empty external_id is refused", map[string]any{"external_id": ""}, 400, "external_id"},
		{"an external_id another organization has is a conflict", map[string]any{"external_id": "taken"}, 409, "external_id"},
		{"a valid field next to an invalid one changes nothing", map[string]any{"display_name": "New", "external_id": ""}, 400, "external_id"},
		{"malformed JSON is refused", `{"display_name": }`, 400, ""},
		{"a non-object is refused", `["display_name"]`, 400, ""},
		{"an empty body is refused", ``, 400, ""},
		{"duplicate keys are refused", `{"display_name": "a", "display_name": "b"}`, 400, "display_name"},
		{"data after the object is refused", `{"display_name": "a"}{}`, 400, ""},
	}
	t.Run("each bad body", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				r := ts.do(t, "PATCH", path, tok, tt.body)
				admWantError(t, r, tt.status, tt.mentions)
			})
		}
	})
	g := ts.do(t, "GET", path, tok, nil)
	admWant(t, g, http.StatusOK)
	if got := admObject(t, g, "organization"); !reflect.DeepEqual(got, orig) {
		t.Errorf("refused PATCHes changed the organization from %v to %v", orig, got)
	}
}

func TestAdminOrganizationExternalIDIsUnique(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	first := ts.do(t, "POST", "/api/v1/organizations", tok, map[string]any{"display_name": "First", "external_id": "crm-1"})
	admWant(t, first, http.StatusCreated)
	firstID := admObject(t, first, "organization")["id"].(string)
	second := ts.createOrg(t, tok, "Second")

	t.Run("creating a second organization with a taken external_id is a conflict", func(t *testing.T) {
		r := ts.do(t, "POST", "/api/v1/organizations", tok, map[string]any{"display_name": "Dup", "external_id": "crm-1"})
		admWantError(t, r, http.StatusConflict, "external_id")
	})
	t.Run("patching another organization to a taken external_id is a conflict", func(t *testing.T) {
		r := ts.do(t, "PATCH", "/api/v1/organizations/"+second, tok, map[string]any{"external_id": "crm-1"})
		admWantError(t, r, http.StatusConflict, "external_id")
	})
	t.Run("an external_id freed by clearing it may be taken", func(t *testing.T) {
		admWant(t, ts.do(t, "PATCH", "/api/v1/organizations/"+firstID, tok, map[string]any{"external_id": nil}), http.StatusOK)
		admWant(t, ts.do(t, "PATCH", "/api/v1/organizations/"+second, tok, map[string]any{"external_id": "crm-1"}), http.StatusOK)
	})
	t.Run("several organizations may have no external_id", func(t *testing.T) {
		for range 2 {
			admWant(t, ts.do(t, "POST", "/api/v1/organizations", tok, map[string]any{"display_name": "None", "external_id": nil}), http.StatusCreated)
		}
	})
}

func TestAdminOrganizationDelete(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Doomed")
	kept := ts.createOrg(t, tok, "Kept")
	path := "/api/v1/organizations/" + org

	r := ts.do(t, "DELETE", path, tok, nil)
	admWant(t, r, http.StatusNoContent)
	if len(r.Body) != 0 {
		t.Errorf("204 answer has a body: %q", r.Body)
	}

	gone := []struct {
		name, method, path string
		body               any
	}{
		{"getting it again is not found", "GET", path, nil},
		{"deleting it again is not found", "DELETE", path, nil},
		{"patching it is not found", "PATCH", path, map[string]any{"display_name": "Back"}},
		{"listing its clients is not found", "GET", path + "/clients", nil},
		{"creating a client in it is not found", "POST", path + "/clients", map[string]any{"name": "late"}},
	}
	for _, tt := range gone {
		t.Run(tt.name, func(t *testing.T) {
			admWantError(t, ts.do(t, tt.method, tt.path, tok, tt.body), http.StatusNotFound)
		})
	}
	t.Run("the list no longer holds it", func(t *testing.T) {
		l := ts.do(t, "GET", "/api/v1/organizations", tok, nil)
		admWant(t, l, http.StatusOK)
		orgs := admList(t, l, "organizations")
		if len(orgs) != 1 || orgs[0]["id"] != kept || l.JSON(t)["total_size"] != 1.0 {
			t.Errorf("list after delete: %s, want only %s", l.Body, kept)
		}
	})
}

func TestAdminOrganizationDeleteCascades(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	doomed := ts.createOrg(t, tok, "Doomed")
	kept := ts.createOrg(t, tok, "Kept")

	type cred struct{ id, plain string }
	c1, p1 := ts.createClient(t, tok, doomed, map[string]any{"name": "one"})
	_, p1b := ts.admAddSecret(t, tok, doomed, c1)
	c2, p2 := ts.createClient(t, tok, doomed, map[string]any{"name": "two", "scopes": []string{"read"}})
	adminID, adminTok := ts.admOrgAdmin(t, tok, doomed)
	doomedCreds := []cred{{c1, p1}, {c1, p1b}, {c2, p2}}
	k, pk := ts.createClient(t, tok, kept, map[string]any{"name": "kept"})
	for _, c := range append(doomedCreds, cred{k, pk}) {
		ts.token(t, c.id, c.plain)
	}
	doomedClients := []string{c1, c2, adminID}

	admWant(t, ts.do(t, "DELETE", "/api/v1/organizations/"+doomed, tok, nil), http.StatusNoContent)

	t.Run("its clients are gone from the database", func(t *testing.T) {
		if n := ts.admCount(t, `SELECT count(*) FROM clients WHERE id = ANY($1) OR organization_id = $2`, doomedClients, doomed); n != 0 {
			t.Errorf("%d clients of the deleted organization remain", n)
		}
	})
	t.Run("its clients' secrets are gone from the database", func(t *testing.T) {
		if n := ts.admCount(t, `SELECT count(*) FROM client_secrets WHERE client_id = ANY($1)`, doomedClients); n != 0 {
			t.Errorf("%d secrets of the deleted organization's clients remain", n)
		}
	})
	t.Run("its clients' credentials no longer get tokens", func(t *testing.T) {
		for _, c := range doomedCreds {
			tr := ts.postToken(t, c.id, c.plain, url.Values{"grant_type": {"client_credentials"}})
			if tr.Status != http.StatusUnauthorized || tr.Error != "invalid_client" {
				t.Errorf("token for deleted client %s: %d %s, want 401 invalid_client", c.id, tr.Status, tr.Error)
			}
		}
	})
	t.Run("its org admin's token no longer opens the admin API", func(t *testing.T) {
		admWantError(t, ts.do(t, "GET", "/api/v1/organizations", adminTok, nil), http.StatusUnauthorized)
	})
	t.Run("its clients are not found under its path", func(t *testing.T) {
		admWantError(t, ts.do(t, "GET", "/api/v1/organizations/"+doomed+"/clients/"+c1, tok, nil), http.StatusNotFound)
	})
	t.Run("another organization's clients are untouched", func(t *testing.T) {
		ts.token(t, k, pk)
		if n := ts.admCount(t, `SELECT count(*) FROM client_secrets WHERE client_id = $1`, k); n != 1 {
			t.Errorf("the kept client has %d secrets, want 1", n)
		}
	})
}

// ---- clients ----

func TestAdminClientCreate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")
	now := ts.Clock.Now().UTC().Format(time.RFC3339)

	tests := []struct {
		name string
		body map[string]any
		want map[string]any // the fields of the answer's client
	}{
		{"a client with only a name gets the defaults",
			map[string]any{"name": "minimal"},
			map[string]any{"name": "minimal", "description": "", "scopes": []any{}, "audience": []any{},
				"custom_claims": []any{}, "expiry": 3600.0}},
		{"a client keeps every field it was given",
			map[string]any{"name": "deployer", "description": "deploys things", "scopes": []string{"deploy:applications", "read"},
				"audience":      []string{"deployment-api.acmecorp.com", "https://api.acme.test/"},
				"custom_claims": []map[string]string{{"key": "environment", "value": "production_us"}, {"key": "_tier", "value": ""}},
				"expiry":        900},
			map[string]any{"name": "deployer", "description": "deploys things", "scopes": []any{"deploy:applications", "read"},
				"audience":      []any{"deployment-api.acmecorp.com", "https://api.acme.test/"},
				"custom_claims": []any{map[string]any{"key": "environment", "value": "production_us"}, map[string]any{"key": "_tier", "value": ""}},
				"expiry":        900.0}},
		{"the boundaries of every field are accepted",
			map[string]any{"name": strings.Repeat("ñ", 256), "description": strings.Repeat("d", 1024),
				"scopes":        []string{"!#$%&'()*+,-./:;<=>?@[]^_`{|}~"},
				"audience":      admSeq("aud-", 20),
				"custom_claims": []map[string]string{{"key": "k" + strings.Repeat("a", 63), "value": strings.Repeat("v", 1024)}, {"key": "a.b:c-d_e", "value": "x"}},
				"expiry":        60},
			map[string]any{"name": strings.Repeat("ñ", 256), "description": strings.Repeat("d", 1024),
				"scopes":        []any{"!#$%&'()*+,-./:;<=>?@[]^_`{|}~"},
				"audience":      admAnySeq("aud-", 20),
				"custom_claims": []any{map[string]any{"key": "k" + strings.Repeat("a", 63), "value": strings.Repeat("v", 1024)}, map[string]any{"key": "a.b:c-d_e", "value": "x"}},
				"expiry":        60.0}},
		{"the server's maximum expiry is accepted",
			map[string]any{"name": "long", "expiry": testMaxExpiry},
			map[string]any{"name": "long", "expiry": float64(testMaxExpiry)}},
		{"a null description is the empty description",
			map[string]any{"name": "n", "description": nil},
			map[string]any{"description": ""}},
		{"an environment admin may register keyward's scopes",
			map[string]any{"name": "admins", "scopes": []string{"keyward:admin", "keyward:org:admin"}},
			map[string]any{"scopes": []any{"keyward:admin", "keyward:org:admin"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := ts.do(t, "POST", "/api/v1/organizations/"+org+"/clients", tok, tt.body)
			admWant(t, r, http.StatusCreated)
			if keys := r.JSON(t); len(keys) != 2 {
				t.Errorf("answer has fields %v, want client and plain_secret", keys)
			}
			c := admObject(t, r, "client")
			plain, _ := r.JSON(t)["plain_secret"].(string)

			for k, v := range tt.want {
				if !reflect.DeepEqual(c[k], v) {
					t.Errorf("%s = %#v, want %#v", k, c[k], v)
				}
			}
			id, _ := c["client_id"].(string)
			if !admClientID.MatchString(id) {
				t.Errorf("client_id %q is not m2m_ followed by URL-safe characters", id)
			}
			if c["organization_id"] != org {
				t.Errorf("organization_id %v, want %s", c["organization_id"], org)
			}
			if c["create_time"] != now || c["update_time"] != now {
				t.Errorf("create_time %v, update_time %v, want both %s", c["create_time"], c["update_time"], now)
			}
			admWantTime(t, "create_time", c["create_time"])

			if !strings.HasPrefix(plain, "kw_sk_") || len(plain) < 6+32 {
				t.Errorf("plain_secret %q lacks the kw_sk_ prefix or is short", plain)
			}
			secrets, _ := c["secrets"].([]any)
			if len(secrets) != 1 {
				t.Fatalf("secrets = %v, want the first secret", c["secrets"])
			}
			s := secrets[0].(map[string]any)
			if sid, _ := s["id"].(string); !admSecretID.MatchString(sid) {
				t.Errorf("secret id %q is not sks_ followed by URL-safe characters", sid)
			}
			if s["secret_suffix"] != plain[len(plain)-4:] {
				t.Errorf("secret_suffix %v, want the last 4 characters of %q", s["secret_suffix"], plain)
			}
			if s["status"] != "ACTIVE" || s["last_used_time"] != nil {
				t.Errorf("first secret %v, want ACTIVE and never used", s)
			}
			if s["create_time"] != now || s["update_time"] != now {
				t.Errorf("secret times %v, %v; want %s", s["create_time"], s["update_time"], now)
			}
			for _, k := range []string{"id", "create_time", "update_time", "secret_suffix", "status", "last_used_time"} {
				if _, ok := s[k]; !ok {
					t.Errorf("secret lacks %q", k)
				}
			}

			g := ts.do(t, "GET", "/api/v1/organizations/"+org+"/clients/"+id, tok, nil)
			admWant(t, g, http.StatusOK)
			if got := admObject(t, g, "client"); !reflect.DeepEqual(got, c) {
				t.Errorf("GET answers %v, create answered %v", got, c)
			}
			ts.token(t, id, plain)
		})
	}
}

func admSeq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func admAnySeq(prefix string, n int) []any {
	out := make([]any, n)
	for i, s := range admSeq(prefix, n) {
		out[i] = s
	}
	return out
}

func TestAdminClientPlainSecretIsShownOnlyOnce(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")
	id, plain := ts.createClient(t, tok, org, map[string]any{})
	_, plain2 := ts.admAddSecret(t, tok, org, id)

	for _, path := range []string{
		"/api/v1/organizations/" + org + "/clients/" + id,
		"/api/v1/organizations/" + org + "/clients",
	} {
		r := ts.do(t, "GET", path, tok, nil)
		admWant(t, r, http.StatusOK)
		for _, p := range []string{plain, plain2} {
			if bytes.Contains(r.Body, []byte(p)) || bytes.Contains(r.Body, []byte(p[len("kw_sk_"):])) {
				t.Errorf("GET %s shows a plain secret: %s", path, r.Body)
			}
		}
		if bytes.Contains(r.Body, []byte("plain_secret")) {
			t.Errorf("GET %s has a plain_secret field: %s", path, r.Body)
		}
	}
	p := ts.do(t, "PATCH", "/api/v1/organizations/"+org+"/clients/"+id, tok, map[string]any{"name": "renamed"})
	admWant(t, p, http.StatusOK)
	if bytes.Contains(p.Body, []byte(plain)) || bytes.Contains(p.Body, []byte("plain_secret")) {
		t.Errorf("PATCH shows a plain secret: %s", p.Body)
	}
}

// admClientRejections are bodies that POST and PATCH of a client refuse,
// with the status and the field the description must name.
func admClientRejections() []struct {
	name       string
	body       any
	status     int
	mentions   string
	createOnly bool
} {
	type rejection = struct {
		name       string
		body       any
		status     int
		mentions   string
		createOnly bool
	}
	bad := func(name string, body any, mentions string) rejection {
		return rejection{name: name, body: body, status: http.StatusBadRequest, mentions: mentions}
	}
	claims := func(cc ...any) map[string]any { return map[string]any{"name": "c", "custom_claims": cc} }
	kv := func(k, v any) map[string]any { return map[string]any{"key": k, "value": v} }

	rs := []rejection{
		{name: "a missing name is refused", body: map[string]any{"description": "x"}, status: 400, mentions: "name", createOnly: true},
		bad("an empty name is refused", map[string]any{"name": ""}, "name"),
		bad("a blank name is refused", map[string]any{"name": "   "}, "name"),
		bad("a name over 256 characters is refused", map[string]any{"name": strings.Repeat("n", 257)}, "name"),
		bad("a null name is refused", map[string]any{"name": nil}, "name"),
		bad("a name that is not a string is refused", map[string]any{"name": 5}, "name"),
		bad("a name with control characters is refused", map[string]any{"name": "a\x07b"}, "name"),
		bad("a description over 1024 characters is refused", map[string]any{"name": "c", "description": strings.Repeat("d", 1025)}, "description"),
		bad("a description that is not a string is refused", map[string]any{"name": "c", "description": true}, "description"),

		bad("scopes that are not an array are refused", map[string]any{"name": "c", "scopes": "read write"}, "scopes"),
		bad("null scopes are refused", map[string]any{"name": "c", "scopes": nil}, "scopes"),
		bad("a scope with a space is refused", map[string]any{"name": "c", "scopes": []string{"read write"}}, "scopes[0]"),
		bad("a scope with a double quote is refused", map[string]any{"name": "c", "scopes": []string{"read", `a"b`}}, "scopes[1]"),
		bad("a scope with a backslash is refused", map[string]any{"name": "c", "scopes": []string{`a\b`}}, "scopes[0]"),
		bad("an empty scope is refused", map[string]any{"name": "c", "scopes": []string{""}}, "scopes[0]"),
		bad("a scope outside printable ASCII is refused", map[string]any{"name": "c", "scopes": []string{"lesen:é"}}, "scopes[0]"),
		bad("a scope that is not a string is refused", map[string]any{"name": "c", "scopes": []any{"a", 1}}, "scopes[1]"),
		bad("a null scope is refused", map[string]any{"name": "c", "scopes": []any{nil}}, "scopes[0]"),
		bad("a duplicate scope is refused", map[string]any{"name": "c", "scopes": []string{"read", "write", "read"}}, "scopes[2]"),
		bad("an unknown keyward scope is refused", map[string]any{"name": "c", "scopes": []string{"read", "keyward:xyz"}}, "scopes[1]"),
		bad("more than 100 scopes are refused", map[string]any{"name": "c", "scopes": admSeq("s", 101)}, "scopes"),

		bad("an audience that is not an array is refused", map[string]any{"name": "c", "audience": "api"}, "audience"),
		bad("more than 20 audiences are refused", map[string]any{"name": "c", "audience": admSeq("aud-", 21)}, "audience"),
		bad("a duplicate audience is refused", map[string]any{"name": "c", "audience": []string{"a", "b", "a"}}, "audience[2]"),
		bad("an empty audience is refused", map[string]any{"name": "c", "audience": []string{"a", ""}}, "audience[1]"),
		bad("an audience with a space is refused", map[string]any{"name": "c", "audience": []string{"my api"}}, "audience[0]"),
		bad("an audience with a tab is refused", map[string]any{"name": "c", "audience": []string{"my\tapi"}}, "audience[0]"),
		bad("a blank audience is refused", map[string]any{"name": "c", "audience": []string{" "}}, "audience[0]"),
		bad("an audience that is not a string is refused", map[string]any{"name": "c", "audience": []any{3}}, "audience[0]"),

		bad("custom_claims that are not an array are refused", map[string]any{"name": "c", "custom_claims": map[string]string{"env": "prod"}}, "custom_claims"),
		bad("null custom_claims are refused", map[string]any{"name": "c", "custom_claims": nil}, "custom_claims"),
		bad("a custom claim that is not an object is refused", claims("env=prod"), "custom_claims[0]"),
		bad("a custom claim without a key is refused", claims(map[string]any{"value": "prod"}), "custom_claims[0]"),
		bad("a custom claim without a value is refused", claims(kv("env", "prod"), map[string]any{"key": "tier"}), "custom_claims[1]"),
		bad("a custom claim with an extra field is refused", claims(map[string]any{"key": "env", "value": "prod", "extra": "x"}), "custom_claims[0]"),
		bad("a custom claim key that is not a string is refused", claims(kv(5, "prod")), "custom_claims[0].key"),
		bad("a number as a custom claim value is refused", claims(kv("env", 1)), "custom_claims[0].value"),
		bad("a boolean as a custom claim value is refused", claims(kv("env", true)), "custom_claims[0].value"),
		bad("null as a custom claim value is refused", claims(kv("env", nil)), "custom_claims[0].value"),
		bad("an object as a custom claim value is refused", claims(kv("env", map[string]any{"a": "b"})), "custom_claims[0].value"),
		bad("an array as a custom claim value is refused", claims(kv("env", []string{"a"})), "custom_claims[0].value"),
		bad("a custom claim value over 1024 characters is refused", claims(kv("env", strings.Repeat("v", 1025))), "custom_claims[0].value"),
		bad("a duplicate custom claim key is refused", claims(kv("env", "a"), kv("tier", "b"), kv("env", "c")), "custom_claims[2].key"),
		bad("more than 20 custom claims are refused", map[string]any{"name": "c", "custom_claims": admClaimList(21)}, "custom_claims"),

		bad("an expiry under 60 seconds is refused", map[string]any{"name": "c", "expiry": 59}, "expiry"),
		bad("a zero expiry is refused", map[string]any{"name": "c", "expiry": 0}, "expiry"),
		bad("a negative expiry is refused", map[string]any{"name": "c", "expiry": -3600}, "expiry"),
		bad("an expiry over the server's maximum is refused", map[string]any{"name": "c", "expiry": testMaxExpiry + 1}, "expiry"),
		bad("a huge expiry is refused", map[string]any{"name": "c", "expiry": 1e12}, "expiry"),
		bad("a fractional expiry is refused", map[string]any{"name": "c", "expiry": 3600.5}, "expiry"),
		bad("an expiry given as a string is refused", map[string]any{"name": "c", "expiry": "3600"}, "expiry"),
		bad("a null expiry is refused", map[string]any{"name": "c", "expiry": nil}, "expiry"),
		bad("a boolean expiry is refused", map[string]any{"name": "c", "expiry": true}, "expiry"),

		bad("an unknown field is refused by name", map[string]any{"name": "c", "colour": "red"}, "colour"),
		bad("the read-only client_id is refused", map[string]any{"name": "c", "client_id": "m2m_mine"}, "client_id"),
		bad("the read-only organization_id is refused", map[string]any{"name": "c", "organization_id": "org_other"}, "organization_id"),
		bad("the read-only secrets are refused", map[string]any{"name": "c", "secrets": []any{}}, "secrets"),
		bad("the read-only create_time is refused", map[string]any{"name": "c", "create_time": "2020-01-01T00:00:00Z"}, "create_time"),
		bad("a plain_secret chosen by the caller is refused", map[string]any{"name": "c", "plain_secret": "kw_sk_mine"}, "plain_secret"),

		bad("malformed JSON is refused", `{"name": "c",}`, ""),
		bad("an unterminated object is refused", `{"name": "c"`, ""),
		bad("a JSON array is refused", `[]`, ""),
		bad("a JSON number is refused", `42`, ""),
		bad("JSON null is refused", `null`, ""),
		bad("an empty body is refused", ``, ""),
		bad("duplicate keys are refused", `{"name": "a", "name": "b"}`, "name"),
		bad("duplicate keys inside a custom claim are refused", `{"name": "a", "custom_claims": [{"key": "env", "key": "tier", "value": "x"}]}`, "key"),
		bad("data after the object is refused", `{"name": "a"} {"name": "b"}`, ""),
		bad("text after the object is refused", `{"name": "a"} trailing`, ""),
	}
	reserved := []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scope", "org_id", "cnf", "act", "azp"}
	for _, k := range reserved {
		rs = append(rs, bad("the reserved claim "+k+" is refused as a custom claim key", claims(kv("ok", "x"), kv(k, "x")), "custom_claims[1].key"))
	}
	for _, k := range []string{"", "1abc", "a b", "a/b", "é", "k" + strings.Repeat("a", 64), "-x"} {
		rs = append(rs, bad(fmt.Sprintf("the claim name %q is refused", k), claims(kv(k, "x")), "custom_claims[0].key"))
	}
	return rs
}

func admClaimList(n int) []map[string]string {
	out := make([]map[string]string, n)
	for i := range out {
		out[i] = map[string]string{"key": fmt.Sprintf("c%d", i), "value": "v"}
	}
	return out
}

func TestAdminClientCreateRejectsBadBodies(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")

	t.Run("each bad body", func(t *testing.T) {
		for _, tt := range admClientRejections() {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				r := ts.do(t, "POST", "/api/v1/organizations/"+org+"/clients", tok, tt.body)
				admWantError(t, r, tt.status, tt.mentions)
			})
		}
	})
	if n := ts.admCount(t, `SELECT count(*) FROM clients WHERE organization_id = $1`, org); n != 0 {
		t.Errorf("refused requests left %d clients", n)
	}
}

func TestAdminClientPatchRejectsBadBodies(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")
	orig, _ := ts.admNewClient(t, tok, org, map[string]any{"name": "orig", "description": "d", "scopes": []string{"read"},
		"audience": []string{"api"}, "custom_claims": []map[string]string{{"key": "env", "value": "prod"}}, "expiry": 600})
	path := "/api/v1/organizations/" + org + "/clients/" + orig["client_id"].(string)

	t.Run("each bad body", func(t *testing.T) {
		for _, tt := range admClientRejections() {
			if tt.createOnly {
				continue
			}
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				r := ts.do(t, "PATCH", path, tok, tt.body)
				admWantError(t, r, tt.status, tt.mentions)
			})
		}
	})
	g := ts.do(t, "GET", path, tok, nil)
	admWant(t, g, http.StatusOK)
	if got := admObject(t, g, "client"); !reflect.DeepEqual(got, orig) {
		t.Errorf("refused PATCHes changed the client from %v to %v", orig, got)
	}
}

func TestAdminClientPatch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")
	start := map[string]any{"name": "orig", "description": "original", "scopes": []string{"read", "write"},
		"audience": []string{"api-1", "api-2"}, "custom_claims": []map[string]string{{"key": "env", "value": "prod"}}, "expiry": 600}

	tests := []struct {
		name  string
		patch any
		want  map[string]any // fields expected to differ from start
	}{
		{"a name changes only the name", map[string]any{"name": "renamed"}, map[string]any{"name": "renamed"}},
		{"a description changes only the description", map[string]any{"description": "new"}, map[string]any{"description": "new"}},
		{"a null description clears the description", map[string]any{"description": nil}, map[string]any{"description": ""}},
		{"scopes are replaced as a whole", map[string]any{"scopes": []string{"admin:read"}}, map[string]any{"scopes": []any{"admin:read"}}},
		{"empty scopes clear the scopes", map[string]any{"scopes": []string{}}, map[string]any{"scopes": []any{}}},
		{"an audience is replaced as a whole", map[string]any{"audience": []string{"api-3"}}, map[string]any{"audience": []any{"api-3"}}},
		{"custom claims are replaced as a whole", map[string]any{"custom_claims": []map[string]string{{"key": "tier", "value": "gold"}}},
			map[string]any{"custom_claims": []any{map[string]any{"key": "tier", "value": "gold"}}}},
		{"empty custom claims clear them", map[string]any{"custom_claims": []any{}}, map[string]any{"custom_claims": []any{}}},
		{"an expiry changes only the expiry", map[string]any{"expiry": 7200}, map[string]any{"expiry": 7200.0}},
		{"every field changes together", map[string]any{"name": "all", "description": "all", "scopes": []string{"x"},
			"audience": []string{}, "custom_claims": []any{}, "expiry": 60},
			map[string]any{"name": "all", "description": "all", "scopes": []any{"x"}, "audience": []any{}, "custom_claims": []any{}, "expiry": 60.0}},
		{"an empty object changes nothing", map[string]any{}, map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := map[string]any{}
			for k, v := range start {
				body[k] = v
			}
			orig, _ := ts.admNewClient(t, tok, org, body)
			want := map[string]any{}
			for k, v := range orig {
				want[k] = v
			}
			for k, v := range tt.want {
				want[k] = v
			}
			path := "/api/v1/organizations/" + org + "/clients/" + orig["client_id"].(string)

			r := ts.do(t, "PATCH", path, tok, tt.patch)
			admWant(t, r, http.StatusOK)
			got := admObject(t, r, "client")
			for k := range want {
				if k == "update_time" {
					continue
				}
				if !reflect.DeepEqual(got[k], want[k]) {
					t.Errorf("%s = %#v after PATCH, want %#v", k, got[k], want[k])
				}
			}
			g := ts.do(t, "GET", path, tok, nil)
			admWant(t, g, http.StatusOK)
			if stored := admObject(t, g, "client"); !reflect.DeepEqual(stored, got) {
				t.Errorf("GET answers %v, PATCH answered %v", stored, got)
			}
		})
	}
}

func TestAdminClientPatchTakesEffect(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")
	c, plain := ts.admNewClient(t, tok, org, map[string]any{"scopes": []string{"read"}})
	id := c["client_id"].(string)

	ts.Clock.Advance(2 * time.Minute)
	r := ts.do(t, "PATCH", "/api/v1/organizations/"+org+"/clients/"+id, tok,
		map[string]any{"scopes": []string{"read", "write"}, "expiry": 120, "custom_claims": []map[string]string{{"key": "tier", "value": "gold"}}})
	admWant(t, r, http.StatusOK)
	got := admObject(t, r, "client")
	if got["create_time"] != c["create_time"] {
		t.Errorf("create_time moved from %v to %v", c["create_time"], got["create_time"])
	}
	if want := ts.Clock.Now().UTC().Format(time.RFC3339); got["update_time"] != want {
		t.Errorf("update_time %v, want %s", got["update_time"], want)
	}

	tr := ts.postToken(t, id, plain, url.Values{"grant_type": {"client_credentials"}})
	if tr.Status != http.StatusOK || tr.ExpiresIn != 120 || tr.Scope != "read write" {
		t.Fatalf("token after PATCH: %d expires_in %d scope %q, want 200, 120, \"read write\"", tr.Status, tr.ExpiresIn, tr.Scope)
	}
	if claims, _ := admClaims(t, tr.AccessToken); claims["tier"] != "gold" {
		t.Errorf("token claims %v lack the new custom claim tier=gold", claims)
	}
}

func TestAdminClientDelete(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")
	id, plain := ts.createClient(t, tok, org, map[string]any{})
	sid, plain2 := ts.admAddSecret(t, tok, org, id)
	other, otherPlain := ts.createClient(t, tok, org, map[string]any{"name": "other"})
	path := "/api/v1/organizations/" + org + "/clients/" + id

	r := ts.do(t, "DELETE", path, tok, nil)
	admWant(t, r, http.StatusNoContent)
	if len(r.Body) != 0 {
		t.Errorf("204 answer has a body: %q", r.Body)
	}

	gone := []struct {
		name, method, path string
		body               any
	}{
		{"getting it again is not found", "GET", path, nil},
		{"deleting it again is not found", "DELETE", path, nil},
		{"patching it is not found", "PATCH", path, map[string]any{"name": "back"}},
		{"adding a secret to it is not found", "POST", path + "/secrets", nil},
		{"patching its secret is not found", "PATCH", path + "/secrets/" + sid, map[string]any{"status": "INACTIVE"}},
		{"deleting its secret is not found", "DELETE", path + "/secrets/" + sid, nil},
	}
	for _, tt := range gone {
		t.Run(tt.name, func(t *testing.T) {
			admWantError(t, ts.do(t, tt.method, tt.path, tok, tt.body), http.StatusNotFound)
		})
	}
	t.Run("its secrets are gone from the database", func(t *testing.T) {
		if n := ts.admCount(t, `SELECT count(*) FROM client_secrets WHERE client_id = $1`, id); n != 0 {
			t.Errorf("%d secrets of the deleted client remain", n)
		}
	})
	t.Run("none of its secrets gets a token", func(t *testing.T) {
		for _, p := range []string{plain, plain2} {
			tr := ts.postToken(t, id, p, url.Values{"grant_type": {"client_credentials"}})
			if tr.Status != http.StatusUnauthorized || tr.Error != "invalid_client" {
				t.Errorf("token for the deleted client: %d %s, want 401 invalid_client", tr.Status, tr.Error)
			}
		}
	})
	t.Run("the list holds only the other client", func(t *testing.T) {
		l := ts.do(t, "GET", "/api/v1/organizations/"+org+"/clients", tok, nil)
		admWant(t, l, http.StatusOK)
		cs := admList(t, l, "clients")
		if len(cs) != 1 || cs[0]["client_id"] != other || l.JSON(t)["total_size"] != 1.0 {
			t.Errorf("list after delete: %s, want only %s", l.Body, other)
		}
		ts.token(t, other, otherPlain)
	})
}

func TestAdminClientNotFound(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")
	base := "/api/v1/organizations/" + org + "/clients/m2m_doesnotexist"

	tests := []struct {
		name, method, path string
		body               any
	}{
		{"getting an unknown client is not found", "GET", base, nil},
		{"patching an unknown client is not found", "PATCH", base, map[string]any{"name": "x"}},
		{"deleting an unknown client is not found", "DELETE", base, nil},
		{"adding a secret to an unknown client is not found", "POST", base + "/secrets", nil},
		{"creating a client in an unknown organization is not found", "POST", "/api/v1/organizations/org_doesnotexist/clients", map[string]any{"name": "x"}},
		{"listing the clients of an unknown organization is not found", "GET", "/api/v1/organizations/org_doesnotexist/clients", nil},
		{"getting an unknown organization is not found", "GET", "/api/v1/organizations/org_doesnotexist", nil},
		{"patching an unknown organization is not found", "PATCH", "/api/v1/organizations/org_doesnotexist", map[string]any{"display_name": "x"}},
		{"deleting an unknown organization is not found", "DELETE", "/api/v1/organizations/org_doesnotexist", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			admWantError(t, ts.do(t, tt.method, tt.path, tok, tt.body), http.StatusNotFound)
		})
	}
}

func TestAdminIDsNoRowCanHaveAreNotFound(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")
	client, _ := ts.createClient(t, tok, org, map[string]any{})
	// Postgres text holds neither NUL nor invalid UTF-8: such ids exist
	// nowhere, and looking them up must say so rather than fail.
	tests := []struct {
		name, method, path string
		body               any
	}{
		{"getting an organization whose id has a NUL is not found", "GET", "/api/v1/organizations/org_%00", nil},
		{"patching an organization whose id has a NUL is not found", "PATCH", "/api/v1/organizations/org_%00", map[string]any{}},
		{"deleting an organization whose id has a NUL is not found", "DELETE", "/api/v1/organizations/org_%00", nil},
		{"getting an organization whose id is not UTF-8 is not found", "GET", "/api/v1/organizations/org_%FF", nil},
		{"listing the clients of an organization whose id is not UTF-8 is not found", "GET", "/api/v1/organizations/org_%C3%28/clients", nil},
		{"creating a client in an organization whose id has a NUL is not found", "POST", "/api/v1/organizations/org_%00/clients", map[string]any{"name": "x"}},
		{"getting a client whose id has a NUL is not found", "GET", "/api/v1/organizations/" + org + "/clients/m2m_%00", nil},
		{"patching a client whose id has a NUL is not found", "PATCH", "/api/v1/organizations/" + org + "/clients/m2m_%00", map[string]any{}},
		{"deleting a client whose id has a NUL is not found", "DELETE", "/api/v1/organizations/" + org + "/clients/m2m_%00", nil},
		{"adding a secret to a client whose id has a NUL is not found", "POST", "/api/v1/organizations/" + org + "/clients/m2m_%00/secrets", nil},
		{"patching a secret whose id has a NUL is not found", "PATCH", "/api/v1/organizations/" + org + "/clients/" + client + "/secrets/sks_%00", map[string]any{"status": "ACTIVE"}},
		{"deleting a secret whose id is not UTF-8 is not found", "DELETE", "/api/v1/organizations/" + org + "/clients/" + client + "/secrets/sks_%FF", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			admWantError(t, ts.do(t, tt.method, tt.path, tok, tt.body), http.StatusNotFound)
		})
	}
}

// ---- secrets ----

func TestAdminSecretCreate(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")
	id, first := ts.createClient(t, tok, org, map[string]any{})
	now := ts.Clock.Now().UTC().Format(time.RFC3339)

	for _, body := range []any{nil, map[string]any{}} {
		r := ts.do(t, "POST", "/api/v1/organizations/"+org+"/clients/"+id+"/secrets", tok, body)
		admWant(t, r, http.StatusCreated)
		if m := r.JSON(t); len(m) != 2 {
			t.Errorf("answer has fields %v, want secret and plain_secret", m)
		}
		s := admObject(t, r, "secret")
		plain, _ := r.JSON(t)["plain_secret"].(string)
		if !strings.HasPrefix(plain, "kw_sk_") || plain == first {
			t.Errorf("plain_secret %q: want a new secret starting kw_sk_", plain)
		}
		if sid, _ := s["id"].(string); !admSecretID.MatchString(sid) {
			t.Errorf("secret id %q is not sks_ followed by URL-safe characters", sid)
		}
		if s["secret_suffix"] != plain[len(plain)-4:] || s["status"] != "ACTIVE" || s["last_used_time"] != nil {
			t.Errorf("secret %v: want suffix %q, ACTIVE, never used", s, plain[len(plain)-4:])
		}
		if s["create_time"] != now || s["update_time"] != now {
			t.Errorf("secret times %v, %v; want %s", s["create_time"], s["update_time"], now)
		}
	}
	g := ts.do(t, "GET", "/api/v1/organizations/"+org+"/clients/"+id, tok, nil)
	admWant(t, g, http.StatusOK)
	if n := len(admObject(t, g, "client")["secrets"].([]any)); n != 3 {
		t.Errorf("client has %d secrets, want 3", n)
	}

	t.Run("an unknown field is refused", func(t *testing.T) {
		r := ts.do(t, "POST", "/api/v1/organizations/"+org+"/clients/"+id+"/secrets", tok, map[string]any{"status": "INACTIVE"})
		admWantError(t, r, http.StatusBadRequest, "status")
	})
	t.Run("a body that is not an object is refused", func(t *testing.T) {
		r := ts.do(t, "POST", "/api/v1/organizations/"+org+"/clients/"+id+"/secrets", tok, `[]`)
		admWantError(t, r, http.StatusBadRequest)
	})
}

func TestAdminSecretsSeveralActiveAtOnce(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")
	id, p1 := ts.createClient(t, tok, org, map[string]any{})
	_, p2 := ts.admAddSecret(t, tok, org, id)
	_, p3 := ts.admAddSecret(t, tok, org, id)
	for i, p := range []string{p1, p2, p3} {
		t.Run(fmt.Sprintf("secret %d of 3 gets a token", i+1), func(t *testing.T) {
			ts.token(t, id, p)
		})
	}
}

func TestAdminSecretStatus(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")
	id, keep := ts.createClient(t, tok, org, map[string]any{})
	sid, plain := ts.admAddSecret(t, tok, org, id)
	path := "/api/v1/organizations/" + org + "/clients/" + id + "/secrets/" + sid
	form := url.Values{"grant_type": {"client_credentials"}}

	t.Run("an inactive secret gets no token", func(t *testing.T) {
		ts.Clock.Advance(time.Minute)
		r := ts.do(t, "PATCH", path, tok, map[string]any{"status": "INACTIVE"})
		admWant(t, r, http.StatusOK)
		s := admObject(t, r, "secret")
		if s["id"] != sid || s["status"] != "INACTIVE" {
			t.Errorf("answer %v, want secret %s INACTIVE", s, sid)
		}
		if want := ts.Clock.Now().UTC().Format(time.RFC3339); s["update_time"] != want {
			t.Errorf("update_time %v, want %s", s["update_time"], want)
		}
		tr := ts.postToken(t, id, plain, form)
		if tr.Status != http.StatusUnauthorized || tr.Error != "invalid_client" {
			t.Errorf("token with the inactive secret: %d %s, want 401 invalid_client", tr.Status, tr.Error)
		}
	})
	t.Run("the client's other secret still gets tokens", func(t *testing.T) {
		ts.token(t, id, keep)
	})
	t.Run("setting the status it has changes nothing", func(t *testing.T) {
		r := ts.do(t, "PATCH", path, tok, map[string]any{"status": "INACTIVE"})
		admWant(t, r, http.StatusOK)
		if s := admObject(t, r, "secret"); s["status"] != "INACTIVE" {
			t.Errorf("status %v, want INACTIVE", s["status"])
		}
	})
	t.Run("an active secret gets tokens again", func(t *testing.T) {
		r := ts.do(t, "PATCH", path, tok, map[string]any{"status": "ACTIVE"})
		admWant(t, r, http.StatusOK)
		if s := admObject(t, r, "secret"); s["status"] != "ACTIVE" {
			t.Errorf("status %v, want ACTIVE", s["status"])
		}
		ts.token(t, id, plain)
	})
	t.Run("the client shows each secret's status", func(t *testing.T) {
		admWant(t, ts.do(t, "PATCH", path, tok, map[string]any{"status": "INACTIVE"}), http.StatusOK)
		g := ts.do(t, "GET", "/api/v1/organizations/"+org+"/clients/"+id, tok, nil)
		admWant(t, g, http.StatusOK)
		statuses := map[string]any{}
		for _, s := range admObject(t, g, "client")["secrets"].([]any) {
			statuses[s.(map[string]any)["id"].(string)] = s.(map[string]any)["status"]
		}
		if len(statuses) != 2 || statuses[sid] != "INACTIVE" {
			t.Errorf("secrets %v, want two with %s INACTIVE", statuses, sid)
		}
	})

	bad := []struct {
		name     string
		body     any
		mentions string
	}{
		{"a lower-case status is refused", map[string]any{"status": "active"}, "status"},
		{"an unknown status is refused", map[string]any{"status": "REVOKED"}, "status"},
		{"an empty status is refused", map[string]any{"status": ""}, "status"},
		{"a status that is not a string is refused", map[string]any{"status": 1}, "status"},
		{"a null status is refused", map[string]any{"status": nil}, "status"},
		{"a missing status is refused", map[string]any{}, "status"},
		{"an unknown field is refused by name", map[string]any{"status": "ACTIVE", "secret_suffix": "abcd"}, "secret_suffix"},
		{"malformed JSON is refused", `{"status": ACTIVE}`, ""},
		{"an empty body is refused", ``, ""},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			admWantError(t, ts.do(t, "PATCH", path, tok, tt.body), http.StatusBadRequest, tt.mentions)
			tr := ts.postToken(t, id, plain, form)
			if tr.Status != http.StatusUnauthorized {
				t.Errorf("the refused PATCH changed the secret: it got a token")
			}
		})
	}
	t.Run("an unknown secret is not found", func(t *testing.T) {
		r := ts.do(t, "PATCH", "/api/v1/organizations/"+org+"/clients/"+id+"/secrets/sks_doesnotexist", tok, map[string]any{"status": "ACTIVE"})
		admWantError(t, r, http.StatusNotFound)
	})
}

func TestAdminSecretDelete(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")
	id, keep := ts.createClient(t, tok, org, map[string]any{})
	sid, plain := ts.admAddSecret(t, tok, org, id)
	path := "/api/v1/organizations/" + org + "/clients/" + id + "/secrets/" + sid

	r := ts.do(t, "DELETE", path, tok, nil)
	admWant(t, r, http.StatusNoContent)
	if len(r.Body) != 0 {
		t.Errorf("204 answer has a body: %q", r.Body)
	}
	t.Run("deleting it again is not found", func(t *testing.T) {
		admWantError(t, ts.do(t, "DELETE", path, tok, nil), http.StatusNotFound)
	})
	t.Run("patching it is not found", func(t *testing.T) {
		admWantError(t, ts.do(t, "PATCH", path, tok, map[string]any{"status": "ACTIVE"}), http.StatusNotFound)
	})
	t.Run("it gets no token", func(t *testing.T) {
		tr := ts.postToken(t, id, plain, url.Values{"grant_type": {"client_credentials"}})
		if tr.Status != http.StatusUnauthorized || tr.Error != "invalid_client" {
			t.Errorf("token with the deleted secret: %d %s, want 401 invalid_client", tr.Status, tr.Error)
		}
	})
	t.Run("the client keeps its other secret", func(t *testing.T) {
		g := ts.do(t, "GET", "/api/v1/organizations/"+org+"/clients/"+id, tok, nil)
		admWant(t, g, http.StatusOK)
		secrets := admObject(t, g, "client")["secrets"].([]any)
		if len(secrets) != 1 || secrets[0].(map[string]any)["id"] == sid {
			t.Errorf("secrets after delete: %v", secrets)
		}
		ts.token(t, id, keep)
	})
}

func TestAdminSecretLimit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")
	id, _ := ts.createClient(t, tok, org, map[string]any{})
	path := "/api/v1/organizations/" + org + "/clients/" + id + "/secrets"
	var last string
	for range 9 {
		last, _ = ts.admAddSecret(t, tok, org, id)
	}

	t.Run("the eleventh secret is a conflict", func(t *testing.T) {
		admWantError(t, ts.do(t, "POST", path, tok, nil), http.StatusConflict)
		if n := ts.admCount(t, `SELECT count(*) FROM client_secrets WHERE client_id = $1`, id); n != 10 {
			t.Errorf("the client holds %d secrets, want 10", n)
		}
	})
	t.Run("deleting one makes room for another", func(t *testing.T) {
		admWant(t, ts.do(t, "DELETE", path+"/"+last, tok, nil), http.StatusNoContent)
		admWant(t, ts.do(t, "POST", path, tok, nil), http.StatusCreated)
		admWantError(t, ts.do(t, "POST", path, tok, nil), http.StatusConflict)
	})
}

func TestAdminSecretLastUsedTime(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")
	id, plain := ts.createClient(t, tok, org, map[string]any{})
	unused, _ := ts.admAddSecret(t, tok, org, id)
	ctx := context.Background()

	lastUsed := func(t *testing.T) map[string]any {
		t.Helper()
		g := ts.do(t, "GET", "/api/v1/organizations/"+org+"/clients/"+id, tok, nil)
		admWant(t, g, http.StatusOK)
		out := map[string]any{}
		for _, s := range admObject(t, g, "client")["secrets"].([]any) {
			s := s.(map[string]any)
			out[s["id"].(string)] = s["last_used_time"]
		}
		return out
	}
	var used string
	for sid, lu := range lastUsed(t) {
		if lu != nil {
			t.Errorf("secret %s has last_used_time %v before any use", sid, lu)
		}
		if sid != unused {
			used = sid
		}
	}

	t.Run("a token request sets the secret's last_used_time", func(t *testing.T) {
		ts.Clock.Advance(5 * time.Minute)
		ts.token(t, id, plain)
		if err := ts.Usage.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		got := lastUsed(t)
		if want := ts.Clock.Now().UTC().Format(time.RFC3339); got[used] != want {
			t.Errorf("last_used_time %v, want %s", got[used], want)
		}
		admWantTime(t, "last_used_time", got[used])
		if got[unused] != nil {
			t.Errorf("the unused secret has last_used_time %v", got[unused])
		}
	})
	t.Run("a later use moves it forward", func(t *testing.T) {
		ts.Clock.Advance(10 * time.Minute)
		ts.token(t, id, plain)
		if err := ts.Usage.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if want := ts.Clock.Now().UTC().Format(time.RFC3339); lastUsed(t)[used] != want {
			t.Errorf("last_used_time %v, want %s", lastUsed(t)[used], want)
		}
	})
	t.Run("a failed authentication does not count as a use", func(t *testing.T) {
		before := lastUsed(t)[used]
		ts.Clock.Advance(time.Minute)
		ts.postToken(t, id, plain+"x", url.Values{"grant_type": {"client_credentials"}})
		if err := ts.Usage.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got := lastUsed(t)[used]; got != before {
			t.Errorf("last_used_time moved from %v to %v on a failed authentication", before, got)
		}
	})
}

// ---- pagination ----

// admWalk follows next_page_token through a list and returns the ids of
// every item, checking total_size on each page.
func (ts *testServer) admWalk(t *testing.T, tok, path, listKey, idKey string, pageSize, wantTotal int) []string {
	t.Helper()
	var ids []string
	pageToken := ""
	for pages := 0; ; pages++ {
		if pages > wantTotal+1 {
			t.Fatalf("more pages than items: the walk does not end")
		}
		q := url.Values{"page_size": {fmt.Sprint(pageSize)}}
		if pageToken != "" {
			q.Set("page_token", pageToken)
		}
		r := ts.do(t, "GET", path+"?"+q.Encode(), tok, nil)
		admWant(t, r, http.StatusOK)
		items := admList(t, r, listKey)
		m := r.JSON(t)
		if m["total_size"] != float64(wantTotal) {
			t.Errorf("page %d: total_size %v, want %d", pages, m["total_size"], wantTotal)
		}
		if len(items) > pageSize {
			t.Errorf("page %d has %d items, more than page_size %d", pages, len(items), pageSize)
		}
		for _, it := range items {
			ids = append(ids, it[idKey].(string))
		}
		next, ok := m["next_page_token"].(string)
		if !ok {
			t.Fatalf("page %d: next_page_token %v is not a string", pages, m["next_page_token"])
		}
		if next == "" {
			if len(ids) < wantTotal {
				t.Errorf("the walk ended after %d of %d items", len(ids), wantTotal)
			}
			return ids
		}
		if len(items) < pageSize {
			t.Errorf("page %d is short (%d of %d) yet has a next_page_token", pages, len(items), pageSize)
		}
		pageToken = next
	}
}

func TestAdminPaginationWalksEveryItemOnce(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	var orgs []string
	for i := range 7 {
		orgs = append(orgs, ts.createOrg(t, tok, fmt.Sprintf("Org %d", i)))
	}
	var clients []string
	for i := range 7 {
		id, _ := ts.createClient(t, tok, orgs[0], map[string]any{"name": fmt.Sprintf("client %d", i)})
		clients = append(clients, id)
		ts.createClient(t, tok, orgs[1], map[string]any{"name": "elsewhere"}) // interleaved, never listed
	}

	for _, size := range []int{1, 2, 3, 6, 7, 8, 500} {
		t.Run(fmt.Sprintf("pages of %d walk every organization exactly once in creation order", size), func(t *testing.T) {
			t.Parallel()
			if got := ts.admWalk(t, tok, "/api/v1/organizations", "organizations", "id", size, 7); !slices.Equal(got, orgs) {
				t.Errorf("walked %v, want %v", got, orgs)
			}
		})
		t.Run(fmt.Sprintf("pages of %d walk every client of the organization exactly once in creation order", size), func(t *testing.T) {
			t.Parallel()
			got := ts.admWalk(t, tok, "/api/v1/organizations/"+orgs[0]+"/clients", "clients", "client_id", size, 7)
			if !slices.Equal(got, clients) {
				t.Errorf("walked %v, want %v", got, clients)
			}
		})
	}
}

func TestAdminPaginationPageSize(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	// 501 organizations, straight into the database: one more than the
	// largest page.
	_, err := ts.Store.Pool().Exec(context.Background(), `
		INSERT INTO organizations (id, display_name, create_time, update_time)
		SELECT 'org_bulk' || lpad(g::text, 4, '0'), 'Bulk ' || g, now(), now() FROM generate_series(1, 501) g`)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		query    string
		wantLen  int
		wantMore bool
	}{
		{"the default page size is 50", "", 50, true},
		{"a page size of 1 is honoured", "?page_size=1", 1, true},
		{"a page size of 500 is honoured", "?page_size=500", 500, true},
		{"a page size over 500 is clamped to 500", "?page_size=501", 500, true},
		{"a huge page size is clamped to 500", "?page_size=1000000", 500, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := ts.do(t, "GET", "/api/v1/organizations"+tt.query, tok, nil)
			admWant(t, r, http.StatusOK)
			m := r.JSON(t)
			if n := len(admList(t, r, "organizations")); n != tt.wantLen {
				t.Errorf("%d organizations, want %d", n, tt.wantLen)
			}
			if m["total_size"] != 501.0 {
				t.Errorf("total_size %v, want 501", m["total_size"])
			}
			if (m["next_page_token"] != "") != tt.wantMore {
				t.Errorf("next_page_token %q, want more: %v", m["next_page_token"], tt.wantMore)
			}
		})
	}
	t.Run("the page after 500 holds the last organization and ends the list", func(t *testing.T) {
		t.Parallel()
		first := ts.do(t, "GET", "/api/v1/organizations?page_size=500", tok, nil)
		admWant(t, first, http.StatusOK)
		next := ts.do(t, "GET", "/api/v1/organizations?page_size=500&page_token="+url.QueryEscape(first.JSON(t)["next_page_token"].(string)), tok, nil)
		admWant(t, next, http.StatusOK)
		orgs := admList(t, next, "organizations")
		if len(orgs) != 1 || orgs[0]["id"] != "org_bulk0501" || next.JSON(t)["next_page_token"] != "" {
			t.Errorf("second page %s, want only org_bulk0501 and no next page", next.Body)
		}
	})
}

func TestAdminPaginationRejectsBadParameters(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	a := ts.createOrg(t, tok, "A")
	b := ts.createOrg(t, tok, "B")
	for _, org := range []string{a, a, b, b} {
		ts.createClient(t, tok, org, map[string]any{})
	}
	nextOf := func(t *testing.T, path string) string {
		t.Helper()
		r := ts.do(t, "GET", path+"?page_size=1", tok, nil)
		admWant(t, r, http.StatusOK)
		tok := r.JSON(t)["next_page_token"].(string)
		if tok == "" {
			t.Fatalf("%s has no second page", path)
		}
		return tok
	}
	orgsPath := "/api/v1/organizations"
	aPath := "/api/v1/organizations/" + a + "/clients"
	bPath := "/api/v1/organizations/" + b + "/clients"
	orgToken, aToken := nextOf(t, orgsPath), nextOf(t, aPath)

	tests := []struct {
		name, path, query, mentions string
	}{
		{"a negative page size is refused", orgsPath, "page_size=-1", "page_size"},
		{"a non-integer page size is refused", orgsPath, "page_size=ten", "page_size"},
		{"a fractional page size is refused", orgsPath, "page_size=1.5", "page_size"},
		{"a negative page size of a client list is refused", aPath, "page_size=-5", "page_size"},
		{"a non-integer page size of a client list is refused", aPath, "page_size=1e2", "page_size"},
		{"a garbage page token is refused", orgsPath, "page_token=garbage!", "page_token"},
		{"a base64 page token of no list is refused", orgsPath, "page_token=" + base64.RawURLEncoding.EncodeToString([]byte("hello")), "page_token"},
		{"a garbage page token of a client list is refused", aPath, "page_token=%00%01", "page_token"},
		{"an organization list's token is refused by a client list", aPath, "page_token=" + url.QueryEscape(orgToken), "page_token"},
		{"a client list's token is refused by the organization list", orgsPath, "page_token=" + url.QueryEscape(aToken), "page_token"},
		{"one organization's client token is refused by another's list", bPath, "page_token=" + url.QueryEscape(aToken), "page_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			admWantError(t, ts.do(t, "GET", tt.path+"?"+tt.query, tok, nil), http.StatusBadRequest, tt.mentions)
		})
	}
}

// ---- authentication ----

func TestAdminAuthenticationRefusesBadTokens(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	adminID, adminPlain := ts.envAdmin(t)
	good := ts.token(t, adminID, adminPlain)
	now := ts.Clock.Now()
	claims := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": ts.URL, "sub": adminID, "client_id": adminID, "aud": ts.URL, "scope": "keyward:admin",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "j1"}
		if change != nil {
			change(c)
		}
		return c
	}
	// serverSigned signs claims with the server's own active key, as if it
	// had issued them.
	serverSigned := func(t *testing.T, c jwt.MapClaims) string {
		t.Helper()
		payload, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ts.Keys.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
	hs.Header["kid"], hs.Header["typ"] = ts.Keys.ActiveKID(), "at+jwt"
	hsSigned, err := hs.SignedString([]byte("a guessed shared secret of some length"))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"`+adminID+`","scope":"keyward:admin"}`)) + "." + parts[2]
	orphan, orphanPlain := ts.envAdmin(t)
	orphanTok := ts.token(t, orphan, orphanPlain)
	if _, err := ts.Store.Pool().Exec(context.Background(), `DELETE FROM clients WHERE id = $1`, orphan); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		header string // the Authorization header; "" sends none
	}{
		{"a request without Authorization is refused", ""},
		{"Basic credentials are refused", "Basic " + base64.StdEncoding.EncodeToString([]byte(adminID+":"+adminPlain))},
		{"a Bearer scheme without a token is refused", "Bearer"},
		{"a Bearer scheme with an empty token is refused", "Bearer  "},
		{"a token that is not a JWT is refused", "Bearer not-a-token"},
		{"a token with garbage segments is refused", "Bearer a.b.c"},
		{"the client secret as a bearer token is refused", "Bearer " + adminPlain},
		{"a token with a tampered payload is refused", "Bearer " + tampered},
		{"a token signed by a foreign key under the server's kid is refused",
			"Bearer " + admForeignToken(t, ts.Keys.ActiveKID(), claims(nil))},
		{"a token signed by a foreign key under an unknown kid is refused",
			"Bearer " + admForeignToken(t, "not-a-kid-of-this-server", claims(nil))},
		{"an unsigned token (alg none) is refused", "Bearer " + none},
		{"an HS256 token under the server's kid is refused", "Bearer " + hsSigned},
		{"an expired token is refused", "Bearer " + serverSigned(t, claims(func(c jwt.MapClaims) {
			c["iat"], c["nbf"], c["exp"] = now.Add(-3*time.Hour).Unix(), now.Add(-3*time.Hour).Unix(), now.Add(-2*time.Hour).Unix()
		}))},
		{"a token not valid yet is refused", "Bearer " + serverSigned(t, claims(func(c jwt.MapClaims) {
			c["nbf"] = now.Add(time.Hour).Unix()
		}))},
		{"a token without exp is refused", "Bearer " + serverSigned(t, claims(func(c jwt.MapClaims) { delete(c, "exp") }))},
		{"a token of another issuer is refused", "Bearer " + serverSigned(t, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }))},
		{"a token without a subject is refused", "Bearer " + serverSigned(t, claims(func(c jwt.MapClaims) { delete(c, "sub") }))},
		{"a token of an unknown client is refused", "Bearer " + serverSigned(t, claims(func(c jwt.MapClaims) { c["sub"] = "m2m_doesnotexist" }))},
		{"a token of a deleted client is refused", "Bearer " + orphanTok},
	}
	t.Run("the genuine token is accepted", func(t *testing.T) {
		admWant(t, ts.do(t, "GET", "/api/v1/organizations", good, nil), http.StatusOK)
	})
	t.Run("each bad token", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				h := http.Header{}
				if tt.header != "" {
					h.Set("Authorization", tt.header)
				}
				for _, path := range []string{"/api/v1/organizations", "/api/v1/whoami", "/api/v1/keys"} {
					r := ts.admRequest(t, "GET", path, h, nil)
					admWantError(t, r, http.StatusUnauthorized)
					if wa := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, "Bearer ") {
						t.Errorf("GET %s: WWW-Authenticate %q, want a Bearer challenge", path, wa)
					}
				}
			})
		}
	})
	t.Run("a token is refused once the clock passes its expiry", func(t *testing.T) {
		// Last: it moves the server's clock, after the parallel group is done.
		ts.Clock.Advance(3 * time.Hour)
		admWantError(t, ts.do(t, "GET", "/api/v1/organizations", good, nil), http.StatusUnauthorized)
	})
}

func TestAdminAuthenticationOfDeletedClient(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")
	id, orgTok := ts.admOrgAdmin(t, tok, org)
	admWant(t, ts.do(t, "GET", "/api/v1/organizations", orgTok, nil), http.StatusOK)

	admWant(t, ts.do(t, "DELETE", "/api/v1/organizations/"+org+"/clients/"+id, tok, nil), http.StatusNoContent)
	for _, path := range []string{"/api/v1/organizations", "/api/v1/whoami"} {
		r := ts.do(t, "GET", path, orgTok, nil)
		admWantError(t, r, http.StatusUnauthorized)
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("GET %s: WWW-Authenticate %q, want a Bearer challenge", path, r.Header.Get("WWW-Authenticate"))
		}
	}
}

func TestAdminAuthenticationScopes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	envTok := ts.adminToken(t)
	org := ts.createOrg(t, envTok, "Acme")

	tests := []struct {
		name   string
		scopes []string
		ask    string // the scope parameter of the token request; "" for all
	}{
		{"a token with ordinary scopes is forbidden the admin API", []string{"read", "write"}, ""},
		{"a token without scopes is forbidden the admin API", []string{}, ""},
		{"an org admin client's token issued without its admin scope is forbidden", []string{"keyward:org:admin", "read"}, "read"},
		{"an environment admin client's token issued without its admin scope is forbidden", []string{"keyward:admin", "read"}, "read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, plain := ts.createClient(t, envTok, org, map[string]any{"scopes": tt.scopes})
			form := url.Values{"grant_type": {"client_credentials"}}
			if tt.ask != "" {
				form.Set("scope", tt.ask)
			}
			tr := ts.postToken(t, id, plain, form)
			if tr.Status != http.StatusOK {
				t.Fatalf("token: %d %s", tr.Status, tr.Description)
			}
			admWantError(t, ts.do(t, "GET", "/api/v1/organizations", tr.AccessToken, nil), http.StatusForbidden)
			admWantError(t, ts.do(t, "GET", "/api/v1/organizations/"+org, tr.AccessToken, nil), http.StatusForbidden)

			r := ts.do(t, "GET", "/api/v1/whoami", tr.AccessToken, nil)
			admWant(t, r, http.StatusOK)
			m := r.JSON(t)
			want := tt.scopes
			if tt.ask != "" {
				want = strings.Fields(tt.ask)
			}
			var got []string
			for _, s := range m["scopes"].([]any) {
				got = append(got, s.(string))
			}
			if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("whoami scopes %v, want %v", m["scopes"], want)
			}
			if m["client_id"] != id || m["organization_id"] != org {
				t.Errorf("whoami %s, want client %s of %s", r.Body, id, org)
			}
		})
	}
	for _, admin := range []string{"keyward:org:admin", "keyward:admin"} {
		t.Run("a "+admin+" token stops working once its client loses the scope", func(t *testing.T) {
			t.Parallel()
			id, plain := ts.createClient(t, envTok, org, map[string]any{"scopes": []string{admin, "read"}})
			tok := ts.token(t, id, plain)
			admWant(t, ts.do(t, "GET", "/api/v1/organizations/"+org, tok, nil), http.StatusOK)
			admWant(t, ts.do(t, "PATCH", "/api/v1/organizations/"+org+"/clients/"+id, envTok, map[string]any{"scopes": []string{"read"}}), http.StatusOK)
			admWantError(t, ts.do(t, "GET", "/api/v1/organizations/"+org, tok, nil), http.StatusForbidden)
		})
	}
}

func TestAdminWhoami(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	adminID, adminPlain := ts.envAdmin(t)
	envTok := ts.token(t, adminID, adminPlain)
	org := ts.createOrg(t, envTok, "Acme")
	orgAdmin, orgTok := ts.admOrgAdmin(t, envTok, org)
	now := ts.Clock.Now().UTC().Format(time.RFC3339)

	tests := []struct {
		name   string
		tok    string
		client string
		org    any
		scopes []any
	}{
		{"an environment admin has no organization", envTok, adminID, nil, []any{"keyward:admin"}},
		{"an org admin belongs to its organization", orgTok, orgAdmin, org, []any{"keyward:org:admin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := ts.do(t, "GET", "/api/v1/whoami", tt.tok, nil)
			admWant(t, r, http.StatusOK)
			m := r.JSON(t)
			for _, k := range []string{"message", "client_id", "organization_id", "scopes", "time"} {
				if _, ok := m[k]; !ok {
					t.Errorf("whoami lacks %q: %s", k, r.Body)
				}
			}
			if msg, _ := m["message"].(string); msg == "" {
				t.Errorf("message %v, want a sentence", m["message"])
			}
			if m["client_id"] != tt.client || m["organization_id"] != tt.org || !reflect.DeepEqual(m["scopes"], tt.scopes) {
				t.Errorf("whoami %s, want client %s, organization %v, scopes %v", r.Body, tt.client, tt.org, tt.scopes)
			}
			if m["time"] != now {
				t.Errorf("time %v, want %s", m["time"], now)
			}
		})
	}
}

// ---- keys ----

func TestAdminKeys(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")
	_, orgTok := ts.admOrgAdmin(t, tok, org)

	byState := func(t *testing.T, r apiResponse) map[string][]map[string]any {
		t.Helper()
		out := map[string][]map[string]any{}
		for _, k := range admList(t, r, "keys") {
			for _, f := range []string{"kid", "alg", "state", "create_time", "activate_time", "retire_time"} {
				if _, ok := k[f]; !ok {
					t.Errorf("key %v lacks %q", k, f)
				}
			}
			if k["alg"] != "RS256" {
				t.Errorf("key %v: alg %v, want RS256", k["kid"], k["alg"])
			}
			admWantTime(t, "create_time", k["create_time"])
			out[k["state"].(string)] = append(out[k["state"].(string)], k)
		}
		return out
	}

	start := ts.do(t, "GET", "/api/v1/keys", tok, nil)
	admWant(t, start, http.StatusOK)
	keys := byState(t, start)
	if len(keys["active"]) != 1 || len(keys["next"]) != 1 || len(admList(t, start, "keys")) != 2 {
		t.Fatalf("keys at start: %s, want one active and one next", start.Body)
	}
	active, next := keys["active"][0], keys["next"][0]
	if active["retire_time"] != nil || next["retire_time"] != nil {
		t.Errorf("keys at start have a retire_time: %s", start.Body)
	}
	if _, h := admClaims(t, tok); h["kid"] != active["kid"] {
		t.Errorf("tokens are signed with kid %v, want the active %v", h["kid"], active["kid"])
	}

	t.Run("org admins may not see or rotate keys", func(t *testing.T) {
		admWantError(t, ts.do(t, "GET", "/api/v1/keys", orgTok, nil), http.StatusForbidden)
		admWantError(t, ts.do(t, "POST", "/api/v1/keys/rotate", orgTok, nil), http.StatusForbidden)
	})
	t.Run("rotating right after start is a conflict: the next key is too new", func(t *testing.T) {
		admWantError(t, ts.do(t, "POST", "/api/v1/keys/rotate", tok, nil), http.StatusConflict, next["kid"].(string))
		if r := ts.do(t, "GET", "/api/v1/keys", tok, nil); !bytes.Equal(r.Body, start.Body) {
			t.Errorf("a refused rotation changed the keys from %s to %s", start.Body, r.Body)
		}
	})

	ts.Clock.Advance(31 * time.Minute)
	rotatedAt := ts.Clock.Now().UTC().Format(time.RFC3339)
	r := ts.do(t, "POST", "/api/v1/keys/rotate", tok, nil)
	admWant(t, r, http.StatusOK)
	after := byState(t, r)

	t.Run("rotation makes the next key active", func(t *testing.T) {
		if len(after["active"]) != 1 || after["active"][0]["kid"] != next["kid"] {
			t.Fatalf("active keys %v, want %v", after["active"], next["kid"])
		}
		if after["active"][0]["activate_time"] != rotatedAt {
			t.Errorf("activate_time %v, want %s", after["active"][0]["activate_time"], rotatedAt)
		}
	})
	t.Run("rotation retires the old active key and still lists it", func(t *testing.T) {
		if len(after["retired"]) != 1 || after["retired"][0]["kid"] != active["kid"] {
			t.Fatalf("retired keys %v, want %v", after["retired"], active["kid"])
		}
		if after["retired"][0]["retire_time"] != rotatedAt {
			t.Errorf("retire_time %v, want %s", after["retired"][0]["retire_time"], rotatedAt)
		}
	})
	t.Run("rotation publishes a new next key", func(t *testing.T) {
		if len(after["next"]) != 1 || after["next"][0]["kid"] == active["kid"] || after["next"][0]["kid"] == next["kid"] {
			t.Errorf("next keys %v, want one new key", after["next"])
		}
		if len(admList(t, r, "keys")) != 3 {
			t.Errorf("keys after rotation: %s, want three", r.Body)
		}
	})
	t.Run("GET lists what the rotation answered", func(t *testing.T) {
		if g := ts.do(t, "GET", "/api/v1/keys", tok, nil); !bytes.Equal(g.Body, r.Body) {
			t.Errorf("GET /keys %s, rotate answered %s", g.Body, r.Body)
		}
	})
	t.Run("new tokens carry the new active kid", func(t *testing.T) {
		fresh := ts.adminToken(t)
		if _, h := admClaims(t, fresh); h["kid"] != next["kid"] {
			t.Errorf("a new token has kid %v, want %v", h["kid"], next["kid"])
		}
		admWant(t, ts.do(t, "GET", "/api/v1/keys", fresh, nil), http.StatusOK)
	})
	t.Run("tokens signed by the retired key still work", func(t *testing.T) {
		admWant(t, ts.do(t, "GET", "/api/v1/keys", tok, nil), http.StatusOK)
	})
	t.Run("rotating again at once is a conflict", func(t *testing.T) {
		admWantError(t, ts.do(t, "POST", "/api/v1/keys/rotate", tok, nil), http.StatusConflict)
	})
}

// ---- request bodies ----

func TestAdminRequestBodyLimits(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")
	client, _ := ts.createClient(t, tok, org, map[string]any{})
	sid, _ := ts.admAddSecret(t, tok, org, client)
	huge := `{"display_name": "` + strings.Repeat("x", 1<<20) + `"}`

	routes := []struct{ method, path string }{
		{"POST", "/api/v1/organizations"},
		{"PATCH", "/api/v1/organizations/" + org},
		{"POST", "/api/v1/organizations/" + org + "/clients"},
		{"PATCH", "/api/v1/organizations/" + org + "/clients/" + client},
		{"POST", "/api/v1/organizations/" + org + "/clients/" + client + "/secrets"},
		{"PATCH", "/api/v1/organizations/" + org + "/clients/" + client + "/secrets/" + sid},
	}
	t.Run("each oversized body", func(t *testing.T) {
		for _, rt := range routes {
			h := http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"}}
			t.Run(rt.method+" "+rt.path+" refuses a body over 1 MiB with a declared length", func(t *testing.T) {
				t.Parallel()
				admWantError(t, ts.admRequest(t, rt.method, rt.path, h, strings.NewReader(huge)), http.StatusRequestEntityTooLarge)
			})
			t.Run(rt.method+" "+rt.path+" refuses a chunked body over 1 MiB", func(t *testing.T) {
				t.Parallel()
				body := io.MultiReader(strings.NewReader(huge)) // no known length: sent chunked
				admWantError(t, ts.admRequest(t, rt.method, rt.path, h, body), http.StatusRequestEntityTooLarge)
			})
		}
	})
	if n := ts.admCount(t, `SELECT count(*) FROM organizations`); n != 1 {
		t.Errorf("oversized requests left %d organizations, want 1", n)
	}
}

// RFC 6750 section 3.1: a request without a token gets a challenge without
// an error code; a bad token gets error="invalid_token".
func TestAdminChallengeNamesAnErrorOnlyForABadToken(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tests := []struct {
		name, auth, want string
	}{
		{"no Authorization header", "", `Bearer realm="keyward"`},
		{"another scheme", "Basic YTpi", `Bearer realm="keyward"`},
		{"a token that does not verify", "Bearer abc.def.ghi", `Bearer realm="keyward", error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.auth != "" {
				h.Set("Authorization", tt.auth)
			}
			r := ts.admRequest(t, "GET", "/api/v1/whoami", h, nil)
			got := r.Header.Get("WWW-Authenticate")
			if r.Status != http.StatusUnauthorized || !strings.HasPrefix(got, tt.want) {
				t.Fatalf("got %d with WWW-Authenticate %q, want 401 starting %q", r.Status, got, tt.want)
			}
			if tt.want == `Bearer realm="keyward"` && got != tt.want {
				t.Fatalf("WWW-Authenticate = %q, want exactly %q", got, tt.want)
			}
		})
	}
}
