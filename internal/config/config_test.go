package config_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/config"
)

const serveUses = config.UsesDatabase | config.UsesKEK | config.UsesServe

// kek returns a valid key-encryption key made of n bytes of b, base64.
func kek(b byte, n int) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, n))
}

var validKEK = kek(1, 32)

// env is a fake environment.
type env map[string]string

func (e env) get(key string) string { return e[key] }

// with returns a copy of e with kv set; an empty value unsets the key.
func (e env) with(kv env) env {
	c := maps.Clone(e)
	for k, v := range kv {
		if v == "" {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// baseEnv is the least a serve needs.
var baseEnv = env{
	"KEYWARD_DATABASE_URL":       "postgres://keyward@db:5432/keyward",
	"KEYWARD_KEY_ENCRYPTION_KEY": validKEK,
}

func load(t *testing.T, uses config.Uses, args []string, e env) (config.Config, []string, error) {
	t.Helper()
	return config.Load("serve", uses, args, e.get, io.Discard)
}

func mustLoad(t *testing.T, uses config.Uses, args []string, e env) config.Config {
	t.Helper()
	cfg, _, err := load(t, uses, args, e)
	if err != nil {
		t.Fatalf("Load(%q) = %v, want no error", args, err)
	}
	return cfg
}

func TestLoadChoosesBetweenFlagAndEnvironment(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  env
		got  func(config.Config) string
		want string
	}{
		{
			name: "a flag wins over its environment variable",
			args: []string{"--addr", "10.0.0.1:9000"},
			env:  env{"KEYWARD_ADDR": "10.0.0.2:9000"},
			got:  func(c config.Config) string { return c.Addr },
			want: "10.0.0.1:9000",
		},
		{
			name: "the environment variable is used when no flag is given",
			env:  env{"KEYWARD_ADDR": "10.0.0.2:9000"},
			got:  func(c config.Config) string { return c.Addr },
			want: "10.0.0.2:9000",
		},
		{
			name: "an empty environment variable counts as unset",
			env:  env{"KEYWARD_ISSUER": ""},
			got:  func(c config.Config) string { return c.Issuer },
			want: "http://localhost:8080",
		},
		{
			name: "a flag wins over the environment for the issuer too",
			args: []string{"--issuer", "https://flag.example.com"},
			env:  env{"KEYWARD_ISSUER": "https://env.example.com"},
			got:  func(c config.Config) string { return c.Issuer },
			want: "https://flag.example.com",
		},
		{
			name: "DATABASE_URL is used when KEYWARD_DATABASE_URL is unset",
			env:  env{"KEYWARD_DATABASE_URL": "", "DATABASE_URL": "postgres://fallback/db"},
			got:  func(c config.Config) string { return c.DatabaseURL },
			want: "postgres://fallback/db",
		},
		{
			name: "KEYWARD_DATABASE_URL wins over DATABASE_URL",
			env:  env{"KEYWARD_DATABASE_URL": "postgres://keyward/db", "DATABASE_URL": "postgres://fallback/db"},
			got:  func(c config.Config) string { return c.DatabaseURL },
			want: "postgres://keyward/db",
		},
		{
			name: "--database-url wins over both environment variables",
			args: []string{"--database-url", "postgres://flag/db"},
			env:  env{"KEYWARD_DATABASE_URL": "postgres://keyward/db", "DATABASE_URL": "postgres://fallback/db"},
			got:  func(c config.Config) string { return c.DatabaseURL },
			want: "postgres://flag/db",
		},
		{
			name: "--key-encryption-key wins over KEYWARD_KEY_ENCRYPTION_KEY",
			args: []string{"--key-encryption-key", kek(7, 32)},
			got:  func(c config.Config) string { return base64.StdEncoding.EncodeToString(c.KEKs[0]) },
			want: kek(7, 32),
		},
		{
			name: "a duration from the environment is used when no flag is given",
			env:  env{"KEYWARD_JWKS_MAX_AGE": "5m"},
			got:  func(c config.Config) string { return c.JWKSMaxAge.String() },
			want: "5m0s",
		},
		{
			name: "a duration flag wins over the environment",
			args: []string{"--jwks-max-age", "2m"},
			env:  env{"KEYWARD_JWKS_MAX_AGE": "5m"},
			got:  func(c config.Config) string { return c.JWKSMaxAge.String() },
			want: "2m0s",
		},
		{
			name: "the log level comes from the environment",
			env:  env{"KEYWARD_LOG_LEVEL": "debug"},
			got:  func(c config.Config) string { return c.LogLevel.String() },
			want: "DEBUG",
		},
		{
			name: "the bootstrap client comes from the environment",
			env:  env{"KEYWARD_BOOTSTRAP_CLIENT_ID": "ci-admin", "KEYWARD_BOOTSTRAP_CLIENT_SECRET": "s3cret-s3cret-s3cret-s3cret"},
			got:  func(c config.Config) string { return c.BootstrapClientID + " " + c.BootstrapClientSecret },
			want: "ci-admin s3cret-s3cret-s3cret-s3cret",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, serveUses, tt.args, baseEnv.with(tt.env))
			if got := tt.got(cfg); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadDefaults(t *testing.T) {
	cfg := mustLoad(t, serveUses, nil, baseEnv)
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"the listen address defaults to 127.0.0.1:8080", cfg.Addr, "127.0.0.1:8080"},
		{"the issuer defaults to http://localhost:8080", cfg.Issuer, "http://localhost:8080"},
		{"the log level defaults to info", cfg.LogLevel, slog.LevelInfo},
		{"the JWKS max-age defaults to 15 minutes", cfg.JWKSMaxAge, 15 * time.Minute},
		{"the publish lead defaults to twice the max-age", cfg.KeyPublishLead, 30 * time.Minute},
		{"signing keys default to RSA 2048", cfg.SigningKeyBits, 2048},
		{"the largest token expiry defaults to a day", cfg.MaxTokenExpiry, 24 * time.Hour},
		{"serve migrates by default", cfg.NoMigrate, false},
		{"there is no bootstrap client by default", cfg.BootstrapClientID, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}

	t.Run("the publish lead defaults to twice a configured max-age", func(t *testing.T) {
		cfg := mustLoad(t, serveUses, []string{"--jwks-max-age", "5m"}, baseEnv)
		if cfg.KeyPublishLead != 10*time.Minute {
			t.Errorf("KeyPublishLead = %v, want 10m", cfg.KeyPublishLead)
		}
	})
	t.Run("an explicit publish lead is kept", func(t *testing.T) {
		cfg := mustLoad(t, serveUses, []string{"--key-publish-lead", "16m"}, baseEnv)
		if cfg.KeyPublishLead != 16*time.Minute {
			t.Errorf("KeyPublishLead = %v, want 16m", cfg.KeyPublishLead)
		}
	})
	t.Run("--no-migrate turns migrations off", func(t *testing.T) {
		if cfg := mustLoad(t, serveUses, []string{"--no-migrate"}, baseEnv); !cfg.NoMigrate {
			t.Error("NoMigrate = false, want true")
		}
	})
}

func TestLoadRefusesMissingOrMalformedSettings(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		env         env // applied over baseEnv; "" unsets
		wantSetting string
		wantProblem string
	}{
		{
			name:        "a missing database URL names KEYWARD_DATABASE_URL",
			env:         env{"KEYWARD_DATABASE_URL": ""},
			wantSetting: "KEYWARD_DATABASE_URL",
			wantProblem: "required",
		},
		{
			name:        "an empty --database-url names the flag",
			args:        []string{"--database-url", ""},
			wantSetting: "--database-url",
			wantProblem: "required",
		},
		{
			name:        "a missing key-encryption key names KEYWARD_KEY_ENCRYPTION_KEY",
			env:         env{"KEYWARD_KEY_ENCRYPTION_KEY": ""},
			wantSetting: "KEYWARD_KEY_ENCRYPTION_KEY",
			wantProblem: "required",
		},
		{
			name:        "a key-encryption key that is not base64 names KEYWARD_KEY_ENCRYPTION_KEY",
			env:         env{"KEYWARD_KEY_ENCRYPTION_KEY": "not base64!"},
			wantSetting: "KEYWARD_KEY_ENCRYPTION_KEY",
			wantProblem: "not base64",
		},
		{
			name:        "a 16-byte key-encryption key names KEYWARD_KEY_ENCRYPTION_KEY and its size",
			env:         env{"KEYWARD_KEY_ENCRYPTION_KEY": kek(1, 16)},
			wantSetting: "KEYWARD_KEY_ENCRYPTION_KEY",
			wantProblem: "16 bytes, want 32",
		},
		{
			name:        "a malformed key-encryption key given as a flag names --key-encryption-key",
			args:        []string{"--key-encryption-key", kek(1, 16)},
			wantSetting: "--key-encryption-key",
			wantProblem: "16 bytes",
		},
		{
			name:        "a bad key in a comma-separated list is named by its position",
			env:         env{"KEYWARD_KEY_ENCRYPTION_KEY": validKEK + "," + kek(2, 31)},
			wantSetting: "KEYWARD_KEY_ENCRYPTION_KEY",
			wantProblem: "key 2 is 31 bytes",
		},
		{
			name:        "an empty entry in a comma-separated list is refused",
			env:         env{"KEYWARD_KEY_ENCRYPTION_KEY": validKEK + ","},
			wantSetting: "KEYWARD_KEY_ENCRYPTION_KEY",
			wantProblem: "key 2",
		},
		{
			name:        "an issuer that is not http or https is refused",
			env:         env{"KEYWARD_ISSUER": "ftp://auth.example.com"},
			wantSetting: "KEYWARD_ISSUER",
			wantProblem: "not an http or https URL",
		},
		{
			name:        "an issuer without a scheme is refused",
			args:        []string{"--issuer", "auth.example.com"},
			wantSetting: "--issuer",
			wantProblem: "not an http or https URL",
		},
		{
			name:        "an issuer without a host is refused",
			args:        []string{"--issuer", "https://"},
			wantSetting: "--issuer",
			wantProblem: "not an http or https URL",
		},
		{
			name:        "an issuer with a query is refused",
			args:        []string{"--issuer", "https://auth.example.com/?tenant=a"},
			wantSetting: "--issuer",
			wantProblem: "query",
		},
		{
			name:        "an issuer with an empty query is refused",
			args:        []string{"--issuer", "https://auth.example.com/?"},
			wantSetting: "--issuer",
			wantProblem: "query",
		},
		{
			name:        "an issuer with a fragment is refused",
			args:        []string{"--issuer", "https://auth.example.com#top"},
			wantSetting: "--issuer",
			wantProblem: "fragment",
		},
		{
			name:        "an issuer with user information is refused",
			args:        []string{"--issuer", "https://admin:pw@auth.example.com"},
			wantSetting: "--issuer",
			wantProblem: "user",
		},
		{
			name:        "a duration without a unit is refused",
			args:        []string{"--jwks-max-age", "15"},
			wantSetting: "--jwks-max-age",
			wantProblem: "not a duration",
		},
		{
			name:        "a malformed duration in the environment names the variable",
			env:         env{"KEYWARD_KEY_RELOAD_INTERVAL": "often"},
			wantSetting: "KEYWARD_KEY_RELOAD_INTERVAL",
			wantProblem: "not a duration",
		},
		{
			name:        "a negative duration is refused",
			env:         env{"KEYWARD_SHUTDOWN_TIMEOUT": "-1s"},
			wantSetting: "KEYWARD_SHUTDOWN_TIMEOUT",
			wantProblem: "less than",
		},
		{
			name:        "a JWKS max-age under a second is refused",
			args:        []string{"--jwks-max-age", "500ms"},
			wantSetting: "--jwks-max-age",
			wantProblem: "less than 1s",
		},
		{
			name:        "a largest token expiry under a minute is refused",
			args:        []string{"--max-token-expiry", "30s"},
			wantSetting: "--max-token-expiry",
			wantProblem: "less than 1m",
		},
		{
			name:        "a publish lead shorter than the JWKS max-age is refused",
			args:        []string{"--key-publish-lead", "10m"},
			wantSetting: "--key-publish-lead",
			wantProblem: "shorter than",
		},
		{
			name:        "a publish lead from the environment shorter than the max-age names the variable",
			env:         env{"KEYWARD_KEY_PUBLISH_LEAD": "20m", "KEYWARD_JWKS_MAX_AGE": "1h"},
			wantSetting: "KEYWARD_KEY_PUBLISH_LEAD",
			wantProblem: "shorter than",
		},
		{
			name:        "an unknown log level is refused",
			env:         env{"KEYWARD_LOG_LEVEL": "chatty"},
			wantSetting: "KEYWARD_LOG_LEVEL",
			wantProblem: "chatty",
		},
		{
			name:        "a signing key size other than 2048, 3072 or 4096 is refused",
			args:        []string{"--signing-key-bits", "1024"},
			wantSetting: "--signing-key-bits",
			wantProblem: "1024",
		},
		{
			name:        "a listen address without a port is refused",
			env:         env{"KEYWARD_ADDR": "localhost"},
			wantSetting: "KEYWARD_ADDR",
			wantProblem: "host:port",
		},
		{
			name:        "a bootstrap client id without a secret names the missing secret",
			env:         env{"KEYWARD_BOOTSTRAP_CLIENT_ID": "ci-admin"},
			wantSetting: "KEYWARD_BOOTSTRAP_CLIENT_SECRET",
			wantProblem: "KEYWARD_BOOTSTRAP_CLIENT_ID",
		},
		{
			name:        "a bootstrap secret without a client id names the missing id",
			env:         env{"KEYWARD_BOOTSTRAP_CLIENT_SECRET": "s3cret-s3cret-s3cret-s3cret"},
			wantSetting: "KEYWARD_BOOTSTRAP_CLIENT_ID",
			wantProblem: "KEYWARD_BOOTSTRAP_CLIENT_SECRET",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, serveUses, tt.args, baseEnv.with(tt.env))
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load error = %v (%T), want a *config.Error", err, err)
			}
			if ce.Setting != tt.wantSetting {
				t.Errorf("Setting = %q, want %q (error: %v)", ce.Setting, tt.wantSetting, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.wantSetting+": ") {
				t.Errorf("error %q does not start with the setting %q", msg, tt.wantSetting)
			}
			if !strings.Contains(msg, tt.wantProblem) {
				t.Errorf("error %q does not say %q", msg, tt.wantProblem)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q is more than one line", msg)
			}
		})
	}
}

