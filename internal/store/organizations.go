package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Organization is a tenant: it owns clients.
type Organization struct {
	ID          string
	Seq         int64
	DisplayName string
	ExternalID  *string
	CreateTime  time.Time
	UpdateTime  time.Time
}

// Page asks for at most Limit rows after the keyset position After (0 for
// the first page).
type Page struct {
	After int64
	Limit int
}

const orgColumns = `id, seq, display_name, external_id, create_time, update_time`

func scanOrg(row pgx.Row) (Organization, error) {
	var o Organization
	err := row.Scan(&o.ID, &o.Seq, &o.DisplayName, &o.ExternalID, &o.CreateTime, &o.UpdateTime)
	return o, err
}

// CreateOrganization inserts o and returns it as stored, with the request's
// pending audit row (WithAudit). A taken external_id is ErrConflict.
func (s *Store) CreateOrganization(ctx context.Context, o Organization) (Organization, error) {
	var out Organization
	err := s.mutate(ctx, func(tx pgx.Tx) (*changed, error) {
		var err error
		out, err = scanOrg(tx.QueryRow(ctx, `
			INSERT INTO organizations (id, display_name, external_id, create_time, update_time)
			VALUES ($1, $2, $3, $4, $4)
			RETURNING `+orgColumns, o.ID, o.DisplayName, o.ExternalID, o.CreateTime))
		if err != nil {
			return nil, err
		}
		// The row of a new organization belongs to it.
		return &changed{target: out.ID, org: out.ID}, nil
	})
	if err != nil {
		return Organization{}, fmt.Errorf("create organization: %w", classify(err))
	}
	return out, nil
}

// Organization returns the organization id, or ErrNotFound.
func (s *Store) Organization(ctx context.Context, id string) (Organization, error) {
	o, err := scanOrg(s.pool.QueryRow(ctx, `SELECT `+orgColumns+` FROM organizations WHERE id = $1`, id))
	if err != nil {
		return Organization{}, fmt.Errorf("organization %s: %w", id, classify(err))
	}
	return o, nil
}

// listOrganizationsSQL pages organizations in keyset order: a range scan of
// the unique index on seq that stops after $2 rows, however deep the page.
const listOrganizationsSQL = `SELECT ` + orgColumns + ` FROM organizations WHERE seq > $1 ORDER BY seq LIMIT $2`

// organizationCountSQL reads the count that triggers keep exact (migration
// 00003): one row, where count(*) would read the whole table.
const organizationCountSQL = `SELECT n FROM organization_count`

// ListOrganizations returns a page of organizations in creation order, the
// total count, and whether more follow. Its cost does not grow with the
// number of organizations or the depth of the page.
func (s *Store) ListOrganizations(ctx context.Context, p Page) (orgs []Organization, total int, more bool, err error) {
	err = s.inSnapshot(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, listOrganizationsSQL, p.After, p.Limit+1)
		if err != nil {
			return err
		}
		if orgs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Organization, error) { return scanOrg(r) }); err != nil {
			return err
		}
		return tx.QueryRow(ctx, organizationCountSQL).Scan(&total)
	})
	if err != nil {
		return nil, 0, false, fmt.Errorf("list organizations: %w", classify(err))
	}
	if len(orgs) > p.Limit {
		return orgs[:p.Limit], total, true, nil
	}
	return orgs, total, false, nil
}

// UpdateOrganization locks the organization, lets mutate change it, and
// stores the result with update_time set to now, with the request's pending
// audit row (WithAudit). It returns ErrNotFound, ErrConflict (external_id
// taken), or mutate's error.
func (s *Store) UpdateOrganization(ctx context.Context, id string, now time.Time, mutate func(*Organization) error) (Organization, error) {
	var out Organization
	err := s.mutate(ctx, func(tx pgx.Tx) (*changed, error) {
		o, err := scanOrg(tx.QueryRow(ctx, `SELECT `+orgColumns+` FROM organizations WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return nil, err
		}
		if err := mutate(&o); err != nil {
			return nil, err
		}
		out, err = scanOrg(tx.QueryRow(ctx, `
			UPDATE organizations SET display_name = $2, external_id = $3, update_time = $4
			WHERE id = $1 RETURNING `+orgColumns, id, o.DisplayName, o.ExternalID, now))
		if err != nil {
			return nil, err
		}
		return &changed{target: id}, nil
	})
	if err != nil {
		return Organization{}, fmt.Errorf("update organization %s: %w", id, classify(err))
	}
	return out, nil
}

// DeleteOrganization deletes the organization with its clients and their
// secrets, with the request's pending audit row (WithAudit), and returns the
// ids of the clients deleted. It returns ErrNotFound when there is none.
func (s *Store) DeleteOrganization(ctx context.Context, id string) (clientIDs []string, err error) {
	err = s.mutate(ctx, func(tx pgx.Tx) (*changed, error) {
		rows, err := tx.Query(ctx, `DELETE FROM clients WHERE organization_id = $1 RETURNING id`, id)
		if err != nil {
			return nil, err
		}
		if clientIDs, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return nil, err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM organizations WHERE id = $1`, id)
		if err != nil {
			return nil, err
		}
		if tag.RowsAffected() == 0 {
			return nil, ErrNotFound
		}
		return &changed{target: id}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("delete organization %s: %w", id, classify(err))
	}
	return clientIDs, nil
}
