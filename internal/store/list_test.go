package store_test

// The list endpoints page in constant time: their queries follow an index in
// keyset order (no sequential scan, no sort, no OFFSET), and total_size
// comes from counters that triggers keep exact (migration 00003).

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/store"
)

// planNode is a node of EXPLAIN (FORMAT JSON).
type planNode struct {
	NodeType  string     `json:"Node Type"`
	IndexName string     `json:"Index Name"`
	Plans     []planNode `json:"Plans"`
}

func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

// explain returns the plan of sql with args. Sequential scans and sorts are
// disabled, which makes the planner choose them only when no index can
// serve the query in order: on a small test table a sequential scan may
// rightly be cheaper, and the question here is whether the schema lets the
// query avoid one, not what today's statistics prefer.
func explain(t *testing.T, st *store.Store, sql string, args ...any) planNode {
	t.Helper()
	var out []struct {
		Plan planNode `json:"Plan"`
	}
	err := st.InTx(context.Background(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), `SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off`); err != nil {
			return err
		}
		var raw []byte
		if err := tx.QueryRow(context.Background(), `EXPLAIN (FORMAT JSON) `+sql, args...).Scan(&raw); err != nil {
			return err
		}
		return json.Unmarshal(raw, &out)
	})
	if err != nil || len(out) != 1 {
		t.Fatalf("explain %s: %v (%d plans)", sql, err, len(out))
	}
	return out[0].Plan
}

func seedOrgs(t *testing.T, st *store.Store, clientsPerOrg ...int) []string {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	var ids []string
	for i, n := range clientsPerOrg {
		o, err := st.CreateOrganization(ctx, store.Organization{ID: fmt.Sprintf("org_%d", i), DisplayName: "Org", CreateTime: now})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ID)
		_, err = st.Pool().Exec(ctx, `
			INSERT INTO clients (id, organization_id, name, expiry, create_time, update_time)
			SELECT $1 || '_m2m_' || g, $1, 'client', 3600, now(), now() FROM generate_series(1, $2) g`, o.ID, n)
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func TestListQueriesFollowAnIndexInKeysetOrder(t *testing.T) {
	t.Parallel()
	st := pgtest.NewStore(t)
	orgs := seedOrgs(t, st, 300, 20)
	if _, err := st.Pool().Exec(context.Background(), `ANALYZE`); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		sql       string
		args      []any
		wantIndex string
		ordered   bool // a page: Limit on top, no Sort below
	}{
		{"a page of organizations is a range of the seq index", store.ListOrganizationsSQL,
			[]any{int64(100), 51}, "organizations_seq_key", true},
		{"a page of an organization's clients is a range of (organization_id, seq)", store.ListClientsSQL,
			[]any{orgs[0], int64(100), 51}, "clients_organization_seq", true},
		{"an organization's client count is one row by primary key", store.ClientCountSQL,
			[]any{orgs[0]}, "organizations_pkey", false},
		{"a page's secrets are found by client id", store.LoadSecretsSQL,
			[]any{[]string{orgs[0] + "_m2m_1", orgs[0] + "_m2m_2"}}, "client_secrets_client", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plan := explain(t, st, tt.sql, tt.args...)
			if tt.ordered && plan.NodeType != "Limit" {
				t.Errorf("the plan starts with %s, want Limit", plan.NodeType)
			}
			usesIndex := false
			plan.walk(func(n planNode) {
				switch {
				case n.NodeType == "Seq Scan":
					t.Errorf("the plan has a sequential scan")
				case n.NodeType == "Sort" && tt.ordered:
					t.Errorf("the plan sorts: no index serves the keyset order")
				}
				if n.IndexName == tt.wantIndex {
					usesIndex = true
				}
			})
			if !usesIndex {
				t.Errorf("the plan does not use %s", tt.wantIndex)
			}
		})
	}
}

func TestListTotalsStayExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := pgtest.NewStore(t)
	now := time.Now()

	wantTotals := func(t *testing.T) {
		t.Helper()
		var wantOrgs int
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM organizations`).Scan(&wantOrgs); err != nil {
			t.Fatal(err)
		}
		_, total, _, err := st.ListOrganizations(ctx, store.Page{Limit: 1})
		if err != nil || total != wantOrgs {
			t.Errorf("organizations total_size %d (%v), want %d", total, err, wantOrgs)
		}
		rows, err := st.Pool().Query(ctx, `
			SELECT o.id, (SELECT count(*) FROM clients c WHERE c.organization_id = o.id) FROM organizations o`)
		if err != nil {
			t.Fatal(err)
		}
		counts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
			ID string
			N  int
		}])
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range counts {
			if _, total, _, err := st.ListClients(ctx, c.ID, store.Page{Limit: 1}); err != nil || total != c.N {
				t.Errorf("%s: clients total_size %d (%v), want %d", c.ID, total, err, c.N)
			}
		}
	}

	orgs := seedOrgs(t, st, 0, 5, 3)
	wantTotals(t)

	t.Run("concurrent creations in one organization are all counted", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				c := store.Client{ID: fmt.Sprintf("m2m_concurrent_%d", i), OrganizationID: orgs[0], Name: "c",
					AuthMethod: store.AuthClientSecret, Expiry: 3600, CreateTime: now}
				if _, err := st.CreateClient(ctx, c, nil); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		wantTotals(t)
	})
	t.Run("an environment client counts in no organization", func(t *testing.T) {
		if _, err := st.Pool().Exec(ctx, `
			INSERT INTO clients (id, name, expiry, create_time, update_time) VALUES ('env', 'env', 3600, now(), now())`); err != nil {
			t.Fatal(err)
		}
		wantTotals(t)
	})
	t.Run("a deleted client leaves its organization's count", func(t *testing.T) {
		if err := st.DeleteClient(ctx, orgs[1], orgs[1]+"_m2m_2"); err != nil {
			t.Fatal(err)
		}
		wantTotals(t)
	})
	t.Run("one statement deleting clients of several organizations adjusts each", func(t *testing.T) {
		if _, err := st.Pool().Exec(ctx, `DELETE FROM clients WHERE id IN ($1, $2, 'm2m_concurrent_3')`,
			orgs[1]+"_m2m_3", orgs[2]+"_m2m_1"); err != nil {
			t.Fatal(err)
		}
		wantTotals(t)
	})
	t.Run("a deleted organization leaves the organization count, its clients with it", func(t *testing.T) {
		if _, err := st.DeleteOrganization(ctx, orgs[1]); err != nil {
			t.Fatal(err)
		}
		// and through the foreign key's cascade alone
		if _, err := st.Pool().Exec(ctx, `DELETE FROM organizations WHERE id = $1`, orgs[2]); err != nil {
			t.Fatal(err)
		}
		wantTotals(t)
	})
	t.Run("a client moved to another organization is counted there", func(t *testing.T) {
		o, err := st.CreateOrganization(ctx, store.Organization{ID: "org_moved_to", DisplayName: "Org", CreateTime: now})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Pool().Exec(ctx, `UPDATE clients SET organization_id = $1 WHERE id = 'm2m_concurrent_1'`, o.ID); err != nil {
			t.Fatal(err)
		}
		wantTotals(t)
	})
	t.Run("the organization count is one row", func(t *testing.T) {
		if _, err := st.Pool().Exec(ctx, `INSERT INTO organization_count (one, n) VALUES (false, 0)`); err == nil {
			t.Error("a second row was accepted")
		}
	})
}
