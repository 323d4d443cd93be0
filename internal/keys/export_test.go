package keys

import "context"

// SetFailpoint makes every change to the keys call f between its steps; an
// error from f aborts the change there, as a crash would. For tests only.
func (m *Manager) SetFailpoint(f func(ctx context.Context, step string) error) { m.failpoint = f }
