package admin

import (
	"errors"
	"net/http"

	"github.com/keyward/keyward/internal/keys"
	"github.com/keyward/keyward/internal/store"
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

func viewKeys(ks []store.SigningKey) map[string]any {
	views := make([]keyView, 0, len(ks))
	for _, k := range ks {
		views = append(views, keyView{
			KID: k.KID, Alg: k.Alg, State: k.State, CreateTime: formatTime(k.CreateTime),
			ActivateTime: formatTimePtr(k.ActivateTime), RetireTime: formatTimePtr(k.RetireTime),
			RemoveTime: formatTimePtr(k.RemoveTime), RevokeTime: formatTimePtr(k.RevokeTime),
		})
	}
	return map[string]any{"keys": views}
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
		return http.StatusOK, viewKeys(d.Keys.Keys()), nil
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
		return http.StatusOK, viewKeys(d.Keys.Keys()), nil
	})
}
