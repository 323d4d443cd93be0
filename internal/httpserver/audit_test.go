package httpserver_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

type auditRow struct {
	Action, Target, Actor, Org, Source, Result string
	Count                                      int
}

// auditEvents pages through GET /api/v1/audit_events with tok.
func (ts *testServer) auditEvents(t *testing.T, tok, query string) ([]auditRow, int) {
	t.Helper()
	var rows []auditRow
	total, token := 0, ""
	for {
		q := url.Values{"page_size": {"3"}}
		if query != "" {
			q, _ = url.ParseQuery(query + "&page_size=3")
		}
		if token != "" {
			q.Set("page_token", token)
		}
		r := ts.do(t, "GET", "/api/v1/audit_events?"+q.Encode(), tok, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("list audit events: %d %s", r.Status, r.Body)
		}
		body := r.JSON(t)
		for _, e := range body["audit_events"].([]any) {
			m := e.(map[string]any)
			org, _ := m["organization_id"].(string)
			rows = append(rows, auditRow{Action: m["action"].(string), Target: m["target"].(string),
				Actor: m["actor_client_id"].(string), Org: org, Source: m["source_address"].(string),
				Result: m["result"].(string), Count: int(m["count"].(float64))})
		}
		total = int(body["total_size"].(float64))
		if token = body["next_page_token"].(string); token == "" {
			return rows, total
		}
	}
}

// Every admin mutation, whatever its outcome, is an audit row naming who,
// what, on which organization, from where and how it went; newest first.
func TestAuditRecordsEveryAdminMutation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	adminID, adminPlain := ts.envAdmin(t)
	tok := ts.token(t, adminID, adminPlain)
	org := ts.createOrg(t, tok, "Acme")
	ts.do(t, "PATCH", "/api/v1/organizations/"+org, tok, map[string]any{"external_id": "acme"})
	other := ts.createOrg(t, tok, "Other")
	ts.do(t, "PATCH", "/api/v1/organizations/"+other, tok, map[string]any{"external_id": "acme"}) // 409
	client, plain := ts.createClient(t, tok, org, map[string]any{})
	r := ts.do(t, "POST", "/api/v1/organizations/"+org+"/clients/"+client+"/secrets", tok, nil)
	secretID := r.JSON(t)["secret"].(map[string]any)["id"].(string)
	secondPlain := r.JSON(t)["plain_secret"].(string)
	ts.do(t, "PATCH", "/api/v1/organizations/"+org+"/clients/"+client+"/secrets/"+secretID, tok, map[string]any{"status": "INACTIVE"})
	ts.do(t, "DELETE", "/api/v1/organizations/"+org+"/clients/"+client, tok, nil)

	got, total := ts.auditEvents(t, tok, "")
	want := []auditRow{
		{Action: "client.delete", Target: client, Org: org, Result: "success"},
		{Action: "secret.update", Target: secretID, Org: org, Result: "success"},
		{Action: "secret.create", Target: secretID, Org: org, Result: "success"},
		{Action: "client.create", Target: client, Org: org, Result: "success"},
		{Action: "organization.update", Target: other, Org: other, Result: "failure: 409 conflict"},
		{Action: "organization.create", Target: other, Org: other, Result: "success"},
		{Action: "organization.update", Target: org, Org: org, Result: "success"},
		{Action: "organization.create", Target: org, Org: org, Result: "success"},
	}
	if len(got) != len(want) || total != len(want) {
		t.Fatalf("got %d events (total_size %d), want %d:\n%+v", len(got), total, len(want), got)
	}
	for i, w := range want {
		w.Actor, w.Source, w.Count = adminID, "127.0.0.1", 1
		if got[i] != w {
			t.Errorf("event %d = %+v, want %+v", i, got[i], w)
		}
	}
	for _, secret := range []string{plain, secondPlain, tok} {
		if n := ts.admCount(t, `SELECT count(*) FROM audit_events a WHERE a::text LIKE '%' || $1 || '%'`, secret); n != 0 {
			t.Fatalf("%d audit rows contain a plain secret or token", n)
		}
	}
}

