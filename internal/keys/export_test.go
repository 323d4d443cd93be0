package keys

import (
	"context"
	"crypto"
)

// SetFailpoint makes every change to the keys call f between its steps; an
// error from f aborts the change there, as a crash would. For tests only.
func (m *Manager) SetFailpoint(f func(ctx context.Context, step string) error) { m.failpoint = f }

// ActiveSigner returns the private key that signs now. For tests only.
func (m *Manager) ActiveSigner() crypto.Signer { return m.state.Load().signKey }
