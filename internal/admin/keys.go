package admin

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/keyward/keyward/internal/keys"
)

type keyView struct {
	KID          string  `json:"kid"`
	Alg          string  `json:"alg"`
	State        string  `json:"state"`
	CreateTime   string  `json:"create_time"`
	ActivateTime *string `json:"activate_time"`
	RetireTime   *string `json:"retire_time"`
	RemoveTime   *string `json:"remove_time"`
	RevokeTime   *string `json:"revoke_time"`
}

// viewKeys is the answer of every keys route: the keys, and when the
// scheduled lifecycle will next make a new key sign (null when it cannot
// tell yet).
func viewKeys(m KeyManager) map[string]any {
	ks := m.Keys()
	views := make([]keyView, 0, len(ks))
	for _, k := range ks {
		views = append(views, keyView{
			KID: k.KID, Alg: k.Alg, State: k.State, CreateTime: formatTime(k.CreateTime),
			ActivateTime: formatTimePtr(k.ActivateTime), RetireTime: formatTimePtr(k.RetireTime),
			RemoveTime: formatTimePtr(k.RemoveTime), RevokeTime: formatTimePtr(k.RevokeTime),
		})
	}
	var next *string
	if at, ok := m.NextRotation(); ok {
		next = formatTimePtr(&at)
	}
	return map[string]any{"keys": views, "next_rotation_time": next}
}

func requireEnvAdmin(r *http.Request) error {
	if !principalFrom(r.Context()).envAdmin {
		return errForbidden("only an environment admin (keyward:admin) may manage signing keys")
	}
	return nil
}

// HandleListKeys serves GET /api/v1/keys.
func HandleListKeys(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		if err := requireEnvAdmin(r); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, viewKeys(d.Keys), nil
	})
}

// HandleRotateKeys serves POST /api/v1/keys/rotate: the next key signs from
// now on, the active one retires, and a new next key is published. It is
// 409 while the next key is too new for verifiers to have cached it.
func HandleRotateKeys(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		if err := requireEnvAdmin(r); err != nil {
			return 0, nil, err
		}
		err := d.Keys.Rotate(r.Context())
		var tooEarly *keys.TooEarlyError
		switch {
		case errors.As(err, &tooEarly):
			return 0, nil, errConflict("the next key " + tooEarly.KID + " was published too recently for verifiers' caches to hold it; it may sign from " +
				formatTime(tooEarly.Until))
		case err != nil:
			return 0, nil, storeError(err, "")
		}
		return http.StatusOK, viewKeys(d.Keys), nil
	})
}

// HandleRevokeKey serves POST /api/v1/keys/{kid}/revoke: an emergency for a
// key that may have leaked. The key leaves the JWKS at once and tokens it
// signed stop verifying; when it was active, the next key signs from now.
// It is 404 for an unknown (or already removed) kid and 409 when the key is
// revoked already.
func HandleRevokeKey(d Deps) http.Handler {
	return handler(d, func(r *http.Request) (int, any, error) {
		if err := requireEnvAdmin(r); err != nil {
			return 0, nil, err
		}
		kid := chi.URLParam(r, "kid")
		err := d.Keys.Revoke(r.Context(), kid)
		switch {
		case errors.Is(err, keys.ErrAlreadyRevoked):
			return 0, nil, errConflict("the signing key " + kid + " is revoked already")
		case err != nil:
			return 0, nil, storeError(err, "signing key not found")
		}
		return http.StatusOK, viewKeys(d.Keys), nil
	})
}
