package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// AuditSuccess is the result of an audit row whose change was made.
const AuditSuccess = "success"

// AppendAudit writes events in one statement.
func (s *Store) AppendAudit(ctx context.Context, events []AuditEvent) error {
	if err := appendAudit(ctx, s.pool, events); err != nil {
		return fmt.Errorf("append audit events: %w", classify(err))
	}
	return nil
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func appendAudit(ctx context.Context, q execer, events []AuditEvent) error {
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
	_, err := q.Exec(ctx, `
		INSERT INTO audit_events (time, actor_client_id, organization_id, action, target, source_address, result, count)
		SELECT e.time, e.actor, CASE WHEN e.from_actor THEN c.organization_id ELSE e.org END,
			e.action, e.target, e.source, e.result, e.count
		FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::int[], $9::bool[]) AS e(time, actor, org, action, target, source, result, count, from_actor)
		LEFT JOIN clients c ON e.from_actor AND c.id = e.actor`,
		times, actors, orgs, actions, targets, sources, results, counts, fromActor)
	return err
}

// PendingAudit is the audit row of one admin request, waiting for the
// change the request makes. The first mutating Store method that commits
// under a context carrying it (WithAudit) inserts the row in its own
// transaction: a change is never committed without its row, and a row that
// cannot be written rolls the change back. A request's mutations run one
// after another.
type PendingAudit struct {
	event func() AuditEvent

	mu      sync.Mutex
	written bool
}

type pendingAuditKey struct{}

// WithAudit returns ctx carrying a pending audit row, and the handle that
// says whether a mutation wrote it. event returns the row as the request
// knows it when the mutation commits (an HTTP router may name the action
// and target only once it has routed the request); the mutation sets its
// Result to AuditSuccess and fills an empty Target, and an empty
// OrganizationID of a new organization, with the id of what it made. Methods
// called without a pending row write none.
//
// The row travels in the context, not as a parameter of every mutating
// method, because it belongs to the request, whatever method the handler
// ends up calling.
func WithAudit(ctx context.Context, event func() AuditEvent) (context.Context, *PendingAudit) {
	p := &PendingAudit{event: event}
	return context.WithValue(ctx, pendingAuditKey{}, p), p
}

// Written reports whether a committed mutation carried the row.
func (p *PendingAudit) Written() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.written
}

func pendingAudit(ctx context.Context) *PendingAudit {
	p, _ := ctx.Value(pendingAuditKey{}).(*PendingAudit)
	return p
}

// changed is what a mutation did, for the request's audit row: the id of
// the thing it changed or made, and for a new organization, its id.
type changed struct {
	target, org string
}

// insert writes the pending row in tx, unless an earlier mutation of the
// request wrote it, and reports whether it did.
func (p *PendingAudit) insert(ctx context.Context, tx pgx.Tx, c changed) (bool, error) {
	if p == nil || p.Written() {
		return false, nil
	}
	e := p.event()
	if e.Target == "" {
		e.Target = c.target
	}
	if e.OrganizationID == "" {
		e.OrganizationID = c.org
	}
	e.Result, e.Count = AuditSuccess, 1
	if err := appendAudit(ctx, tx, []AuditEvent{e}); err != nil {
		return false, fmt.Errorf("write the audit row %s: %w", e.Action, err)
	}
	return true, nil
}

func (p *PendingAudit) markWritten() {
	p.mu.Lock()
	p.written = true
	p.mu.Unlock()
}

// deletedOne is the change of a DELETE of target: ErrNotFound when it
// removed no row.
func deletedOne(tag pgconn.CommandTag, err error, target string) (*changed, error) {
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 0 {
		return nil, ErrNotFound
	}
	return &changed{target: target}, nil
}

// mutate runs fn in a transaction and commits if fn returns nil. When ctx
// carries a pending audit row (WithAudit) and fn reports a change, the row
// is inserted in the same transaction, naming what fn changed; failing to
// write it is mutate's error and nothing is committed. A nil *changed says
// fn made no change that the request asked for: the request is then
// audited by whoever holds the pending row.
func (s *Store) mutate(ctx context.Context, fn func(tx pgx.Tx) (*changed, error)) error {
	p := pendingAudit(ctx)
	wrote := false
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		c, err := fn(tx)
		if err != nil || c == nil {
			return err
		}
		wrote, err = p.insert(ctx, tx, *c)
		return err
	})
	if err == nil && wrote {
		p.markWritten()
	}
	return err
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
