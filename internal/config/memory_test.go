package config

import "testing"

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"auto", -1, true}, {"off", 0, true}, {"0", 0, true},
		{"256MiB", 256 << 20, true}, {"1GiB", 1 << 30, true}, {"512KiB", 512 << 10, true}, {"1000B", 1000, true},
		{"256MB", 0, false}, {"-1MiB", 0, false}, {"MiB", 0, false}, {"lots", 0, false}, {"", 0, false},
	}
	for _, tt := range tests {
		got, err := parseBytes(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
