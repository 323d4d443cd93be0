package httpserver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// auditFixture is what the mutations of auditMutations act on, made
// through the admin API before the test starts counting rows.
type auditFixture struct {
	tok                                 string
	org, doomedOrg                      string
	client, victim, secretID            string
	keyClient, clientKeyID              string
	apiKeyClient, apiKeyID, nextSigning string
}

func (ts *testServer) newAuditFixture(t *testing.T) auditFixture {
	t.Helper()
	f := auditFixture{tok: ts.adminToken(t)}
	f.org = ts.createOrg(t, f.tok, "Acme")
	f.doomedOrg = ts.createOrg(t, f.tok, "Doomed")
	f.client, _ = ts.createClient(t, f.tok, f.org, map[string]any{})
	f.victim, _ = ts.createClient(t, f.tok, f.org, map[string]any{"name": "victim"})
	f.secretID, _ = ts.admAddSecret(t, f.tok, f.org, f.client)
	kc := ts.credNewClient(t, f.tok, f.org, map[string]any{"auth_method": "private_key_jwt"})
	f.keyClient = kc.ID
	key, _ := ts.credGenerate(t, f.tok, kc)
	f.clientKeyID = key.ID
	ac := ts.credNewClient(t, f.tok, f.org, map[string]any{"auth_method": "api_key"})
	f.apiKeyClient = ac.ID
	r := ts.do(t, "POST", ac.path()+"/api_keys", f.tok, nil)
	admWant(t, r, http.StatusCreated)
	f.apiKeyID = admObject(t, r, "api_key")["id"].(string)
	for _, k := range admList(t, ts.do(t, "GET", "/api/v1/keys", f.tok, nil), "keys") {
		if k["state"] == "next" {
			f.nextSigning = k["kid"].(string)
		}
	}
	if f.nextSigning == "" {
		t.Fatal("the server has no next signing key")
	}
	// The next key has been published long enough to sign: rotating is
	// not refused as too early.
	ts.Clock.Advance(31 * time.Minute)
	return f
}

// auditMutation is one admin mutation and the audit row it should leave.
type auditMutation struct {
	action       string
	method, path string
	body         any
	status       int // when it succeeds
	// target names what the route names; created, for a create, the
	// member of the answer holding the new thing, whose id is the target.
	target, created string
	org             string
}

// auditMutations is every kind of change the admin API makes, on f.
func auditMutations(f auditFixture) []auditMutation {
	orgPath := "/api/v1/organizations/" + f.org
	client := orgPath + "/clients/" + f.client
	return []auditMutation{
		{action: "organization.create", method: "POST", path: "/api/v1/organizations", body: map[string]any{"display_name": "New"},
			status: http.StatusCreated, created: "organization"},
		{action: "organization.update", method: "PATCH", path: orgPath, body: map[string]any{"display_name": "Renamed"},
			status: http.StatusOK, target: f.org, org: f.org},
		{action: "organization.delete", method: "DELETE", path: "/api/v1/organizations/" + f.doomedOrg,
			status: http.StatusNoContent, target: f.doomedOrg, org: f.doomedOrg},
		{action: "client.create", method: "POST", path: orgPath + "/clients", body: map[string]any{"name": "new"},
			status: http.StatusCreated, created: "client", org: f.org},
		{action: "client.update", method: "PATCH", path: client, body: map[string]any{"name": "renamed", "scopes": []string{"read"}},
			status: http.StatusOK, target: f.client, org: f.org},
		{action: "client.delete", method: "DELETE", path: orgPath + "/clients/" + f.victim,
			status: http.StatusNoContent, target: f.victim, org: f.org},
		{action: "secret.create", method: "POST", path: client + "/secrets",
			status: http.StatusCreated, created: "secret", org: f.org},
		{action: "secret.update", method: "PATCH", path: client + "/secrets/" + f.secretID, body: map[string]any{"status": "INACTIVE"},
			status: http.StatusOK, target: f.secretID, org: f.org},
		{action: "secret.delete", method: "DELETE", path: client + "/secrets/" + f.secretID,
			status: http.StatusNoContent, target: f.secretID, org: f.org},
		{action: "key.create", method: "POST", path: orgPath + "/clients/" + f.keyClient + "/keys", body: map[string]any{},
			status: http.StatusCreated, created: "key", org: f.org},
		{action: "key.delete", method: "DELETE", path: orgPath + "/clients/" + f.keyClient + "/keys/" + f.clientKeyID,
			status: http.StatusNoContent, target: f.clientKeyID, org: f.org},
		{action: "api_key.create", method: "POST", path: orgPath + "/clients/" + f.apiKeyClient + "/api_keys",
			status: http.StatusCreated, created: "api_key", org: f.org},
		{action: "api_key.update", method: "PATCH", path: orgPath + "/clients/" + f.apiKeyClient + "/api_keys/" + f.apiKeyID,
			body: map[string]any{"status": "INACTIVE"}, status: http.StatusOK, target: f.apiKeyID, org: f.org},
		{action: "api_key.delete", method: "DELETE", path: orgPath + "/clients/" + f.apiKeyClient + "/api_keys/" + f.apiKeyID,
			status: http.StatusNoContent, target: f.apiKeyID, org: f.org},
		{action: "key.rotate", method: "POST", path: "/api/v1/keys/rotate", status: http.StatusOK},
		{action: "key.revoke", method: "POST", path: "/api/v1/keys/" + f.nextSigning + "/revoke", status: http.StatusOK, target: f.nextSigning},
	}
}

