// Package clientcache keeps the clients the token endpoint authenticates in
// memory, so that a warm token request makes no database round trip. Every
// replica listens for change notifications (a change takes effect within
// moments everywhere) and checks its entries' versions periodically as a
// safety net for notifications it missed. Introspection of client-signed
// tokens finds clients by a token's iss through the same entries.
package clientcache

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/store"
)

// Loader reads clients from the database.
type Loader interface {
	// ClientByID returns the client with its secrets, or an error wrapping
	// store.ErrNotFound or store.ErrUnavailable.
	ClientByID(ctx context.Context, id string) (store.Client, error)
	// ClientVersions returns the versions of those of ids that still exist.
	ClientVersions(ctx context.Context, ids []string) (map[string]int64, error)
	// ClientIDByIssuer returns the id of the client whose id or issuer
	// alias iss is, or an error wrapping store.ErrNotFound or
	// store.ErrUnavailable.
	ClientIDByIssuer(ctx context.Context, iss string) (string, error)
}

// Config sizes and times the cache.
type Config struct {
	// Size bounds the number of entries; the least recently used go first.
	Size int
	// NegativeTTL is how long an unknown client id is remembered as
	// unknown, so that a flood of made-up ids does not reach the database.
	NegativeTTL time.Duration
	// StaleTTL is how long an entry may serve after it was last confirmed
	// fresh; while the database is reachable, confirmations come every
	// CheckInterval, so it matters only when the database is down.
	StaleTTL time.Duration
	// CheckInterval is how often every entry's version is compared with the
	// database.
	CheckInterval time.Duration
}

// Cache is a bounded LRU of clients by id. It is safe for concurrent use.
type Cache struct {
	load Loader
	cfg  Config
	now  func() time.Time
	log  *slog.Logger

	mu      sync.Mutex
	lru     entry              // the list's root: lru.next is the most recently used entry, lru.prev the least
	items   map[string]*entry  // by client id
	flights map[string]*flight // loads in progress
	hits    uint64
	misses  uint64

	// aliases maps the issuer aliases of the cached clients to their
	// client ids: filled when a client is cached, emptied of its aliases
	// when it leaves. It is a hint, confirmed against the client entry.
	aliases map[string]string
	// unknownIssuers remembers, until NegativeTTL, the iss values that
	// named no client, so that a flood of made-up issuers does not reach
	// the database. Any change of any client forgets them all: the change
	// may have added one of them as an alias.
	unknownIssuers map[string]time.Time
	issuerFlights  map[string]*issuerFlight
}

// maxUnknownIssuers bounds the issuers remembered as unknown, whatever the
// cache's size: an iss may be a kilobyte, and made-up ones cost a caller
// nothing.
const maxUnknownIssuers = 10000

// issuerFlight is one lookup of an iss that concurrent misses share.
type issuerFlight struct {
	done  chan struct{}
	id    string
	err   error
	stale bool
}

type entry struct {
	prev, next *entry // in the cache's LRU list
	id         string
	enc        []byte // the client, encoded (codec.go); nil when missing
	version    int64  // the client's Version
	aliases    bool   // whether the client has issuer aliases
	missing    bool   // the client does not exist
	verified   int64  // when the entry was last known to match the database, in Unix nanoseconds
}

// newEntry is the entry of client id, cl. Its id shares the encoding's
// bytes: a copy of the caller's id, which may be part of a longer string,
// such as a request's credentials, that the cache must not keep alive.
func newEntry(id string, cl store.Client, now time.Time) *entry {
	enc := encode(id, cl)
	return &entry{id: idOf(enc), enc: enc, version: cl.Version, aliases: len(cl.ClientSigned.IssuerAliases) > 0,
		verified: now.UnixNano()}
}

// age is how long ago the entry was last confirmed fresh.
func (e *entry) age(now time.Time) time.Duration { return time.Duration(now.UnixNano() - e.verified) }

// issuerAliases returns the issuer aliases of e's client.
func (e *entry) issuerAliases() []string {
	if !e.aliases {
		return nil
	}
	return decode(e.enc).ClientSigned.IssuerAliases
}

// flight is one load of an id that concurrent misses share. A change of
// the id during the load makes its result unfit to cache.
type flight struct {
	done   chan struct{}
	client store.Client
	err    error
	stale  bool
}

// New returns an empty cache.
func New(load Loader, cfg Config, now func() time.Time, log *slog.Logger) *Cache {
	if cfg.Size < 1 {
		cfg.Size = 1
	}
	return &Cache{
		load: load, cfg: cfg, now: now, log: log,
		items: map[string]*entry{}, flights: map[string]*flight{},
		aliases: map[string]string{}, unknownIssuers: map[string]time.Time{}, issuerFlights: map[string]*issuerFlight{},
	}
}

