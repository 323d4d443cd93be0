package main

import (
	"testing"

	"github.com/keyward/keyward/internal/config"
)

func TestMemoryLimit(t *testing.T) {
	tests := []struct {
		name   string
		limit  int64
		cache  int
		envSet bool
		want   int64
	}{
		{"auto sizes the limit for the cache", -1, 100000, false, 64<<20 + 100000*1300},
		{"auto leaves GOMEMLIMIT in force", -1, 100000, true, 0},
		{"an explicit limit wins over GOMEMLIMIT", 300 << 20, 100000, true, 300 << 20},
		{"off sets none", 0, 100000, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env{}
			if tt.envSet {
				e["GOMEMLIMIT"] = "1GiB"
			}
			got := memoryLimit(config.Config{MemoryLimit: tt.limit, ClientCacheSize: tt.cache}, e.get)
			if got != tt.want {
				t.Fatalf("memoryLimit = %d, want %d", got, tt.want)
			}
		})
	}
}
