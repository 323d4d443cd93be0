package clientcache_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clientcache"
)

// BenchmarkCollectFullCache: what one garbage collection costs with a full
// cache of 100,000 clients (keyward's default size). Under the memory limit
// a full cache is collected several times a second while tokens are issued,
// so this is the CPU the cache's shape takes from signing.
func BenchmarkCollectFullCache(b *testing.B) {
	for _, n := range []int{0, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchmarkCollect(b, n) })
	}
}

func benchmarkCollect(b *testing.B, n int) {
	c := clientcache.New(generated{}, clientcache.Config{Size: max(n, 1), NegativeTTL: time.Second, StaleTTL: time.Minute, CheckInterval: time.Minute},
		time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for i := range n {
		if _, err := c.ClientByID(context.Background(), fmt.Sprintf("m2m_%024d", i)); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(c)
}

// BenchmarkHit: a warm lookup, what every token request of a cached client
// pays.
func BenchmarkHit(b *testing.B) {
	c := clientcache.New(generated{}, clientcache.Config{Size: 10, NegativeTTL: time.Second, StaleTTL: time.Minute, CheckInterval: time.Minute},
		time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	id := fmt.Sprintf("m2m_%024d", 7)
	if _, err := c.ClientByID(context.Background(), id); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.ClientByID(context.Background(), id); err != nil {
			b.Fatal(err)
		}
	}
}
