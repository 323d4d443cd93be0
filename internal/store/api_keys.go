package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// MaxAPIKeysPerClient bounds the API keys one api_key client may hold.
const MaxAPIKeysPerClient = 10

// APIKey is a long-lived key of an api_key client as stored: never the
// plain key. Its statuses are SecretActive and SecretInactive.
type APIKey struct {
	ID           string
	ClientID     string
	Hash         []byte
	Sealed       []byte
	KEKID        string
	Suffix       string
	Status       string
	CreateTime   time.Time
	UpdateTime   time.Time
	ExpireTime   *time.Time // nil: it does not expire
	LastUsedTime *time.Time
}

const apiKeyColumns = `id, client_id, hash, sealed, kek_id, key_suffix, status, create_time, update_time, expire_time, last_used_time`

func scanAPIKey(row pgx.Row) (APIKey, error) {
	var k APIKey
	err := row.Scan(&k.ID, &k.ClientID, &k.Hash, &k.Sealed, &k.KEKID, &k.Suffix, &k.Status,
		&k.CreateTime, &k.UpdateTime, &k.ExpireTime, &k.LastUsedTime)
	return k, err
}

// ErrTooManyAPIKeys is returned (wrapping ErrConflict) when a client already
// holds MaxAPIKeysPerClient API keys.
var ErrTooManyAPIKeys = fmt.Errorf("%w: a client holds at most %d API keys", ErrConflict, MaxAPIKeysPerClient)

// AddAPIKey adds k to the client of organization orgID, with the request's
// pending audit row (WithAudit). It returns ErrNotFound, ErrWrongAuthMethod
// (the client is not api_key) or ErrTooManyAPIKeys.
func (s *Store) AddAPIKey(ctx context.Context, orgID string, k APIKey) (APIKey, error) {
	var out APIKey
	err := s.mutate(ctx, func(tx pgx.Tx) (*changed, error) {
		var method string
		var n int
		err := tx.QueryRow(ctx, `
			SELECT c.auth_method, (SELECT count(*) FROM api_keys WHERE client_id = c.id)
			FROM clients c WHERE c.id = $1 AND c.organization_id = $2 FOR UPDATE`,
			k.ClientID, orgID).Scan(&method, &n)
		if err != nil {
			return nil, err
		}
		if method != AuthAPIKey {
			return nil, ErrWrongAuthMethod
		}
		if n >= MaxAPIKeysPerClient {
			return nil, ErrTooManyAPIKeys
		}
		out, err = scanAPIKey(tx.QueryRow(ctx, `
			INSERT INTO api_keys (id, client_id, hash, sealed, kek_id, key_suffix, status, create_time, update_time, expire_time)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)
			RETURNING `+apiKeyColumns,
			k.ID, k.ClientID, k.Hash, k.Sealed, k.KEKID, k.Suffix, k.Status, k.CreateTime, k.ExpireTime))
		if err != nil {
			return nil, err
		}
		return &changed{target: out.ID}, nil
	})
	if err != nil {
		return APIKey{}, fmt.Errorf("add API key to %s: %w", k.ClientID, classify(err))
	}
	return out, nil
}

// APIKeys returns the API keys of the client of organization orgID, oldest
// first, or ErrNotFound when there is no such client.
func (s *Store) APIKeys(ctx context.Context, orgID, clientID string) ([]APIKey, error) {
	var keys []APIKey
	err := s.inSnapshot(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM clients WHERE id = $1 AND organization_id = $2`, clientID, orgID).Scan(&one); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE client_id = $1 ORDER BY create_time, id`, clientID)
		if err != nil {
			return err
		}
		keys, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIKey, error) { return scanAPIKey(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("API keys of %s: %w", clientID, classify(err))
	}
	if keys == nil {
		keys = []APIKey{}
	}
	return keys, nil
}