// lastAuditID is the id of the newest audit row (0 for none).
func (ts *testServer) lastAuditID(t *testing.T) int {
	t.Helper()
	return ts.admCount(t, `SELECT coalesce(max(id), 0) FROM audit_events`)
}

// auditRowsAfter returns the audit rows newer than id, oldest first.
func (ts *testServer) auditRowsAfter(t *testing.T, id int) []auditRow {
	t.Helper()
	rows, err := ts.Store.Pool().Query(context.Background(), `
		SELECT action, target, actor_client_id, coalesce(organization_id, ''), source_address, result, count
		FROM audit_events WHERE id > $1 ORDER BY id`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		if err := rows.Scan(&r.Action, &r.Target, &r.Actor, &r.Org, &r.Source, &r.Result, &r.Count); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// auditedState is everything an admin mutation can change, without the
// last-used times that token requests move in the background.
func (ts *testServer) auditedState(t *testing.T) string {
	t.Helper()
	var s string
	err := ts.Store.Pool().QueryRow(context.Background(), `SELECT concat_ws(E'\n',
		(SELECT string_agg((id, display_name, external_id, update_time)::text, ' ' ORDER BY id) FROM organizations),
		(SELECT string_agg((id, organization_id, name, scopes, update_time, version)::text, ' ' ORDER BY id) FROM clients),
		(SELECT string_agg((id, client_id, status, update_time)::text, ' ' ORDER BY id) FROM client_secrets),
		(SELECT string_agg((id, client_id)::text, ' ' ORDER BY id) FROM client_keys),
		(SELECT string_agg((id, client_id, status, update_time)::text, ' ' ORDER BY id) FROM api_keys),
		(SELECT string_agg((kid, state, activate_time, retire_time, revoke_time)::text, ' ' ORDER BY kid) FROM signing_keys))`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Each successful admin mutation leaves exactly one audit row, naming what
// it changed.
func TestAuditOneRowPerSuccessfulMutation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	f := ts.newAuditFixture(t)
	actor, _ := admClaims(t, f.tok)
	for _, m := range auditMutations(f) {
		t.Run(m.action+" has its audit row", func(t *testing.T) {
			last := ts.lastAuditID(t)
			r := ts.do(t, m.method, m.path, f.tok, m.body)
			admWant(t, r, m.status)
			want := auditRow{Action: m.action, Target: m.target, Actor: actor["sub"].(string), Org: m.org,
				Source: "127.0.0.1", Result: "success", Count: 1}
			if m.created != "" {
				obj := admObject(t, r, m.created)
				id, _ := obj["id"].(string)
				if id == "" {
					id, _ = obj["client_id"].(string)
				}
				want.Target = id
				if m.action == "organization.create" {
					want.Org = id
				}
			}
			got := ts.auditRowsAfter(t, last)
			if len(got) != 1 || got[0] != want {
				t.Fatalf("audit rows %+v, want exactly %+v", got, want)
			}
		})
	}
}

// A change is committed with its audit row or not at all: when the row
// cannot be written, the change is rolled back and the request fails like
// any other database failure, saying nothing of the cause.
func TestAuditRowCommitsWithItsChange(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	f := ts.newAuditFixture(t)
	// From now on the database refuses every row of a successful change;
	// the rows of failed requests still land.
	const refusal = "test refuses audit rows of successes"
	if _, err := ts.Store.Pool().Exec(context.Background(), `
		CREATE FUNCTION test_refuse_successes() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.result = 'success' THEN
				RAISE EXCEPTION '`+refusal+`';
			END IF;
			RETURN NEW;
		END;
		$$;
		CREATE TRIGGER test_refuse_successes BEFORE INSERT ON audit_events
			FOR EACH ROW EXECUTE FUNCTION test_refuse_successes();`); err != nil {
		t.Fatal(err)
	}
	for _, m := range auditMutations(f) {
		t.Run(m.action+" is not made without its audit row", func(t *testing.T) {
			before, last := ts.auditedState(t), ts.lastAuditID(t)
			r := ts.do(t, m.method, m.path, f.tok, m.body)
			if r.Status != http.StatusInternalServerError {
				t.Errorf("status %d, want 500: %.200s", r.Status, r.Body)
			}
			var body map[string]any
			if err := json.Unmarshal(r.Body, &body); err != nil || len(body) != 2 ||
				body["error"] != "internal_error" || body["error_description"] != "internal error" {
				t.Errorf("body %s, want exactly {\"error\": \"internal_error\", \"error_description\": \"internal error\"}", r.Body)
			}
			if after := ts.auditedState(t); after != before {
				t.Errorf("the change was committed without its audit row:\nbefore %s\nafter  %s", before, after)
			}
			rows := ts.auditRowsAfter(t, last)
			if len(rows) != 1 || rows[0].Action != m.action || rows[0].Target != m.target || rows[0].Result != "failure: 500 internal_error" {
				t.Errorf("audit rows %+v, want one %s of %q with failure: 500 internal_error", rows, m.action, m.target)
			}
		})
	}
	if logs := ts.Logs(); !strings.Contains(logs, refusal) {
		t.Errorf("the server's logs do not say why the requests failed:\n%s", logs)
	}
}
