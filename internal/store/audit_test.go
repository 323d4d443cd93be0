package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/store"
)

// A request's pending audit row is committed by its first change, in that
// change's transaction; a change that fails leaves it pending, and a
// method called without one writes no row.
func TestPendingAuditIsWrittenByTheFirstCommittedChange(t *testing.T) {
	t.Parallel()
	st := pgtest.NewStore(t)
	now := time.Now().UTC().Truncate(time.Second)
	rows := func(t *testing.T) []store.AuditEvent {
		t.Helper()
		events, _, _, err := st.ListAudit(context.Background(), "", store.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return events
	}
	request := func() (context.Context, *store.PendingAudit) {
		return store.WithAudit(context.Background(), func() store.AuditEvent {
			return store.AuditEvent{Time: now, ActorClientID: "m2m_admin", Action: "organization.create", SourceAddress: "192.0.2.1"}
		})
	}

	t.Run("without a pending row a change writes none", func(t *testing.T) {
		if _, err := st.CreateOrganization(context.Background(), store.Organization{ID: "org_cli", DisplayName: "CLI", CreateTime: now}); err != nil {
			t.Fatal(err)
		}
		if n := len(rows(t)); n != 0 {
			t.Fatalf("%d audit rows, want 0", n)
		}
	})

	t.Run("a failed change leaves the row pending", func(t *testing.T) {
		ctx, pending := request()
		err := st.DeleteClient(ctx, "org_cli", "m2m_nobody")
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("DeleteClient = %v, want ErrNotFound", err)
		}
		if pending.Written() {
			t.Fatal("a change that failed wrote the audit row")
		}
		if n := len(rows(t)); n != 0 {
			t.Fatalf("%d audit rows, want 0", n)
		}
	})

	t.Run("the first change writes the row, naming what it made", func(t *testing.T) {
		ctx, pending := request()
		if _, err := st.CreateOrganization(ctx, store.Organization{ID: "org_a", DisplayName: "A", CreateTime: now}); err != nil {
			t.Fatal(err)
		}
		if !pending.Written() {
			t.Fatal("the committed change did not write the audit row")
		}
		if _, err := st.UpdateOrganization(ctx, "org_a", now, func(*store.Organization) error { return nil }); err != nil {
			t.Fatal(err)
		}
		got := rows(t)
		if len(got) != 1 {
			t.Fatalf("%d audit rows, want 1: %+v", len(got), got)
		}
		e := got[0]
		e.ID = 0
		want := store.AuditEvent{Time: now, ActorClientID: "m2m_admin", OrganizationID: "org_a", Action: "organization.create",
			Target: "org_a", SourceAddress: "192.0.2.1", Result: store.AuditSuccess, Count: 1}
		if !e.Time.Equal(want.Time) {
			t.Errorf("time %v, want %v", e.Time, want.Time)
		}
		e.Time = want.Time
		if e != want {
			t.Errorf("row %+v, want %+v", e, want)
		}
	})
}
