package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// RewrapTx is the transaction of a key-encryption-key rewrap: it holds the
// signing-key lock and row locks on every client secret it has read, so the
// sealed values it rewrites cannot change under it.
type RewrapTx struct {
	tx pgx.Tx
}

// Rewrap runs fn in one transaction holding the signing-key lock and
// commits if fn returns nil: every value is re-sealed, or none is.
func (s *Store) Rewrap(ctx context.Context, fn func(RewrapTx) error) error {
	return s.WithKeysLocked(ctx, func(k KeyTx) error {
		return fn(RewrapTx{tx: k.tx})
	})
}

// SigningKeys returns every signing key, oldest first.
func (r RewrapTx) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	return listKeys(ctx, r.tx)
}

// ResealSigningKey stores a signing key's private key sealed anew under the
// key-encryption key kekID. It returns ErrNotFound (wrapped) when there is
// no such key.
func (r RewrapTx) ResealSigningKey(ctx context.Context, kid string, sealed []byte, kekID string) error {
	tag, err := r.tx.Exec(ctx, `UPDATE signing_keys SET sealed_private = $2, kek_id = $3 WHERE kid = $1`, kid, sealed, kekID)
	if err == nil && tag.RowsAffected() == 0 {
		return fmt.Errorf("signing key %s: %w", kid, ErrNotFound)
	}
	return err
}

// Secrets returns every client secret, locked until the transaction ends.
func (r RewrapTx) Secrets(ctx context.Context) ([]Secret, error) {
	rows, err := r.tx.Query(ctx, `SELECT `+secretColumns+` FROM client_secrets ORDER BY id FOR UPDATE`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Secret, error) { return scanSecret(row) })
}

// ResealSecret stores a client secret's keyed hash and sealed copy made
// anew under the key-encryption key kekID; update_time stays, since the
// secret itself did not change. It returns ErrNotFound (wrapped) when there
// is no such secret.
func (r RewrapTx) ResealSecret(ctx context.Context, id string, hash, sealed []byte, kekID string) error {
	tag, err := r.tx.Exec(ctx, `UPDATE client_secrets SET hash = $2, sealed = $3, kek_id = $4 WHERE id = $1`, id, hash, sealed, kekID)
	if err == nil && tag.RowsAffected() == 0 {
		return fmt.Errorf("client secret %s: %w", id, ErrNotFound)
	}
	return err
}

// APIKeys returns every API key, locked until the transaction ends.
func (r RewrapTx) APIKeys(ctx context.Context) ([]APIKey, error) {
	rows, err := r.tx.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY id FOR UPDATE`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (APIKey, error) { return scanAPIKey(row) })
}

// ResealAPIKey stores an API key's keyed hash and sealed copy made anew
// under the key-encryption key kekID; update_time stays. It returns
// ErrNotFound (wrapped) when there is no such key.
func (r RewrapTx) ResealAPIKey(ctx context.Context, id string, hash, sealed []byte, kekID string) error {
	tag, err := r.tx.Exec(ctx, `UPDATE api_keys SET hash = $2, sealed = $3, kek_id = $4 WHERE id = $1`, id, hash, sealed, kekID)
	if err == nil && tag.RowsAffected() == 0 {
		return fmt.Errorf("API key %s: %w", id, ErrNotFound)
	}
	return err
}
