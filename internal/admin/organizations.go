package admin

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

type orgView struct {
	ID          string  `json:"id"`
	DisplayName string  `json:"display_name"`
	ExternalID  *string `json:"external_id"`
	CreateTime  string  `json:"create_time"`
	UpdateTime  string  `json:"update_time"`
}

func viewOrg(o store.Organization) orgView {
	return orgView{ID: o.ID, DisplayName: o.DisplayName, ExternalID: o.ExternalID,
		CreateTime: formatTime(o.CreateTime), UpdateTime: formatTime(o.UpdateTime)}
}

const orgNotFound = "organization not found"

// visibleOrg returns the {org_id} of the URL if the caller may manage it;
// any other organization is 404, exactly as if it did not exist.
func visibleOrg(r *http.Request) (string, error) {
	id := chi.URLParam(r, "org_id")
	if !principalFrom(r.Context()).canSee(id) {
		return "", errNotFound(orgNotFound)
	}
	return id, nil
}

// applyOrgFields sets the fields present in body on o.
func applyOrgFields(body object, o *store.Organization) error {
	if body.has("display_name") {
		s, err := body.str("display_name")
		if err != nil {
			return err
		}
		if err := checkText("display_name", s, 1, 256); err != nil {
			return err
		}
		o.DisplayName = s
	}
	if body.has("external_id") {
		if body.isNull("external_id") {
			o.ExternalID = nil
		} else {
			s, err := body.str("external_id")
			if err != nil {
				return fieldError("external_id", "must be a string or null")
			}
			if err := checkText("external_id", s, 1, 256); err != nil {
				return err
			}
			o.ExternalID = &s
		}
	}
	return nil
}

const externalIDTaken = "external_id: another organization already has this external_id"

// HandleCreateOrganization serves POST /api/v1/organizations.
func HandleCreateOrganization(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		if !principalFrom(r.Context()).envAdmin {
			return 0, nil, errForbidden("only an environment admin (keyward:admin) may create organizations")
		}
		body, err := readObject(r, false)
		if err != nil {
			return 0, nil, err
		}
		if err := body.only("display_name", "external_id"); err != nil {
			return 0, nil, err
		}
		if !body.has("display_name") {
			return 0, nil, fieldError("display_name", "is required")
		}
		o := store.Organization{ID: secret.NewID("org_"), CreateTime: d.now()}
		if err := applyOrgFields(body, &o); err != nil {
			return 0, nil, err
		}
		o, err = d.Store.CreateOrganization(r.Context(), o)
		if err != nil {
			if isConflict(err) {
				return 0, nil, errConflict(externalIDTaken)
			}
			return 0, nil, storeError(err, orgNotFound)
		}
		return http.StatusCreated, map[string]any{"organization": viewOrg(o)}, nil
	})
}

// HandleListOrganizations serves GET /api/v1/organizations. An org admin
// sees only its own organization.
func HandleListOrganizations(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		page, err := pageFrom(r, "o")
		if err != nil {
			return 0, nil, err
		}
		p := principalFrom(r.Context())
		views := []orgView{}
		if !p.envAdmin {
			o, err := d.Store.Organization(r.Context(), p.orgID)
			if err != nil && !isNotFound(err) {
				return 0, nil, storeError(err, orgNotFound)
			}
			total := 0
			if err == nil {
				total = 1
				if page.After < o.Seq {
					views = append(views, viewOrg(o))
				}
			}
			return http.StatusOK, map[string]any{"organizations": views, "next_page_token": "", "total_size": total}, nil
		}
		orgs, total, more, err := d.Store.ListOrganizations(r.Context(), page)
		if err != nil {
			return 0, nil, storeError(err, orgNotFound)
		}
		var last int64
		for _, o := range orgs {
			views = append(views, viewOrg(o))
			last = o.Seq
		}
		return http.StatusOK, map[string]any{
			"organizations":   views,
			"next_page_token": pageToken("o", last, more),
			"total_size":      total,
		}, nil
	})
}

// HandleGetOrganization serves GET /api/v1/organizations/{org_id}.
func HandleGetOrganization(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		id, err := visibleOrg(r)
		if err != nil {
			return 0, nil, err
		}
		o, err := d.Store.Organization(r.Context(), id)
		if err != nil {
			return 0, nil, storeError(err, orgNotFound)
		}
		return http.StatusOK, map[string]any{"organization": viewOrg(o)}, nil
	})
}

// HandleUpdateOrganization serves PATCH /api/v1/organizations/{org_id}.
func HandleUpdateOrganization(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		id, err := visibleOrg(r)
		if err != nil {
			return 0, nil, err
		}
		body, err := readObject(r, false)
		if err != nil {
			return 0, nil, err
		}
		if err := body.only("display_name", "external_id"); err != nil {
			return 0, nil, err
		}
		// external_id is unique across the environment: letting an org
		// admin choose one would tell it which ids other organizations use.
		if body.has("external_id") && !principalFrom(r.Context()).envAdmin {
			return 0, nil, errForbidden("external_id: only an environment admin (keyward:admin) may set it")
		}
		var o store.Organization
		if err := applyOrgFields(body, &o); err != nil { // validate before touching the database
			return 0, nil, err
		}
		o, err = d.Store.UpdateOrganization(r.Context(), id, d.now(), func(o *store.Organization) error {
			return applyOrgFields(body, o)
		})
		if err != nil {
			if isConflict(err) {
				return 0, nil, errConflict(externalIDTaken)
			}
			return 0, nil, storeError(err, orgNotFound)
		}
		return http.StatusOK, map[string]any{"organization": viewOrg(o)}, nil
	})
}

// HandleDeleteOrganization serves DELETE /api/v1/organizations/{org_id}; its
// clients and their secrets go with it.
func HandleDeleteOrganization(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		id, err := visibleOrg(r)
		if err != nil {
			return 0, nil, err
		}
		if !principalFrom(r.Context()).envAdmin {
			return 0, nil, errForbidden("only an environment admin (keyward:admin) may delete an organization")
		}
		clientIDs, err := d.Store.DeleteOrganization(r.Context(), id)
		if err != nil {
			return 0, nil, storeError(err, orgNotFound)
		}
		for _, c := range clientIDs {
			d.clientChanged(c)
		}
		return http.StatusNoContent, nil, nil
	})
}
