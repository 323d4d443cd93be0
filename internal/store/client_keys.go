package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// MaxKeysPerClient bounds the public keys one private_key_jwt client may
// register; an assertion without kid is tried against each.
const MaxKeysPerClient = 5

// ClientKey is a public key registered on a private_key_jwt client. Its
// private half is never stored.
type ClientKey struct {
	ID       string
	ClientID string
	// Alg is the one algorithm the key verifies: RS256, PS256 or ES256.
	Alg string
	// PublicJWK is the public key as a JWK, with no private member.
	PublicJWK json.RawMessage
	// Thumbprint is the key's RFC 7638 SHA-256 thumbprint, base64url.
	Thumbprint string
	// JWKKID is the kid of the JWK the key was registered with ("" for none).
	JWKKID       string
	CreateTime   time.Time
	LastUsedTime *time.Time
}

// Answers reports whether kid names the key: its id, its thumbprint, or the
// kid it was registered with.
func (k ClientKey) Answers(kid string) bool {
	return kid != "" && (kid == k.ID || kid == k.Thumbprint || kid == k.JWKKID)
}

const clientKeyColumns = `id, client_id, alg, public_jwk, thumbprint, coalesce(jwk_kid, ''), create_time, last_used_time`

func scanClientKey(row pgx.Row) (ClientKey, error) {
	var k ClientKey
	err := row.Scan(&k.ID, &k.ClientID, &k.Alg, &k.PublicJWK, &k.Thumbprint, &k.JWKKID, &k.CreateTime, &k.LastUsedTime)
	return k, err
}

// clientKeysJSON is a column expression of ClientByID: the keys of client c
// as a JSON array, oldest first.
const clientKeysJSON = `(SELECT coalesce(jsonb_agg(jsonb_build_object(
		'id', k.id, 'alg', k.alg, 'public_jwk', k.public_jwk, 'thumbprint', k.thumbprint,
		'jwk_kid', coalesce(k.jwk_kid, ''), 'create_time', k.create_time, 'last_used_time', k.last_used_time)
		ORDER BY k.create_time, k.id), '[]')
	FROM client_keys k WHERE k.client_id = c.id)`

func decodeClientKeys(clientID string, b []byte) ([]ClientKey, error) {
	var raw []struct {
		ID           string          `json:"id"`
		Alg          string          `json:"alg"`
		PublicJWK    json.RawMessage `json:"public_jwk"`
		Thumbprint   string          `json:"thumbprint"`
		JWKKID       string          `json:"jwk_kid"`
		CreateTime   time.Time       `json:"create_time"`
		LastUsedTime *time.Time      `json:"last_used_time"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	keys := make([]ClientKey, len(raw))
	for i, r := range raw {
		keys[i] = ClientKey{ID: r.ID, ClientID: clientID, Alg: r.Alg, PublicJWK: r.PublicJWK, Thumbprint: r.Thumbprint,
			JWKKID: r.JWKKID, CreateTime: r.CreateTime.UTC(), LastUsedTime: r.LastUsedTime}
		if r.LastUsedTime != nil {
			t := r.LastUsedTime.UTC()
			keys[i].LastUsedTime = &t
		}
	}
	return keys, nil
}

// ErrTooManyKeys is returned (wrapping ErrConflict) when a client already
// holds MaxKeysPerClient keys.
var ErrTooManyKeys = fmt.Errorf("%w: a client holds at most %d public keys", ErrConflict, MaxKeysPerClient)

// ErrKeyRegistered is returned (wrapping ErrConflict) when the client holds
// the same key, or a key registered with the same kid, already.
var ErrKeyRegistered = fmt.Errorf("%w: the client holds this key, or one registered with its kid, already", ErrConflict)

// AddClientKey registers k on the client of organization orgID, with the
// request's pending audit row (WithAudit). It returns ErrNotFound,
// ErrWrongAuthMethod (the client is not private_key_jwt), ErrTooManyKeys or
// ErrKeyRegistered.
func (s *Store) AddClientKey(ctx context.Context, orgID string, k ClientKey) (ClientKey, error) {
	var out ClientKey
	err := s.mutate(ctx, func(tx pgx.Tx) (*changed, error) {
		var method string
		var n int
		// The client's row lock serialises concurrent additions, so the
		// limit holds.
		err := tx.QueryRow(ctx, `
			SELECT c.auth_method, (SELECT count(*) FROM client_keys WHERE client_id = c.id)
			FROM clients c WHERE c.id = $1 AND c.organization_id = $2 FOR UPDATE`,
			k.ClientID, orgID).Scan(&method, &n)
		if err != nil {
			return nil, err
		}
		if method != AuthPrivateKeyJWT {
			return nil, ErrWrongAuthMethod
		}
		if n >= MaxKeysPerClient {
			return nil, ErrTooManyKeys
		}
		out, err = scanClientKey(tx.QueryRow(ctx, `
			INSERT INTO client_keys (id, client_id, alg, public_jwk, thumbprint, jwk_kid, create_time)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT DO NOTHING
			RETURNING `+clientKeyColumns,
			k.ID, k.ClientID, k.Alg, k.PublicJWK, k.Thumbprint, nullIfEmpty(k.JWKKID), k.CreateTime))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrKeyRegistered
		}
		if err != nil {
			return nil, err
		}
		return &changed{target: out.ID}, nil
	})
	if err != nil {
		return ClientKey{}, fmt.Errorf("add key to %s: %w", k.ClientID, classify(err))
	}
	return out, nil
}

// ClientKeys returns the keys of the client of organization orgID, oldest
// first, or ErrNotFound when there is no such client.
func (s *Store) ClientKeys(ctx context.Context, orgID, clientID string) ([]ClientKey, error) {
	var keys []ClientKey
	err := s.inSnapshot(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM clients WHERE id = $1 AND organization_id = $2`, clientID, orgID).Scan(&one); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+clientKeyColumns+` FROM client_keys WHERE client_id = $1 ORDER BY create_time, id`, clientID)
		if err != nil {
			return err
		}
		keys, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (ClientKey, error) { return scanClientKey(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("keys of %s: %w", clientID, classify(err))
	}
	if keys == nil {
		keys = []ClientKey{}
	}
	return keys, nil
}

// DeleteClientKey deletes a key of a client of organization orgID, with the
// request's pending audit row (WithAudit). It returns ErrNotFound when any
// of the three does not match.
func (s *Store) DeleteClientKey(ctx context.Context, orgID, clientID, keyID string) error {
	err := s.mutate(ctx, func(tx pgx.Tx) (*changed, error) {
		tag, err := tx.Exec(ctx, `
			DELETE FROM client_keys k USING clients c
			WHERE k.id = $3 AND k.client_id = $2 AND c.id = k.client_id AND c.organization_id = $1`,
			orgID, clientID, keyID)
		return deletedOne(tag, err, keyID)
	})
	if err != nil {
		return fmt.Errorf("delete key %s: %w", keyID, classify(err))
	}
	return nil
}
