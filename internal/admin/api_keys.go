package admin

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

// API keys of api_key clients: long-lived bearer credentials that resource
// servers check by introspection. Like secrets, a plain key is shown once
// and kept as a keyed hash (and a sealed copy, for a key-encryption-key
// rewrap).

const apiKeyNotFound = "API key not found"

type apiKeyView struct {
	ID           string  `json:"id"`
	KeySuffix    string  `json:"key_suffix"`
	Status       string  `json:"status"`
	CreateTime   string  `json:"create_time"`
	UpdateTime   string  `json:"update_time"`
	LastUsedTime *string `json:"last_used_time"`
	ExpireTime   *string `json:"expire_time"`
}

func viewAPIKey(k store.APIKey) apiKeyView {
	return apiKeyView{ID: k.ID, KeySuffix: k.Suffix, Status: k.Status, CreateTime: formatTime(k.CreateTime),
		UpdateTime: formatTime(k.UpdateTime), LastUsedTime: formatTimePtr(k.LastUsedTime), ExpireTime: formatTimePtr(k.ExpireTime)}
}

// APIKeyRow returns the row that stores plain, an API key of clientID: a
// keyed hash for introspection's lookup and a sealed copy, both under the
// primary key-encryption key.
func APIKeyRow(ring *secret.Keyring, clientID, plain string, now time.Time, expire *time.Time) store.APIKey {
	id := secret.NewID(store.APIKeyPrefix)
	hash, kekID := ring.Hash(plain)
	sealed, _ := ring.Seal([]byte(plain), []byte(id))
	return store.APIKey{
		ID: id, ClientID: clientID, Hash: hash, Sealed: sealed, KEKID: kekID, Suffix: secret.Suffix(plain),
		Status: store.SecretActive, CreateTime: now, UpdateTime: now, ExpireTime: expire,
	}
}

// HandleCreateAPIKey serves POST .../clients/{client_id}/api_keys with an
// optional {"expire_time"}: a new active API key, whose plain text is in
// this answer only.
func HandleCreateAPIKey(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		orgID, err := visibleOrg(r)
		if err != nil {
			return 0, nil, err
		}
		body, err := readObject(r, true)
		if err != nil {
			return 0, nil, err
		}
		if err := body.only("expire_time"); err != nil {
			return 0, nil, err
		}
		now := d.now()
		var expire *time.Time
		if body.has("expire_time") && !body.isNull("expire_time") {
			s, err := body.str("expire_time")
			if err != nil {
				return 0, nil, err
			}
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return 0, nil, fieldError("expire_time", "must be an RFC 3339 time, such as 2030-01-31T12:00:00Z")
			}
			if !t.After(now) {
				return 0, nil, fieldError("expire_time", "must be in the future")
			}
			t = t.UTC().Truncate(time.Second)
			expire = &t
		}
		plain := secret.NewAPIKey()
		k, err := d.Store.AddAPIKey(r.Context(), orgID, APIKeyRow(d.Ring, chi.URLParam(r, "client_id"), plain, now, expire))
		switch {
		case errors.Is(err, store.ErrTooManyAPIKeys):
			return 0, nil, errConflict(fmt.Sprintf("the client already holds %d API keys, the most allowed; delete one first", store.MaxAPIKeysPerClient))
		case errors.Is(err, store.ErrWrongAuthMethod):
			return 0, nil, errConflict("the client's auth_method is not api_key; only api_key clients have API keys")
		case err != nil:
			return 0, nil, storeError(err, clientNotFound)
		}
		d.clientChanged(k.ClientID)
		return http.StatusCreated, map[string]any{"api_key": viewAPIKey(k), "plain_key": plain}, nil
	})
}

// HandleListAPIKeys serves GET .../clients/{client_id}/api_keys.
func HandleListAPIKeys(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		orgID, err := visibleOrg(r)
		if err != nil {
			return 0, nil, err
		}
		keys, err := d.Store.APIKeys(r.Context(), orgID, chi.URLParam(r, "client_id"))
		if err != nil {
			return 0, nil, storeError(err, clientNotFound)
		}
		views := make([]apiKeyView, 0, len(keys))
		for _, k := range keys {
			views = append(views, viewAPIKey(k))
		}
		return http.StatusOK, map[string]any{"api_keys": views}, nil
	})
}

// HandleUpdateAPIKey serves PATCH .../api_keys/{api_key_id} with {"status"}:
// an INACTIVE key introspects inactive until it is made ACTIVE again.
func HandleUpdateAPIKey(d Deps) http.Handler {
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
		k, err := d.Store.SetAPIKeyStatus(r.Context(), orgID, clientID, chi.URLParam(r, "api_key_id"), status, d.now())
		if err != nil {
			return 0, nil, storeError(err, apiKeyNotFound)
		}
		d.clientChanged(clientID)
		return http.StatusOK, map[string]any{"api_key": viewAPIKey(k)}, nil
	})
}

// HandleDeleteAPIKey serves DELETE .../api_keys/{api_key_id}.
func HandleDeleteAPIKey(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		orgID, err := visibleOrg(r)
		if err != nil {
			return 0, nil, err
		}
		clientID := chi.URLParam(r, "client_id")
		if err := d.Store.DeleteAPIKey(r.Context(), orgID, clientID, chi.URLParam(r, "api_key_id")); err != nil {
			return 0, nil, storeError(err, apiKeyNotFound)
		}
		d.clientChanged(clientID)
		return http.StatusNoContent, nil, nil
	})
}
