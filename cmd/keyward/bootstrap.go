package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/keyward/keyward/internal/admin"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/scope"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

var bootstrapIDPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,128}$`)

// minBootstrapSecret is the shortest bootstrap secret accepted: the secret
// guards the whole environment.
const minBootstrapSecret = 24

func checkBootstrapCredentials(id, plain string) error {
	if !bootstrapIDPattern.MatchString(id) {
		return &config.Error{Setting: "KEYWARD_BOOTSTRAP_CLIENT_ID", Problem: "must be 1 to 128 of A-Z a-z 0-9 . _ ~ -"}
	}
	if len(plain) < minBootstrapSecret || len(plain) > 512 {
		return &config.Error{Setting: "KEYWARD_BOOTSTRAP_CLIENT_SECRET", Problem: fmt.Sprintf("must be %d to 512 characters", minBootstrapSecret)}
	}
	return nil
}

// ensureBootstrapClient makes sure the environment-admin client id exists
// with plain as its only secret.
func ensureBootstrapClient(ctx context.Context, st *store.Store, ring *secret.Keyring, id, plain string) (bool, error) {
	now := time.Now().UTC()
	c := store.Client{
		ID: id, Name: "bootstrap admin", Description: "environment admin made from KEYWARD_BOOTSTRAP_CLIENT_ID",
		AuthMethod: store.AuthClientSecret, Scopes: []string{scope.Admin}, Expiry: 3600, CreateTime: now,
	}
	sec := admin.SecretRow(ring, id, plain, now)
	return st.EnsureEnvironmentClient(ctx, c, sec, func(s store.Secret) bool {
		return ring.Verify(plain, s.Hash, s.KEKID)
	})
}

// runBootstrap creates a new environment-admin client and prints its
// credentials, once.
func runBootstrap(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, rest, err := load("bootstrap", config.UsesDatabase|config.UsesKEK, args, getenv, stderr)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return &usageError{"bootstrap takes no arguments"}
	}
	ring, err := secret.NewKeyring(cfg.KEKs...)
	if err != nil {
		return &config.Error{Setting: "KEYWARD_KEY_ENCRYPTION_KEY", Problem: err.Error()}
	}
	st, err := openStore(ctx, cfg.DatabaseURL, nil, 0)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.MigrateUp(ctx, nil); err != nil {
		return err
	}
	now := time.Now().UTC()
	id, plain := secret.NewID("m2m_"), secret.NewClientSecret()
	c := store.Client{
		ID: id, Name: "environment admin", AuthMethod: store.AuthClientSecret,
		Scopes: []string{scope.Admin}, Expiry: 3600, CreateTime: now,
	}
	sec := admin.SecretRow(ring, id, plain, now)
	if _, err := st.CreateClient(ctx, c, &sec); err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(map[string]string{"client_id": id, "client_secret": plain})
}
