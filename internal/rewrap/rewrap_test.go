package rewrap_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/admin"
	"github.com/keyward/keyward/internal/keys"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/rewrap"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

const issuer = "https://issuer.test"

func kek(b byte) []byte { return bytes.Repeat([]byte{b}, secret.KEKSize) }

func ring(t *testing.T, keks ...[]byte) *secret.Keyring {
	t.Helper()
	r, err := secret.NewKeyring(keks...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var cfg = keys.Config{
	Alg: keys.ES256, JWKSMaxAge: 15 * time.Minute, PublishLead: 30 * time.Minute,
	RotationPeriod: time.Hour, MaxTokenLifetime: 24 * time.Hour,
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func sign(t *testing.T, m *keys.Manager, now time.Time) string {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{
		"iss": issuer, "sub": "m2m_x", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(12 * time.Hour).Unix(),
	})
	tok, err := m.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// secretRow is a client_secrets row as stored.
type secretRow struct {
	ID, KEKID    string
	Hash, Sealed []byte
}

func secretRows(t *testing.T, st *store.Store) []secretRow {
	t.Helper()
	rows, err := st.Pool().Query(context.Background(), `SELECT id, kek_id, hash, sealed FROM client_secrets ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []secretRow
	for rows.Next() {
		var r secretRow
		if err := rows.Scan(&r.ID, &r.KEKID, &r.Hash, &r.Sealed); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestRewrap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := pgtest.NewStore(t)
	now := time.Now().UTC().Truncate(time.Second)
	clock := func() time.Time { return now }
	oldRing := ring(t, kek(1))

	// Three signing keys (retired, active, next) and two client secrets,
	// all under the old KEK, and a token of each signing key that signed.
	m := keys.New(st, oldRing, cfg, clock, quiet())
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	tokens := []string{sign(t, m, now)}
	now = now.Add(cfg.RotationPeriod)
	if _, err := m.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	tokens = append(tokens, sign(t, m, now))
	plains := map[string]string{}
	for _, name := range []string{"a", "b"} {
		id, plain := secret.NewID("m2m_"), secret.NewClientSecret()
		row := admin.SecretRow(oldRing, id, plain, now)
		if _, err := st.CreateClient(ctx, store.Client{ID: id, Name: name, AuthMethod: store.AuthClientSecret, Expiry: 3600, CreateTime: now}, &row); err != nil {
			t.Fatal(err)
		}
		plains[row.ID] = plain
	}

	// Step one of the procedure: the new KEK first, the old one second.
	both := ring(t, kek(2), kek(1))
	res, err := rewrap.Run(ctx, st, both)
	if err != nil {
		t.Fatalf("rewrap: %v", err)
	}
	t.Run("it counts what it rewrapped", func(t *testing.T) {
		if res.SigningKeys != 3 || res.ClientSecrets != 2 || res.SigningKeysAlready != 0 || res.ClientSecretsAlready != 0 {
			t.Errorf("result %+v, want 3 signing keys and 2 client secrets rewrapped", res)
		}
		if res.KEKID != both.PrimaryID() {
			t.Errorf("result names KEK %s, want the primary %s", res.KEKID, both.PrimaryID())
		}
	})

	newOnly := ring(t, kek(2))
	t.Run("every signing key is sealed under the new KEK and opens without the old one", func(t *testing.T) {
		ks, err := st.SigningKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ks {
			if k.KEKID != newOnly.PrimaryID() {
				t.Errorf("key %s is under KEK %s, want %s", k.KID, k.KEKID, newOnly.PrimaryID())
			}
			if _, err := newOnly.Open(k.SealedPrivate, []byte(k.KID), k.KEKID); err != nil {
				t.Errorf("key %s does not open with the new KEK alone: %v", k.KID, err)
			}
		}
	})
	t.Run("a replica with only the new KEK signs, and old tokens still verify", func(t *testing.T) {
		replica := keys.New(st, newOnly, cfg, clock, quiet())
		if err := replica.Reload(ctx); err != nil {
			t.Fatalf("Reload with the new KEK alone: %v", err)
		}
		if replica.ActiveKID() != m.ActiveKID() {
			t.Errorf("the replica signs with %s, want %s", replica.ActiveKID(), m.ActiveKID())
		}
		for i, tok := range append(tokens, sign(t, replica, now)) {
			if _, err := replica.Verify(tok, issuer); err != nil {
				t.Errorf("token %d does not verify: %v", i, err)
			}
		}
		// The rotation path seals new keys under the new KEK too.
		now = now.Add(cfg.RotationPeriod)
		if _, err := replica.Maintain(ctx); err != nil {
			t.Fatalf("Maintain with the new KEK alone: %v", err)
		}
	})
	t.Run("a replica with only the old KEK can no longer load the keys", func(t *testing.T) {
		stale := keys.New(st, oldRing, cfg, clock, quiet())
		if err := stale.Reload(ctx); !errors.Is(err, secret.ErrUnknownKEK) {
			t.Errorf("Reload with the old KEK = %v, want ErrUnknownKEK", err)
		}
	})
	t.Run("client secrets authenticate and open with the new KEK alone", func(t *testing.T) {
		rows := secretRows(t, st)
		if len(rows) != 2 {
			t.Fatalf("%d secrets, want 2", len(rows))
		}
		for _, r := range rows {
			plain := plains[r.ID]
			if r.KEKID != newOnly.PrimaryID() {
				t.Errorf("secret %s is under KEK %s, want %s", r.ID, r.KEKID, newOnly.PrimaryID())
			}
			if !newOnly.Verify(plain, r.Hash, r.KEKID) {
				t.Errorf("secret %s does not verify against its hash with the new KEK", r.ID)
			}
			if newOnly.Verify("kw_sk_wrong", r.Hash, r.KEKID) {
				t.Errorf("a wrong secret verifies against %s", r.ID)
			}
			got, err := newOnly.Open(r.Sealed, []byte(r.ID), r.KEKID)
			if err != nil || string(got) != plain {
				t.Errorf("the sealed copy of %s opens to %q, %v; want the plain secret", r.ID, got, err)
			}
			// Sealed for this secret's id only.
			if _, err := newOnly.Open(r.Sealed, []byte("sks_other"), r.KEKID); err == nil {
				t.Errorf("the sealed copy of %s opens with another id", r.ID)
			}
			if oldRing.Verify(plain, r.Hash, oldRing.PrimaryID()) {
				t.Errorf("secret %s still has the hash made with the old KEK's pepper", r.ID)
			}
		}
	})
	t.Run("a second rewrap finds everything done", func(t *testing.T) {
		res, err := rewrap.Run(ctx, st, newOnly)
		if err != nil {
			t.Fatal(err)
		}
		if res.SigningKeys != 0 || res.ClientSecrets != 0 || res.SigningKeysAlready != 4 || res.ClientSecretsAlready != 2 {
			t.Errorf("result %+v, want nothing rewrapped, 4 signing keys and 2 secrets already done", res)
		}
	})

	t.Run("a value the keyring cannot open changes nothing at all", func(t *testing.T) {
		stray := admin.SecretRow(ring(t, kek(9)), secret.NewID("m2m_"), secret.NewClientSecret(), now)
		if _, err := st.CreateClient(ctx, store.Client{ID: stray.ClientID, Name: "stray", AuthMethod: store.AuthClientSecret, Expiry: 3600, CreateTime: now}, &stray); err != nil {
			t.Fatal(err)
		}
		// The next KEK roll, with a secret nobody can open in the table.
		before, _ := st.SigningKeys(ctx)
		beforeSecrets := secretRows(t, st)
		_, err := rewrap.Run(ctx, st, ring(t, kek(3), kek(2)))
		if !errors.Is(err, secret.ErrUnknownKEK) {
			t.Fatalf("rewrap = %v, want ErrUnknownKEK", err)
		}
		after, _ := st.SigningKeys(ctx)
		for i := range after {
			if after[i].KEKID != before[i].KEKID || !bytes.Equal(after[i].SealedPrivate, before[i].SealedPrivate) {
				t.Errorf("signing key %s was rewrapped although the rewrap failed", after[i].KID)
			}
		}
		for i, r := range secretRows(t, st) {
			if r.KEKID != beforeSecrets[i].KEKID || !bytes.Equal(r.Hash, beforeSecrets[i].Hash) {
				t.Errorf("secret %s was rewrapped although the rewrap failed", r.ID)
			}
		}
	})
	t.Run("a secret whose sealed copy does not match its hash is refused", func(t *testing.T) {
		id, plain := secret.NewID("m2m_"), secret.NewClientSecret()
		row := admin.SecretRow(newOnly, id, plain, now)
		row.Hash, _ = newOnly.Hash("kw_sk_another")
		if _, err := st.CreateClient(ctx, store.Client{ID: id, Name: "odd", AuthMethod: store.AuthClientSecret, Expiry: 3600, CreateTime: now}, &row); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Pool().Exec(ctx, `DELETE FROM clients WHERE id = $1`, stray(t, st)); err != nil {
			t.Fatal(err)
		}
		if _, err := rewrap.Run(ctx, st, ring(t, kek(3), kek(2))); !errors.Is(err, rewrap.ErrHashMismatch) {
			t.Errorf("rewrap = %v, want ErrHashMismatch", err)
		}
	})
}

// stray returns the id of the client named stray.
func stray(t *testing.T, st *store.Store) string {
	t.Helper()
	var id string
	if err := st.Pool().QueryRow(context.Background(), `SELECT id FROM clients WHERE name = 'stray'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