func TestLoadAcceptsKeyEncryptionKeys(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  []string // base64 of each KEK, in order
	}{
		{"one key is the sealing key", validKEK, []string{validKEK}},
		{"several comma-separated keys are kept in order, the first sealing", kek(2, 32) + "," + kek(3, 32), []string{kek(2, 32), kek(3, 32)}},
		{"spaces around the commas are ignored", kek(2, 32) + " , " + kek(3, 32) + " ", []string{kek(2, 32), kek(3, 32)}},
		{"unpadded base64 is accepted", strings.TrimRight(kek(4, 32), "="), []string{kek(4, 32)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, config.UsesKEK, nil, env{"KEYWARD_KEY_ENCRYPTION_KEY": tt.value})
			var got []string
			for _, k := range cfg.KEKs {
				got = append(got, base64.StdEncoding.EncodeToString(k))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("KEKs = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadNormalisesTheIssuer(t *testing.T) {
	tests := []struct {
		name, issuer, want string
	}{
		{"a trailing slash is trimmed", "https://auth.example.com/", "https://auth.example.com"},
		{"a path is kept", "https://example.com/auth", "https://example.com/auth"},
		{"a path's trailing slash is trimmed", "https://example.com/auth/", "https://example.com/auth"},
		{"plain http with a port is accepted", "http://127.0.0.1:9999", "http://127.0.0.1:9999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, serveUses, []string{"--issuer", tt.issuer}, baseEnv)
			if cfg.Issuer != tt.want {
				t.Errorf("Issuer = %q, want %q", cfg.Issuer, tt.want)
			}
		})
	}
}

func TestLoadReadsOnlyTheSettingsASubcommandUses(t *testing.T) {
	t.Run("a database-only command needs no key-encryption key and ignores a bad issuer", func(t *testing.T) {
		e := env{"KEYWARD_DATABASE_URL": "postgres://db/keyward", "KEYWARD_ISSUER": "ftp://nope"}
		cfg := mustLoad(t, config.UsesDatabase, nil, e)
		if cfg.DatabaseURL != "postgres://db/keyward" {
			t.Errorf("DatabaseURL = %q", cfg.DatabaseURL)
		}
	})
	t.Run("a flag of another command is an unknown flag, not a setting error", func(t *testing.T) {
		_, _, err := load(t, config.UsesDatabase, []string{"--issuer", "https://a.example"}, baseEnv)
		var ce *config.Error
		if err == nil || errors.As(err, &ce) || errors.Is(err, flag.ErrHelp) {
			t.Fatalf("Load error = %v, want the flag package's error", err)
		}
		if !strings.Contains(err.Error(), "issuer") {
			t.Errorf("error %q does not name the flag", err)
		}
	})
}

func TestLoadCommandLine(t *testing.T) {
	t.Run("--help returns flag.ErrHelp and prints the flags with their variables", func(t *testing.T) {
		var out bytes.Buffer
		_, _, err := config.Load("serve", serveUses, []string{"--help"}, baseEnv.get, &out)
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("Load error = %v, want flag.ErrHelp", err)
		}
		for _, want := range []string{"Usage: keyward serve", "-database-url string", "KEYWARD_DATABASE_URL", "-key-encryption-key string", "-issuer string"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("usage does not mention %q:\n%s", want, out.String())
			}
		}
	})
	t.Run("-h returns flag.ErrHelp too", func(t *testing.T) {
		_, _, err := load(t, serveUses, []string{"-h"}, baseEnv)
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("Load error = %v, want flag.ErrHelp", err)
		}
	})
	t.Run("--help wins over a missing required setting", func(t *testing.T) {
		_, _, err := load(t, serveUses, []string{"--help"}, env{})
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("Load error = %v, want flag.ErrHelp", err)
		}
	})
	t.Run("an unknown flag is the flag package's error", func(t *testing.T) {
		_, _, err := load(t, serveUses, []string{"--colour"}, baseEnv)
		var ce *config.Error
		if err == nil || errors.As(err, &ce) || errors.Is(err, flag.ErrHelp) {
			t.Fatalf("Load error = %v, want the flag package's error", err)
		}
	})
	t.Run("positional arguments after the flags are returned", func(t *testing.T) {
		_, rest, err := load(t, config.UsesDatabase, []string{"--database-url", "postgres://db/k", "up", "now"}, env{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rest, []string{"up", "now"}) {
			t.Errorf("rest = %q, want [up now]", rest)
		}
	})
}