// Failed client authentications are folded per client, source and reason,
// and land in the failing client's organization.
func TestAuditRecordsFailedAuthentications(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	org := ts.createOrg(t, tok, "Acme")
	client, _ := ts.createClient(t, tok, org, map[string]any{})
	for range 3 {
		ts.postToken(t, client, "wrong", grant)
	}
	for range 2 {
		ts.postToken(t, "m2m_nobody", "wrong", grant)
	}
	if err := ts.Failures.Flush(context.Background(), ts.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	events, _ := ts.auditEvents(t, tok, "")
	byTarget := map[string]auditRow{}
	for _, e := range events {
		if e.Action == "client.authenticate" {
			byTarget[e.Target] = e
		}
	}
	want := map[string]auditRow{
		client:       {Action: "client.authenticate", Target: client, Actor: client, Org: org, Source: "127.0.0.1", Result: "failure: client authentication failed", Count: 3},
		"m2m_nobody": {Action: "client.authenticate", Target: "m2m_nobody", Actor: "m2m_nobody", Org: "", Source: "127.0.0.1", Result: "failure: client authentication failed", Count: 2},
	}
	for k, w := range want {
		if byTarget[k] != w {
			t.Errorf("failed authentications as %s: %+v, want %+v", k, byTarget[k], w)
		}
	}
	if _, n := ts.auditEvents(t, tok, "organization_id="+org); n != 3 {
		t.Errorf("the organization's total_size = %d, want 3 (its creation, its client's, and the failures)", n)
	}
}

// An org admin sees its own organization's events only; its probes of
// another organization are recorded as its own, not shown to the other.
func TestAuditOrgAdminsSeeTheirOwnOrganization(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	envTok := ts.adminToken(t)
	orgA := ts.createOrg(t, envTok, "A")
	orgB := ts.createOrg(t, envTok, "B")
	_, tokA := ts.admOrgAdmin(t, envTok, orgA)
	_, tokB := ts.admOrgAdmin(t, envTok, orgB)
	ts.createClient(t, tokA, orgA, map[string]any{})
	if r := ts.do(t, "DELETE", "/api/v1/organizations/"+orgB, tokA, nil); r.Status != http.StatusNotFound && r.Status != http.StatusForbidden {
		t.Fatalf("org admin A deleting org B: %d", r.Status)
	}

	for _, tc := range []struct{ tok, org, other string }{{tokA, orgA, orgB}, {tokB, orgB, orgA}} {
		events, _ := ts.auditEvents(t, tc.tok, "")
		for _, e := range events {
			if e.Org != tc.org {
				t.Errorf("an org admin of %s sees an event of %q: %+v", tc.org, e.Org, e)
			}
		}
		if r := ts.do(t, "GET", "/api/v1/audit_events?organization_id="+tc.other, tc.tok, nil); r.Status != http.StatusNotFound {
			t.Errorf("an org admin asking for another organization's events: %d, want 404", r.Status)
		}
	}
	eventsA, _ := ts.auditEvents(t, tokA, "")
	probe := false
	for _, e := range eventsA {
		probe = probe || (e.Action == "organization.delete" && strings.HasPrefix(e.Result, "failure"))
	}
	if !probe {
		t.Errorf("org A's log lacks its admin's failed delete of org B: %+v", eventsA)
	}
}

// Nothing can change or remove an audit row, not even the database owner.
func TestAuditIsAppendOnly(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	ts.createOrg(t, tok, "Acme")
	for _, sql := range []string{`UPDATE audit_events SET result = 'success'`, `DELETE FROM audit_events`, `TRUNCATE audit_events`} {
		_, err := ts.Store.Pool().Exec(context.Background(), sql)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want refused as append-only", sql, err)
		}
	}
	if n := ts.admCount(t, `SELECT count(*) FROM audit_events`); n != 1 {
		t.Errorf("%d audit rows, want 1", n)
	}
}
