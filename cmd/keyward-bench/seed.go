package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/admin"
	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

type seedOptions struct {
	dbURL, kek, population string
	n, from, perOrg, batch int
}

// seedBatch is one transaction's worth of rows.
type seedBatch struct {
	orgIDs, orgNames []string
	clients          [][]any
	secrets          [][]any
}

var (
	clientCopyColumns = []string{"id", "organization_id", "name", "description", "auth_method",
		"scopes", "audience", "custom_claims", "expiry", "create_time", "update_time"}
	secretCopyColumns = []string{"id", "client_id", "hash", "sealed", "kek_id", "secret_suffix",
		"status", "create_time", "update_time"}
)

// seed inserts clients from..from+n-1 of the population, each with one
// active secret, perOrg to an organization, straight into keyward's
// database with COPY. Secrets are stored as keyward stores them
// (admin.SecretRow: a keyed hash, and a copy sealed with the secret's id as
// associated data) under the server's key-encryption key, so the server
// authenticates them as its own.
//
// The schema's triggers run as for any insert: each client bumps its
// version and notifies keyward_clients (replicas drop nothing they hold:
// the ids are new), and the list counters count the rows. Nothing is
// bypassed, so the figure is what an import through SQL would cost.
func seed(ctx context.Context, out io.Writer, o seedOptions) error {
	if o.dbURL == "" {
		return errors.New("seed: -database-url is required")
	}
	if o.n < 1 || o.from < 0 || o.perOrg < 1 || o.batch < 1 {
		return errors.New("seed: -n, -per-org and -batch must be positive, -from not negative")
	}
	keks, err := config.ParseKEKs(o.kek)
	if err != nil {
		return fmt.Errorf("seed: key-encryption key: %w", err)
	}
	ring, err := secret.NewKeyring(keks...)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	conn, err := pgx.Connect(ctx, o.dbURL)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	pop := newPopulation(o.population)
	run := fmt.Sprintf("%d+%d/%d", o.from, o.n, o.perOrg)
	now := time.Now().UTC().Truncate(time.Microsecond)
	end := o.from + o.n

	// Rows are made (hashed and sealed) one batch ahead of the COPY.
	batches := make(chan seedBatch, 1)
	genCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(batches)
		for lo := o.from; lo < end; lo += o.batch {
			b := makeSeedBatch(pop, ring, run, lo, min(lo+o.batch, end), o.from, o.perOrg, now)
			select {
			case batches <- b:
			case <-genCtx.Done():
				return
			}
		}
	}()

	start := time.Now()
	orgs, firstOrg := 0, ""
	for b := range batches {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `
				INSERT INTO organizations (id, display_name, create_time, update_time)
				SELECT id, name, $3, $3 FROM unnest($1::text[], $2::text[]) AS o(id, name)
				ON CONFLICT (id) DO NOTHING`, b.orgIDs, b.orgNames, now)
			if err != nil {
				return fmt.Errorf("organizations: %w", err)
			}
			orgs += int(tag.RowsAffected())
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"clients"}, clientCopyColumns, pgx.CopyFromRows(b.clients)); err != nil {
				return fmt.Errorf("copy clients: %w", err)
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"client_secrets"}, secretCopyColumns, pgx.CopyFromRows(b.secrets)); err != nil {
				return fmt.Errorf("copy client_secrets: %w", err)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		if firstOrg == "" {
			firstOrg = b.orgIDs[0]
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	el := time.Since(start)
	return json.NewEncoder(out).Encode(map[string]any{
		"scenario": "seed", "clients": o.n, "from": o.from, "organizations": orgs, "first_org": firstOrg,
		"seconds": el.Seconds(), "per_second": float64(o.n) / el.Seconds(),
	})
}

// makeSeedBatch makes the rows of clients lo..hi-1 and of their
// organizations.
func makeSeedBatch(pop population, ring *secret.Keyring, run string, lo, hi, from, perOrg int, now time.Time) seedBatch {
	var b seedBatch
	for k := (lo - from) / perOrg; k <= (hi-1-from)/perOrg; k++ {
		b.orgIDs = append(b.orgIDs, pop.orgID(run, k))
		b.orgNames = append(b.orgNames, fmt.Sprintf("Bench organization %s #%d", run, k))
	}
	tiers := []string{"gold", "silver", "bronze"}
	for i := lo; i < hi; i++ {
		id := pop.clientID(i)
		org := pop.orgID(run, (i-from)/perOrg)
		scopes := []string{"orders:read", "orders:write"}
		if i%3 == 0 {
			scopes = append(scopes, "reports:read")
		}
		claims, _ := json.Marshal([]store.CustomClaim{{Key: "tier", Value: tiers[i%3]}})
		b.clients = append(b.clients, []any{id, org, fmt.Sprintf("bench client %d", i), "seeded by keyward-bench",
			store.AuthClientSecret, scopes, []string{"https://api.bench.example"}, json.RawMessage(claims),
			3600, now, now})
		s := admin.SecretRow(ring, id, pop.plainSecret(i), now)
		b.secrets = append(b.secrets, []any{s.ID, s.ClientID, s.Hash, s.Sealed, s.KEKID, s.Suffix,
			s.Status, s.CreateTime, s.UpdateTime})
	}
	return b
}
