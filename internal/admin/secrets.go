package admin

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/keyward/keyward/internal/store"
)

const secretNotFound = "secret not found"

// HandleCreateSecret serves POST .../clients/{client_id}/secrets: one more
// active secret, for rotation without downtime.
func HandleCreateSecret(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		orgID, err := visibleOrg(r)
		if err != nil {
			return 0, nil, err
		}
		body, err := readObject(r, true)
		if err != nil {
			return 0, nil, err
		}
		if err := body.only(); err != nil {
			return 0, nil, err
		}
		sec, plain := d.newSecret(chi.URLParam(r, "client_id"))
		sec, err = d.Store.AddSecret(r.Context(), orgID, sec)
		switch {
		case errors.Is(err, store.ErrTooManySecrets):
			return 0, nil, errConflict("the client already holds the most secrets allowed; delete one first")
		case errors.Is(err, store.ErrWrongAuthMethod):
			return 0, nil, errConflict("the client's auth_method does not use client secrets")
		case err != nil:
			return 0, nil, storeError(err, clientNotFound)
		}
		d.clientChanged(sec.ClientID)
		return http.StatusCreated, map[string]any{"secret": viewSecret(sec), "plain_secret": plain}, nil
	})
}

// HandleUpdateSecret serves PATCH .../secrets/{secret_id} with {"status"}.
func HandleUpdateSecret(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		orgID, err := visibleOrg(r)
		if err != nil {
			return 0, nil, err
		}
		status, err := readStatus(r)
		if err != nil {
			return 0, nil, err
		}
		clientID := chi.URLParam(r, "client_id")
		sec, err := d.Store.SetSecretStatus(r.Context(), orgID, clientID, chi.URLParam(r, "secret_id"), status, d.now())
		if err != nil {
			return 0, nil, storeError(err, secretNotFound)
		}
		d.clientChanged(clientID)
		return http.StatusOK, map[string]any{"secret": viewSecret(sec)}, nil
	})
}

// HandleDeleteSecret serves DELETE .../secrets/{secret_id}.
func HandleDeleteSecret(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		orgID, err := visibleOrg(r)
		if err != nil {
			return 0, nil, err
		}
		clientID := chi.URLParam(r, "client_id")
		if err := d.Store.DeleteSecret(r.Context(), orgID, clientID, chi.URLParam(r, "secret_id")); err != nil {
			return 0, nil, storeError(err, secretNotFound)
		}
		d.clientChanged(clientID)
		return http.StatusNoContent, nil, nil
	})
}

// readStatus reads the body of a PATCH that sets a secret's or an API key's
// status: {"status": "ACTIVE"|"INACTIVE"} and nothing else.
func readStatus(r *http.Request) (string, error) {
	body, err := readObject(r, false)
	if err != nil {
		return "", err
	}
	if err := body.only("status"); err != nil {
		return "", err
	}
	if !body.has("status") {
		return "", fieldError("status", "is required")
	}
	status, err := body.str("status")
	if err != nil {
		return "", err
	}
	if status != store.SecretActive && status != store.SecretInactive {
		return "", fieldError("status", "must be ACTIVE or INACTIVE")
	}
	return status, nil
}