// ClientByID returns the client from memory, or loads it with one query.
// It returns an error wrapping store.ErrNotFound for an unknown client and
// store.ErrUnavailable when the client is not in memory (or stale) and the
// database cannot be reached.
func (c *Cache) ClientByID(ctx context.Context, id string) (store.Client, error) {
	now := c.now()
	c.mu.Lock()
	if e, ok := c.items[id]; ok {
		fresh := e.age(now) < c.cfg.StaleTTL
		if e.missing {
			fresh = e.age(now) < c.cfg.NegativeTTL
		}
		if fresh {
			c.toFront(e)
			c.hits++
			c.mu.Unlock()
			if e.missing {
				return store.Client{}, store.ErrNotFound
			}
			return decode(e.enc), nil
		}
	}
	c.misses++
	f, leader := c.flights[id], false
	if f == nil {
		f, leader = &flight{done: make(chan struct{})}, true
		c.flights[id] = f
	}
	c.mu.Unlock()

	if leader {
		f.client, f.err = c.load.ClientByID(context.WithoutCancel(ctx), id)
		c.mu.Lock()
		delete(c.flights, id)
		if !f.stale {
			switch {
			case f.err == nil:
				c.put(newEntry(id, f.client, now))
			case errors.Is(f.err, store.ErrNotFound):
				c.put(&entry{id: strings.Clone(id), missing: true, verified: now.UnixNano()})
			}
		}
		c.mu.Unlock()
		close(f.done)
	} else {
		select {
		case <-f.done:
		case <-ctx.Done():
			return store.Client{}, ctx.Err()
		}
	}
	if f.err != nil {
		return store.Client{}, f.err
	}
	return f.client, nil
}

// put adds or replaces an entry and evicts the least recently used ones
// beyond the bound. c.mu must be held.
func (c *Cache) put(e *entry) {
	if old, ok := c.items[e.id]; ok {
		c.remove(old)
	}
	c.items[e.id] = e
	c.toFront(e)
	c.index(e)
	for len(c.items) > c.cfg.Size {
		c.remove(c.lru.prev)
	}
}

// toFront makes e, listed or not, the most recently used entry. c.mu must
// be held.
func (c *Cache) toFront(e *entry) {
	if c.lru.next == nil { // the empty list, before its first entry
		c.lru.next, c.lru.prev = &c.lru, &c.lru
	}
	if e.prev != nil {
		e.prev.next, e.next.prev = e.next, e.prev
	}
	e.prev, e.next = &c.lru, c.lru.next
	c.lru.next.prev = e
	c.lru.next = e
}

// remove drops an entry and its aliases. c.mu must be held.
func (c *Cache) remove(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	delete(c.items, e.id)
	c.unindex(e)
}

// index adds the issuer aliases of e's client. c.mu must be held.
func (c *Cache) index(e *entry) {
	for _, a := range e.issuerAliases() {
		c.aliases[a] = e.id
		delete(c.unknownIssuers, a)
	}
}

// unindex removes the issuer aliases of e's client. c.mu must be held.
func (c *Cache) unindex(e *entry) {
	for _, a := range e.issuerAliases() {
		if c.aliases[a] == e.id {
			delete(c.aliases, a)
		}
	}
}

// Invalidate forgets id, and makes a load of it in progress uncacheable.
// Since any change of a client may have given it a new issuer alias, the
// issuers known to name no client are forgotten too.
func (c *Cache) Invalidate(id string) {
	c.mu.Lock()
	if e, ok := c.items[id]; ok {
		c.remove(e)
	}
	if f := c.flights[id]; f != nil {
		f.stale = true
	}
	c.forgetUnknownIssuers()
	c.mu.Unlock()
}

// forgetUnknownIssuers drops the negative issuer entries and makes the
// issuer lookups in progress uncacheable. c.mu must be held.
func (c *Cache) forgetUnknownIssuers() {
	clear(c.unknownIssuers)
	for _, f := range c.issuerFlights {
		f.stale = true
	}
}

