package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AuditEvent is one row of the append-only audit log.
type AuditEvent struct {
	ID             int64
	Time           time.Time
	ActorClientID  string
	OrganizationID string // "" for the environment
	Action         string
	Target         string
	SourceAddress  string
	Result         string
	Count          int
	// OrganizationOfActor, when set, fills OrganizationID from the actor
	// client's organization at insert time (a failed authentication knows
	// only the client id it named).
	OrganizationOfActor bool
}

// AppendAudit writes events in one statement.
func (s *Store) AppendAudit(ctx context.Context, events []AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	n := len(events)
	times, actors, orgs, actions, targets, sources, results := make([]time.Time, n), make([]string, n),
		make([]*string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	counts, fromActor := make([]int32, n), make([]bool, n)
	for i, e := range events {
		times[i], actors[i], actions[i], targets[i], sources[i], results[i] =
			e.Time, e.ActorClientID, e.Action, e.Target, e.SourceAddress, e.Result
		orgs[i], counts[i], fromActor[i] = nullIfEmpty(e.OrganizationID), int32(max(e.Count, 1)), e.OrganizationOfActor
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO audit_events (time, actor_client_id, organization_id, action, target, source_address, result, count)
		SELECT e.time, e.actor, CASE WHEN e.from_actor THEN c.organization_id ELSE e.org END,
			e.action, e.target, e.source, e.result, e.count
		FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::int[], $9::bool[]) AS e(time, actor, org, action, target, source, result, count, from_actor)
		LEFT JOIN clients c ON e.from_actor AND c.id = e.actor`,
		times, actors, orgs, actions, targets, sources, results, counts, fromActor)
	if err != nil {
		return fmt.Errorf("append audit events: %w", classify(err))
	}
	return nil
}

// ListAudit returns a page of audit events, newest first: all of them when
// orgID is "", else one organization's. Page.After is the id of the last
// event of the previous page (0 for the first page).
func (s *Store) ListAudit(ctx context.Context, orgID string, p Page) (events []AuditEvent, total int, more bool, err error) {
	after := p.After
	if after <= 0 {
		after = 1<<63 - 1
	}
	err = s.inSnapshot(ctx, func(tx pgx.Tx) error {
		query := `SELECT id, time, actor_client_id, coalesce(organization_id, ''), action, target, source_address, result, count
			FROM audit_events WHERE id < $1 ORDER BY id DESC LIMIT $2`
		args := []any{after, p.Limit + 1}
		countKey := "*"
		if orgID != "" {
			query = `SELECT id, time, actor_client_id, coalesce(organization_id, ''), action, target, source_address, result, count
				FROM audit_events WHERE organization_id = $3 AND id < $1 ORDER BY organization_id, id DESC LIMIT $2`
			args = append(args, orgID)
			countKey = orgID
		}
		rows, err := tx.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		events, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEvent, error) {
			var e AuditEvent
			err := r.Scan(&e.ID, &e.Time, &e.ActorClientID, &e.OrganizationID, &e.Action, &e.Target,
				&e.SourceAddress, &e.Result, &e.Count)
			return e, err
		})
		if err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `SELECT coalesce((SELECT n FROM audit_event_counts WHERE organization_id = $1), 0)`, countKey).Scan(&total)
		return err
	})
	if err != nil {
		return nil, 0, false, fmt.Errorf("list audit events: %w", classify(err))
	}
	if len(events) > p.Limit {
		return events[:p.Limit], total, true, nil
	}
	return events, total, false, nil
}
