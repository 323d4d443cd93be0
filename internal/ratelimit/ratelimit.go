// Package ratelimit counts events per key (a client id, a source address)
// in fixed windows, to turn away callers that fail too often.
package ratelimit

import (
	"sync"
	"time"
)

// Limiter allows Limit events per key per Window. It is safe for
// concurrent use and holds at most MaxKeys keys: past that it forgets the
// expired ones, and if every key is live, it starts over rather than grow
// (failing open: a limiter must never be what takes the server down).
type Limiter struct {
	limit   int
	window  time.Duration
	maxKeys int
	now     func() time.Time

	mu      sync.Mutex
	buckets map[string]bucket
}

type bucket struct {
	start time.Time
	n     int
}

// New returns a Limiter of limit events per key per window.
func New(limit int, window time.Duration, maxKeys int, now func() time.Time) *Limiter {
	return &Limiter{limit: limit, window: window, maxKeys: maxKeys, now: now, buckets: map[string]bucket{}}
}

// Blocked reports whether key has used up its events in the current
// window, and when the window ends.
func (l *Limiter) Blocked(key string) (retryAfter time.Duration, blocked bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok || now.Sub(b.start) >= l.window || b.n < l.limit {
		return 0, false
	}
	return b.start.Add(l.window).Sub(now), true
}

// Add counts one event for key and reports whether key is now over its
// limit (and when its window ends).
func (l *Limiter) Add(key string) (retryAfter time.Duration, over bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok || now.Sub(b.start) >= l.window {
		if !ok && len(l.buckets) >= l.maxKeys {
			l.sweep(now)
		}
		b = bucket{start: now}
	}
	b.n++
	l.buckets[key] = b
	if b.n > l.limit {
		return b.start.Add(l.window).Sub(now), true
	}
	return 0, false
}

// sweep drops expired windows, or everything when none has expired.
func (l *Limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.start) >= l.window {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= l.maxKeys {
		clear(l.buckets)
	}
}
