// Package rewrap re-seals everything keyward keeps under a key-encryption
// key (KEK) with the primary one: signing keys' private halves, and client
// secrets' and API keys' sealed copies and keyed hashes. Once it has run with the new KEK
// first in the keyring, the old KEK can leave the configuration.
package rewrap

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

// Result counts what a rewrap did.
type Result struct {
	KEKID string // the primary KEK everything is sealed under now
	// SigningKeys and ClientSecrets were re-sealed; the Already counts were
	// under the primary KEK before.
	SigningKeys, ClientSecrets               int
	SigningKeysAlready, ClientSecretsAlready int
	// APIKeys were re-sealed and re-hashed; APIKeysAlready were under the
	// primary KEK before.
	APIKeys, APIKeysAlready int
}

// ErrHashMismatch is returned when a client secret's sealed copy does not
// hash to its stored hash: the row is inconsistent, and rewrapping it would
// silently change which secret authenticates.
var ErrHashMismatch = errors.New("the sealed copy of the client secret does not match its hash")

// Run re-seals, in one transaction, every signing key, client secret and API
// key not yet under the primary KEK of ring: a signing key's PKCS#8 private
// key with its kid as associated data, a client secret's or API key's plain
// value with its id as associated data, and its keyed hash recomputed with
// the primary KEK's pepper. Nothing changes when any value fails: it returns
// secret.ErrUnknownKEK or secret.ErrOpen (wrapped) for a value the ring
// cannot open, ErrHashMismatch (wrapped) for an inconsistent secret, and the
// store's errors.
func Run(ctx context.Context, st *store.Store, ring *secret.Keyring) (Result, error) {
	res := Result{KEKID: ring.PrimaryID()}
	err := st.Rewrap(ctx, func(tx store.RewrapTx) error {
		// Counted afresh on each attempt, should the transaction be retried.
		res = Result{KEKID: ring.PrimaryID()}
		ks, err := tx.SigningKeys(ctx)
		if err != nil {
			return err
		}
		for _, k := range ks {
			if k.KEKID == res.KEKID {
				res.SigningKeysAlready++
				continue
			}
			der, err := ring.Open(k.SealedPrivate, []byte(k.KID), k.KEKID)
			if err != nil {
				return fmt.Errorf("signing key %s: %w", k.KID, err)
			}
			sealed, kekID := ring.Seal(der, []byte(k.KID))
			clear(der)
			if err := tx.ResealSigningKey(ctx, k.KID, sealed, kekID); err != nil {
				return err
			}
			res.SigningKeys++
		}
		secrets, err := tx.Secrets(ctx)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if s.KEKID == res.KEKID {
				res.ClientSecretsAlready++
				continue
			}
			plain, err := ring.Open(s.Sealed, []byte(s.ID), s.KEKID)
			if err != nil {
				return fmt.Errorf("client secret %s: %w", s.ID, err)
			}
			if !ring.Verify(string(plain), s.Hash, s.KEKID) {
				clear(plain)
				return fmt.Errorf("client secret %s: %w", s.ID, ErrHashMismatch)
			}
			hash, kekID := ring.Hash(string(plain))
			sealed, _ := ring.Seal(plain, []byte(s.ID))
			clear(plain)
			if err := tx.ResealSecret(ctx, s.ID, hash, sealed, kekID); err != nil {
				return err
			}
			res.ClientSecrets++
		}
		apiKeys, err := tx.APIKeys(ctx)
		if err != nil {
			return err
		}
		for _, k := range apiKeys {
			if k.KEKID == res.KEKID {
				res.APIKeysAlready++
				continue
			}
			plain, err := ring.Open(k.Sealed, []byte(k.ID), k.KEKID)
			if err != nil {
				return fmt.Errorf("API key %s: %w", k.ID, err)
			}
			if !ring.Verify(string(plain), k.Hash, k.KEKID) {
				clear(plain)
				return fmt.Errorf("API key %s: %w", k.ID, ErrHashMismatch)
			}
			hash, kekID := ring.Hash(string(plain))
			sealed, _ := ring.Seal(plain, []byte(k.ID))
			clear(plain)
			if err := tx.ResealAPIKey(ctx, k.ID, hash, sealed, kekID); err != nil {
				return err
			}
			res.APIKeys++
		}
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("rewrap under key-encryption key %s: %w", ring.PrimaryID(), err)
	}
	return res, nil
}