// SetAPIKeyStatus sets the status of an API key of a client of organization
// orgID, with the request's pending audit row (WithAudit). It returns
// ErrNotFound when any of the three does not match.
func (s *Store) SetAPIKeyStatus(ctx context.Context, orgID, clientID, keyID, status string, now time.Time) (APIKey, error) {
	var k APIKey
	err := s.mutate(ctx, func(tx pgx.Tx) (*changed, error) {
		var err error
		k, err = scanAPIKey(tx.QueryRow(ctx, `
			UPDATE api_keys a SET status = $4,
				update_time = CASE WHEN a.status = $4 THEN a.update_time ELSE $5 END
			FROM clients c
			WHERE a.id = $3 AND a.client_id = $2 AND c.id = a.client_id AND c.organization_id = $1
			RETURNING a.id, a.client_id, a.hash, a.sealed, a.kek_id, a.key_suffix, a.status,
				a.create_time, a.update_time, a.expire_time, a.last_used_time`,
			orgID, clientID, keyID, status, now))
		if err != nil {
			return nil, err
		}
		return &changed{target: k.ID}, nil
	})
	if err != nil {
		return APIKey{}, fmt.Errorf("set status of API key %s: %w", keyID, classify(err))
	}
	return k, nil
}

// DeleteAPIKey deletes an API key of a client of organization orgID, with
// the request's pending audit row (WithAudit). It returns ErrNotFound when
// any of the three does not match.
func (s *Store) DeleteAPIKey(ctx context.Context, orgID, clientID, keyID string) error {
	err := s.mutate(ctx, func(tx pgx.Tx) (*changed, error) {
		tag, err := tx.Exec(ctx, `
			DELETE FROM api_keys a USING clients c
			WHERE a.id = $3 AND a.client_id = $2 AND c.id = a.client_id AND c.organization_id = $1`,
			orgID, clientID, keyID)
		return deletedOne(tag, err, keyID)
	})
	if err != nil {
		return fmt.Errorf("delete API key %s: %w", keyID, classify(err))
	}
	return nil
}

// APIKeyByHash finds the API key whose keyed hash is one of hashes (the
// plain key hashed under each configured key-encryption key), with its
// client: one lookup in the unique index on the hash. It returns
// ErrNotFound when no key matches.
func (s *Store) APIKeyByHash(ctx context.Context, hashes [][]byte) (APIKey, Client, error) {
	var k APIKey
	var c Client
	err := s.pool.QueryRow(ctx, `
		SELECT a.id, a.client_id, a.hash, a.sealed, a.kek_id, a.key_suffix, a.status,
			a.create_time, a.update_time, a.expire_time, a.last_used_time,
			c.id, coalesce(c.organization_id, ''), c.name, c.auth_method, c.scopes, c.audience
		FROM api_keys a JOIN clients c ON c.id = a.client_id
		WHERE a.hash = ANY($1)`, hashes).Scan(
		&k.ID, &k.ClientID, &k.Hash, &k.Sealed, &k.KEKID, &k.Suffix, &k.Status,
		&k.CreateTime, &k.UpdateTime, &k.ExpireTime, &k.LastUsedTime,
		&c.ID, &c.OrganizationID, &c.Name, &c.AuthMethod, &c.Scopes, &c.Audience)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return APIKey{}, Client{}, fmt.Errorf("API key: %w", ErrNotFound)
		}
		return APIKey{}, Client{}, fmt.Errorf("API key: %w", classify(err))
	}
	return k, c, nil
}

// RecordCredentialUse sets last_used_time of many credentials (client
// secrets, registered keys and API keys, told apart by their id's prefix)
// in one round trip, never moving a time backwards. Credentials deleted
// meanwhile are skipped.
func (s *Store) RecordCredentialUse(ctx context.Context, used map[string]time.Time) error {
	tables := map[string]string{"sks_": "client_secrets", ClientKeyPrefix: "client_keys", APIKeyPrefix: "api_keys"}
	ids := map[string][]string{}
	times := map[string][]time.Time{}
	for id, t := range used {
		for prefix, table := range tables {
			if len(id) > len(prefix) && id[:len(prefix)] == prefix {
				ids[table] = append(ids[table], id)
				times[table] = append(times[table], t)
			}
		}
	}
	b := &pgx.Batch{}
	for table := range ids {
		// table is one of three constants above, never caller input.
		b.Queue(`UPDATE `+table+` x SET last_used_time = GREATEST(x.last_used_time, u.t)
			FROM unnest($1::text[], $2::timestamptz[]) AS u(id, t)
			WHERE x.id = u.id`, ids[table], times[table])
	}
	if b.Len() == 0 {
		return nil
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("record credential use: %w", classify(err))
	}
	return nil
}

// The prefixes of the ids of registered keys and API keys.
const (
	ClientKeyPrefix = "key_"
	APIKeyPrefix    = "apk_"
)
