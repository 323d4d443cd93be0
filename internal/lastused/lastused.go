// Package lastused keeps credentials' last_used_time up to date without a
// database write per token request: uses are gathered in memory and written
// in one batch per interval.
package lastused

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Recorder gathers uses and flushes them in batches.
type Recorder struct {
	flush func(ctx context.Context, used map[string]time.Time) error
	log   *slog.Logger

	mu      sync.Mutex
	pending map[string]time.Time
}

// New returns a Recorder that hands its batches to flush.
func New(flush func(ctx context.Context, used map[string]time.Time) error, log *slog.Logger) *Recorder {
	return &Recorder{flush: flush, log: log, pending: map[string]time.Time{}}
}

// Record notes that credential id was used at t. It never blocks on I/O.
func (r *Recorder) Record(id string, t time.Time) {
	r.mu.Lock()
	if t.After(r.pending[id]) {
		r.pending[id] = t
	}
	r.mu.Unlock()
}

// Flush writes what has been recorded since the last flush. On failure the
// uses are kept for the next attempt.
func (r *Recorder) Flush(ctx context.Context) error {
	r.mu.Lock()
	batch := r.pending
	r.pending = map[string]time.Time{}
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := r.flush(ctx, batch); err != nil {
		r.mu.Lock()
		for id, t := range batch {
			if t.After(r.pending[id]) {
				r.pending[id] = t
			}
		}
		r.mu.Unlock()
		return err
	}
	return nil
}

// Run flushes every interval until ctx is done, then once more with a short
// deadline so that a graceful stop loses nothing.
func (r *Recorder) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := r.Flush(final); err != nil {
				r.log.Warn("could not record last use of credentials at shutdown", "err", err)
			}
			return
		case <-t.C:
			if err := r.Flush(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("record last use of credentials", "err", err)
			}
		}
	}
}
