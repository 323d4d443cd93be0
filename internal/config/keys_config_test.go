package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/config"
)

func TestLoadSigningKeyLifecycle(t *testing.T) {
	keysUses := config.UsesDatabase | config.UsesKEK | config.UsesKeys
	t.Run("keys rotate every 720h with RS256 by default, for serve and the keys commands", func(t *testing.T) {
		for _, uses := range []config.Uses{serveUses, keysUses} {
			cfg := mustLoad(t, uses, nil, baseEnv)
			if cfg.KeyRotationPeriod != 720*time.Hour || cfg.SigningAlg != "RS256" {
				t.Errorf("rotation period %s, alg %q; want 720h and RS256", cfg.KeyRotationPeriod, cfg.SigningAlg)
			}
		}
	})
	t.Run("the flags and variables set the algorithm and the period", func(t *testing.T) {
		for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
			cfg := mustLoad(t, keysUses, []string{"--signing-alg", alg}, baseEnv.with(env{"KEYWARD_KEY_ROTATION_PERIOD": "48h"}))
			if cfg.SigningAlg != alg || cfg.KeyRotationPeriod != 48*time.Hour {
				t.Errorf("alg %q, period %s; want %s and 48h", cfg.SigningAlg, cfg.KeyRotationPeriod, alg)
			}
		}
		cfg := mustLoad(t, serveUses, []string{"--key-rotation-period", "2h"}, baseEnv.with(env{"KEYWARD_SIGNING_ALG": "ES256"}))
		if cfg.SigningAlg != "ES256" || cfg.KeyRotationPeriod != 2*time.Hour {
			t.Errorf("alg %q, period %s; want ES256 and 2h", cfg.SigningAlg, cfg.KeyRotationPeriod)
		}
	})

	tests := []struct {
		name        string
		args        []string
		env         env
		wantSetting string
		wantProblem string
	}{
		{"an unknown algorithm is refused", nil, env{"KEYWARD_SIGNING_ALG": "HS256"}, "KEYWARD_SIGNING_ALG", "RS256, ES256, EdDSA"},
		{"algorithm names are case-sensitive, as in JOSE", []string{"--signing-alg", "es256"}, nil, "--signing-alg", "not"},
		{"a period that is not a duration is refused", nil, env{"KEYWARD_KEY_ROTATION_PERIOD": "monthly"}, "KEYWARD_KEY_ROTATION_PERIOD", "not a duration"},
		{"a period shorter than the default lead is refused", []string{"--key-rotation-period", "29m"}, nil, "--key-rotation-period", "shorter than --key-publish-lead 30m"},
		{"a period shorter than a configured lead is refused", []string{"--key-rotation-period", "1h"},
			env{"KEYWARD_KEY_PUBLISH_LEAD": "2h"}, "--key-rotation-period", "KEYWARD_KEY_PUBLISH_LEAD 2h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, uses := range []config.Uses{serveUses, keysUses} {
				_, _, err := load(t, uses, tt.args, baseEnv.with(tt.env))
				var ce *config.Error
				if !errors.As(err, &ce) {
					t.Fatalf("Load = %v, want a *config.Error", err)
				}
				if ce.Setting != tt.wantSetting || !strings.Contains(ce.Problem, tt.wantProblem) {
					t.Errorf("error %q, want setting %s and a problem mentioning %q", err, tt.wantSetting, tt.wantProblem)
				}
			}
		})
	}
	t.Run("a period as long as the lead is accepted", func(t *testing.T) {
		if cfg := mustLoad(t, serveUses, []string{"--key-rotation-period", "30m"}, baseEnv); cfg.KeyRotationPeriod != 30*time.Minute {
			t.Errorf("period %s, want 30m", cfg.KeyRotationPeriod)
		}
	})
}
