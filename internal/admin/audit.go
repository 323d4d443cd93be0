package admin

import (
	"net/http"
	"strconv"

	"github.com/keyward/keyward/internal/store"
)

// Actor returns the client id of the caller of an authenticated admin
// request ("" before authentication).
func Actor(r *http.Request) string { return principalFrom(r.Context()).clientID }

// AuditOrganization returns the organization an audit row of this request
// belongs to: orgID when the caller may see it, otherwise the caller's own
// (so a probe of another organization is in the prober's log, not in the
// probed organization's).
func AuditOrganization(r *http.Request, orgID string) string {
	p := principalFrom(r.Context())
	if orgID == "" || p.canSee(orgID) {
		return orgID
	}
	return p.orgID
}

type auditView struct {
	ID             string  `json:"id"`
	Time           string  `json:"time"`
	ActorClientID  string  `json:"actor_client_id"`
	OrganizationID *string `json:"organization_id"`
	Action         string  `json:"action"`
	Target         string  `json:"target"`
	SourceAddress  string  `json:"source_address"`
	Result         string  `json:"result"`
	Count          int     `json:"count"`
}

// HandleListAuditEvents serves GET /api/v1/audit_events, newest first. An
// environment admin sees every event, or one organization's with
// ?organization_id=; an org admin sees its own organization's only.
func HandleListAuditEvents(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		p := principalFrom(r.Context())
		org := r.URL.Query().Get("organization_id")
		if !p.envAdmin {
			if org != "" && org != p.orgID {
				return 0, nil, errNotFound(orgNotFound)
			}
			org = p.orgID
		}
		page, err := pageFrom(r, "a"+org)
		if err != nil {
			return 0, nil, err
		}
		events, total, more, err := d.Store.ListAudit(r.Context(), org, page)
		if err != nil {
			return 0, nil, storeError(err, orgNotFound)
		}
		views := make([]auditView, 0, len(events))
		var last int64
		for _, e := range events {
			views = append(views, viewAudit(e))
			last = e.ID
		}
		return http.StatusOK, map[string]any{
			"audit_events":    views,
			"next_page_token": pageToken("a"+org, last, more),
			"total_size":      total,
		}, nil
	})
}

func viewAudit(e store.AuditEvent) auditView {
	v := auditView{
		ID: itoa(e.ID), Time: formatTime(e.Time), ActorClientID: e.ActorClientID, Action: e.Action,
		Target: e.Target, SourceAddress: e.SourceAddress, Result: e.Result, Count: e.Count,
	}
	if e.OrganizationID != "" {
		v.OrganizationID = &e.OrganizationID
	}
	return v
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
