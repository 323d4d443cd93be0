package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Signing key states.
const (
	KeyNext    = "next"    // published, not yet signing
	KeyActive  = "active"  // signing
	KeyRetired = "retired" // published until its tokens have expired
	KeyRevoked = "revoked" // withdrawn
)

// SigningKey is one of the server's token-signing keys, its private half
// sealed under a key-encryption key.
type SigningKey struct {
	KID           string
	Alg           string
	State         string
	PublicJWK     json.RawMessage
	SealedPrivate []byte
	KEKID         string
	CreateTime    time.Time
	ActivateTime  *time.Time
	RetireTime    *time.Time
	RemoveTime    *time.Time
	RevokeTime    *time.Time
}

const keyColumns = `kid, alg, state, public_jwk, sealed_private, kek_id, create_time,
	activate_time, retire_time, remove_time, revoke_time`

func scanKey(row pgx.Row) (SigningKey, error) {
	var k SigningKey
	err := row.Scan(&k.KID, &k.Alg, &k.State, &k.PublicJWK, &k.SealedPrivate, &k.KEKID, &k.CreateTime,
		&k.ActivateTime, &k.RetireTime, &k.RemoveTime, &k.RevokeTime)
	return k, err
}

func listKeys(ctx context.Context, q querier) ([]SigningKey, error) {
	rows, err := q.Query(ctx, `SELECT `+keyColumns+` FROM signing_keys ORDER BY create_time, kid`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SigningKey, error) { return scanKey(r) })
}

// SigningKeys returns every signing key, oldest first.
func (s *Store) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	keys, err := listKeys(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", classify(err))
	}
	return keys, nil
}

// KeyTx is a transaction that holds the signing-key lock: the one place
// where key states change, so that replicas never rotate twice.
type KeyTx struct {
	tx pgx.Tx
	// asked is set by Audit: the change a request asked for.
	asked **changed
}

// keyLockID is the transaction-scoped advisory lock that serialises every
// signing-key change across replicas.
const keyLockID = 0x6b6579776172642

// WithKeysLocked runs fn in a transaction holding the signing-key lock and
// commits if fn returns nil. fn should read the keys again before deciding:
// another replica may have changed them while this one waited. When fn
// calls KeyTx.Audit, the request's pending audit row (WithAudit) is
// committed with the change.
func (s *Store) WithKeysLocked(ctx context.Context, fn func(KeyTx) error) error {
	return s.mutate(ctx, func(tx pgx.Tx) (*changed, error) {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, keyLockID); err != nil {
			return nil, err
		}
		var asked *changed
		if err := fn(KeyTx{tx: tx, asked: &asked}); err != nil {
			return nil, err
		}
		return asked, nil
	})
}

// Audit says that the transaction makes the change a request asked for, on
// target (a kid, or "" for the keys as a whole): the request's pending audit
// row, if any, is committed with it. A transaction that only keeps the keys
// on their schedule, or refuses the request, does not call it.
func (k KeyTx) Audit(target string) {
	*k.asked = &changed{target: target}
}

// Keys returns every signing key, oldest first.
func (k KeyTx) Keys(ctx context.Context) ([]SigningKey, error) {
	return listKeys(ctx, k.tx)
}

// Insert adds a new key.
func (k KeyTx) Insert(ctx context.Context, key SigningKey) error {
	_, err := k.tx.Exec(ctx, `
		INSERT INTO signing_keys (kid, alg, state, public_jwk, sealed_private, kek_id, create_time,
			activate_time, retire_time, remove_time, revoke_time)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		key.KID, key.Alg, key.State, key.PublicJWK, key.SealedPrivate, key.KEKID, key.CreateTime,
		key.ActivateTime, key.RetireTime, key.RemoveTime, key.RevokeTime)
	return err
}

// Update stores the state and times of an existing key.
func (k KeyTx) Update(ctx context.Context, key SigningKey) error {
	tag, err := k.tx.Exec(ctx, `
		UPDATE signing_keys SET state = $2, activate_time = $3, retire_time = $4, remove_time = $5, revoke_time = $6
		WHERE kid = $1`,
		key.KID, key.State, key.ActivateTime, key.RetireTime, key.RemoveTime, key.RevokeTime)
	if err == nil && tag.RowsAffected() == 0 {
		return fmt.Errorf("signing key %s: %w", key.KID, ErrNotFound)
	}
	return err
}

// Delete removes a key for good: a retired or revoked key whose tokens have
// all expired, or a next key that never signed. It returns ErrNotFound
// (wrapped) when there is no such key.
func (k KeyTx) Delete(ctx context.Context, kid string) error {
	tag, err := k.tx.Exec(ctx, `DELETE FROM signing_keys WHERE kid = $1`, kid)
	if err == nil && tag.RowsAffected() == 0 {
		return fmt.Errorf("signing key %s: %w", kid, ErrNotFound)
	}
	return err
}
