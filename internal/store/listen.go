package store

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// The channels keyward's triggers notify (migrations/00002).
const (
	// ChannelClients carries the id of a client whose row or secrets changed.
	ChannelClients = "keyward_clients"
	// ChannelKeys says that the signing keys changed.
	ChannelKeys = "keyward_keys"
)

// Listener receives change notifications.
type Listener interface {
	// Notify is called for each notification on a channel listened to.
	Notify(channel, payload string)
	// Resync is called each time listening (re)starts: notifications sent
	// while nobody listened are lost, so what they would have said must be
	// found out another way.
	Resync()
}

// FirstResync returns a Listener that hands everything to l and a channel
// that closes once listening has started for the first time (after l's
// first Resync): a replica serves only then, so that no client it caches
// misses a change.
func FirstResync(l Listener) (Listener, <-chan struct{}) {
	f := &firstResync{Listener: l, done: make(chan struct{})}
	return f, f.done
}

type firstResync struct {
	Listener
	once sync.Once
	done chan struct{}
}

func (f *firstResync) Resync() {
	f.Listener.Resync()
	f.once.Do(func() { close(f.done) })
}

// Listen holds a connection that LISTENs on channels and hands every
// notification to l, until ctx is done. When the connection fails it
// reconnects with backoff (up to maxBackoff) and calls l.Resync once it
// listens again.
func (s *Store) Listen(ctx context.Context, log *slog.Logger, l Listener, channels ...string) {
	backoff := 100 * time.Millisecond
	const maxBackoff = 5 * time.Second
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, l, channels, func() { backoff = 100 * time.Millisecond })
		if ctx.Err() != nil {
			return
		}
		log.Warn("change notifications interrupted; reconnecting", "err", err, "in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (s *Store) listenOnce(ctx context.Context, l Listener, channels []string, listening func()) error {
	pooled, err := s.pool.Acquire(ctx)
	if err != nil {
		return classify(err)
	}
	// A listening connection must not go back to the pool still listening:
	// take it out of the pool and close it when done.
	conn := pooled.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	for _, ch := range channels {
		if _, err := conn.Exec(ctx, `LISTEN `+quoteIdent(ch)); err != nil {
			return classify(err)
		}
	}
	listening()
	l.Resync()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return classify(err)
		}
		l.Notify(n.Channel, n.Payload)
	}
}

func quoteIdent(s string) string {
	out := []byte{'"'}
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			out = append(out, '"')
		}
		out = append(out, s[i])
	}
	return string(append(out, '"'))
}
