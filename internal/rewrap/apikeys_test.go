package rewrap_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/admin"
	"github.com/keyward/keyward/internal/keys"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/rewrap"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

// API keys are found by their keyed hash: after a rewrap, a ring with the
// new KEK alone still finds every one, so the old KEK can go.
func TestRewrapAPIKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := pgtest.NewStore(t)
	now := time.Now().UTC().Truncate(time.Second)
	oldRing := ring(t, kek(1))
	if err := keys.New(st, oldRing, cfg, func() time.Time { return now }, quiet()).Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateOrganization(ctx, store.Organization{ID: "org_k", DisplayName: "K", CreateTime: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateClient(ctx, store.Client{ID: "m2m_k", OrganizationID: "org_k", Name: "k", AuthMethod: store.AuthAPIKey,
		Expiry: 3600, CreateTime: now}, nil); err != nil {
		t.Fatal(err)
	}
	var plains []string
	for range 2 {
		plain := secret.NewAPIKey()
		if _, err := st.AddAPIKey(ctx, "org_k", admin.APIKeyRow(oldRing, "m2m_k", plain, now, nil)); err != nil {
			t.Fatal(err)
		}
		plains = append(plains, plain)
	}

	newOnly := ring(t, kek(2))
	for _, p := range plains {
		if _, _, err := st.APIKeyByHash(ctx, newOnly.HashAll(p)); err == nil {
			t.Fatal("the new KEK alone finds a key hashed under the old one")
		}
	}
	both := ring(t, kek(2), kek(1))
	for _, p := range plains {
		if _, _, err := st.APIKeyByHash(ctx, both.HashAll(p)); err != nil {
			t.Fatalf("while both KEKs are configured, a key under the old one is not found: %v", err)
		}
	}
	res, err := rewrap.Run(ctx, st, both)
	if err != nil {
		t.Fatal(err)
	}
	if res.APIKeys != 2 || res.APIKeysAlready != 0 {
		t.Errorf("result %+v, want 2 API keys rewrapped", res)
	}
	for _, p := range plains {
		k, c, err := st.APIKeyByHash(ctx, newOnly.HashAll(p))
		if err != nil || c.ID != "m2m_k" || k.KEKID != newOnly.PrimaryID() {
			t.Fatalf("after the rewrap the new KEK alone finds %+v of %s (%v)", k, c.ID, err)
		}
		if opened, err := newOnly.Open(k.Sealed, []byte(k.ID), k.KEKID); err != nil || string(opened) != p {
			t.Errorf("the sealed copy does not open under the new KEK: %v", err)
		}
	}
	again, err := rewrap.Run(ctx, st, newOnly)
	if err != nil || again.APIKeys != 0 || again.APIKeysAlready != 2 {
		t.Errorf("a second rewrap: %+v, %v; want nothing left to rewrap", again, err)
	}
}
