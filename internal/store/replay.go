package store

import (
	"context"
	"fmt"
	"time"
)

// UseAssertionJTI records that the client's assertion jti was accepted and
// is valid until exp. It reports false when the jti was recorded before and
// has not expired at now: a replay, whichever replica saw it first. A
// client deleted meanwhile is ErrNotFound.
func (s *Store) UseAssertionJTI(ctx context.Context, clientID, jti string, exp, now time.Time) (bool, error) {
	// One statement is both the check and the record: two replicas that
	// see the same jti at once cannot both insert it. A row left over
	// from an expired assertion is taken over, since the jti was accepted
	// once only until that exp.
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO assertion_jtis (client_id, jti, exp) VALUES ($1, $2, $3)
		ON CONFLICT (client_id, jti) DO UPDATE SET exp = EXCLUDED.exp
		WHERE assertion_jtis.exp <= $4`, clientID, jti, exp, now)
	if err != nil {
		return false, fmt.Errorf("record assertion jti of %s: %w", clientID, classify(err))
	}
	return tag.RowsAffected() == 1, nil
}

// RevokeToken records that the access token jti of client clientID, valid
// until exp, is revoked. Revoking a token twice is no error. A client that
// no longer exists is ErrNotFound.
func (s *Store) RevokeToken(ctx context.Context, jti, clientID string, exp, now time.Time) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO revoked_tokens (jti, client_id, exp, revoke_time) VALUES ($1, $2, $3, $4)
		ON CONFLICT (jti) DO NOTHING`, jti, clientID, exp, now)
	if err != nil {
		return fmt.Errorf("revoke token of %s: %w", clientID, classify(err))
	}
	return nil
}

// TokenRevoked reports whether the access token jti was revoked.
func (s *Store) TokenRevoked(ctx context.Context, jti string) (bool, error) {
	var revoked bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1)`, jti).Scan(&revoked)
	if err != nil {
		return false, fmt.Errorf("token revoked: %w", classify(err))
	}
	return revoked, nil
}

// PurgeExpired deletes the assertion jtis and revoked token jtis that
// expired before before, and returns how many. Each table's exp index makes
// it a range scan of the expired rows only, and every replica may run it.
func (s *Store) PurgeExpired(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	for _, table := range []string{"assertion_jtis", "revoked_tokens"} {
		tag, err := s.pool.Exec(ctx, `DELETE FROM `+table+` WHERE exp < $1`, before)
		if err != nil {
			return n, fmt.Errorf("purge %s: %w", table, classify(err))
		}
		n += tag.RowsAffected()
	}
	return n, nil
}