// ClientByIssuer returns the client a client-signed token's iss names: the
// client whose id it is, or the client holding it as an issuer alias. Warm,
// it answers from memory; a miss costs one query to find the client's id
// (remembered until NegativeTTL when there is none) and, if the client is
// not cached, the one query of ClientByID. It returns an error wrapping
// store.ErrNotFound for an iss that names no client and store.ErrUnavailable
// when the database is needed and cannot be reached.
func (c *Cache) ClientByIssuer(ctx context.Context, iss string) (store.Client, error) {
	now := c.now()
	c.mu.Lock()
	id := ""
	if e, ok := c.items[iss]; ok && !e.missing {
		id = iss
	} else if owner, ok := c.aliases[iss]; ok {
		id = owner
	} else if t, ok := c.unknownIssuers[iss]; ok && now.Sub(t) < c.cfg.NegativeTTL {
		c.hits++
		c.mu.Unlock()
		return store.Client{}, store.ErrNotFound
	}
	c.mu.Unlock()
	if id != "" {
		cl, err := c.ClientByID(ctx, id)
		// The entry may have been reloaded without the alias since the
		// index was read: then the database decides.
		if err != nil || cl.ID == iss || slices.Contains(cl.ClientSigned.IssuerAliases, iss) {
			return cl, err
		}
	}
	id, err := c.lookupIssuer(ctx, iss, now)
	if err != nil {
		return store.Client{}, err
	}
	cl, err := c.ClientByID(ctx, id)
	if err != nil {
		return store.Client{}, err
	}
	if cl.ID != iss && !slices.Contains(cl.ClientSigned.IssuerAliases, iss) {
		// The alias moved between the two reads; the next request looks
		// again.
		return store.Client{}, store.ErrNotFound
	}
	return cl, nil
}

// lookupIssuer finds the id of the client iss names in the database, one
// query shared by concurrent misses, and remembers an iss that names none.
func (c *Cache) lookupIssuer(ctx context.Context, iss string, now time.Time) (string, error) {
	c.mu.Lock()
	c.misses++
	f, leader := c.issuerFlights[iss], false
	if f == nil {
		f, leader = &issuerFlight{done: make(chan struct{})}, true
		c.issuerFlights[iss] = f
	}
	c.mu.Unlock()
	if leader {
		f.id, f.err = c.load.ClientIDByIssuer(context.WithoutCancel(ctx), iss)
		c.mu.Lock()
		delete(c.issuerFlights, iss)
		if !f.stale && errors.Is(f.err, store.ErrNotFound) {
			// Past the bound they are forgotten at once rather than grow.
			if len(c.unknownIssuers) >= min(c.cfg.Size, maxUnknownIssuers) {
				clear(c.unknownIssuers)
			}
			c.unknownIssuers[iss] = now
		}
		c.mu.Unlock()
		close(f.done)
	} else {
		select {
		case <-f.done:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return f.id, f.err
}

// Len returns the number of entries.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// Stats returns the hits and misses so far.
func (c *Cache) Stats() (hits, misses uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}

// Notify implements store.Listener: a change of a client evicts it.
func (c *Cache) Notify(channel, payload string) {
	if channel == store.ChannelClients {
		c.Invalidate(payload)
	}
}

// Resync implements store.Listener: after listening was interrupted, the
// notifications missed are made up for by a version check, before any
// notification that arrived since is handled. Loads in progress may have
// read what a missed notification changed.
func (c *Cache) Resync() {
	c.mu.Lock()
	for _, f := range c.flights {
		f.stale = true
	}
	c.forgetUnknownIssuers()
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Check(ctx); err != nil {
		c.log.Warn("client cache check after reconnecting", "err", err)
	}
}

// checkBatch bounds the ids of one version query.
const checkBatch = 5000

// Check compares every cached client's version with the database: changed
// or deleted clients are evicted, the others confirmed fresh. Unknown-id
// entries simply expire. On error the entries are left as they are.
func (c *Cache) Check(ctx context.Context) error {
	c.mu.Lock()
	versions := make(map[string]int64, len(c.items))
	for id, e := range c.items {
		if !e.missing {
			versions[id] = e.version
		}
	}
	c.mu.Unlock()
	ids := make([]string, 0, len(versions))
	for id := range versions {
		ids = append(ids, id)
	}
	for start := 0; start < len(ids); start += checkBatch {
		batch := ids[start:min(start+checkBatch, len(ids))]
		now := c.now()
		current, err := c.load.ClientVersions(ctx, batch)
		if err != nil {
			return err
		}
		c.mu.Lock()
		for _, id := range batch {
			e, ok := c.items[id]
			if !ok {
				continue
			}
			if v, exists := current[id]; !exists || v != e.version || e.missing {
				if !e.missing || exists {
					c.remove(e)
				}
				continue
			}
			e.verified = now.UnixNano()
		}
		c.mu.Unlock()
	}
	return nil
}

// Run checks versions every CheckInterval until ctx is done.
func (c *Cache) Run(ctx context.Context) {
	t := time.NewTicker(c.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Check(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("client cache check", "err", err)
			}
		}
	}
}
