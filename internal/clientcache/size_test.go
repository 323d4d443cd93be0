package clientcache_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clientcache"
	"github.com/keyward/keyward/internal/store"
)

// generated loads made-up clients as the database returns them: every
// string a fresh allocation, 1,000 clients to an organization, two scopes,
// one audience and one active secret with its sealed copy.
type generated struct{}

func (generated) ClientByID(_ context.Context, id string) (store.Client, error) {
	fresh := func(s string) string { return strings.Clone(s) }
	var n int
	fmt.Sscanf(id, "m2m_%024d", &n)
	now := time.Now()
	return store.Client{
		ID: fresh(id), OrganizationID: fmt.Sprintf("org_%024d", n/1000), Name: fmt.Sprintf("bench client %d", n),
		AuthMethod: fresh(store.AuthClientSecret), Scopes: []string{fresh("read:reports"), fresh("write:reports")},
		Audience: []string{fresh("https://api.example.com")}, Expiry: 3600, CreateTime: now, UpdateTime: now, Version: 1,
		Secrets: []store.Secret{{
			ID: fmt.Sprintf("sks_%024d", n), ClientID: fresh(id), Hash: make([]byte, 32), Sealed: make([]byte, 64),
			KEKID: fresh("kek_0001"), Suffix: fresh("abcd"), Status: fresh(store.SecretActive), CreateTime: now, UpdateTime: now,
		}},
	}, nil
}

func (generated) ClientVersions(context.Context, []string) (map[string]int64, error) {
	return map[string]int64{}, nil
}

func (generated) ClientIDByIssuer(context.Context, string) (string, error) {
	return "", store.ErrNotFound
}

// TestCacheEntrySize: what a cached client costs on the heap. A full cache
// (100,000 entries by default) is most of keyward's heap, so this bounds
// its memory and how hard the collector works under the soft limit
// (README, Performance: Memory). Not parallel: it reads the heap's size.
func TestCacheEntrySize(t *testing.T) {
	const n = 20_000
	c := clientcache.New(generated{}, clientcache.Config{Size: n, NegativeTTL: time.Second, StaleTTL: time.Minute, CheckInterval: time.Minute},
		time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for i := range n {
		if _, err := c.ClientByID(context.Background(), fmt.Sprintf("m2m_%024d", i)); err != nil {
			t.Fatal(err)
		}
	}
	per := float64(heap()-before) / n
	runtime.KeepAlive(c)
	t.Logf("%.0f bytes of heap a cached client", per)
	if per > 500 {
		t.Errorf("a cached client costs %.0f bytes of heap, want at most 500", per)
	}
}
