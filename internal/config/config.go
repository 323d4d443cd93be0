// Package config owns keyward's settings: their flags and environment
// variables, defaults and validation. Flags win over the environment.
package config

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/secret"
)

// Config is every setting of every subcommand; a subcommand reads only the
// ones it asked Load for.
type Config struct {
	DatabaseURL string
	Addr        string
	Issuer      string
	// KEKs are the key-encryption keys; the first seals, every one opens.
	KEKs     [][]byte
	LogLevel slog.Level

	NoMigrate         bool
	SigningAlg        string // RS256, ES256 or EdDSA
	SigningKeyBits    int
	JWKSMaxAge        time.Duration
	KeyPublishLead    time.Duration
	KeyRotationPeriod time.Duration
	MaxTokenExpiry    time.Duration
	KeyReloadInterval time.Duration
	ShutdownTimeout   time.Duration

	ClientCacheSize int
	StaleClientTTL  time.Duration
	// MemoryLimit is the Go heap's soft limit in bytes: 0 for none, -1 to
	// derive it from ClientCacheSize.
	MemoryLimit int64

	MaxTokenRequests      int
	AuthFailuresPerSource int
	AuthFailuresPerClient int

	TLSCert string
	TLSKey  string

	BootstrapClientID     string
	BootstrapClientSecret string
}

// Uses says which groups of settings a subcommand reads.
type Uses uint

const (
	UsesDatabase Uses = 1 << iota // database URL
	UsesKEK                       // key-encryption keys
	UsesServe                     // listen address, issuer, key and token timing, bootstrap client
	UsesKeys                      // signing-key algorithm, size and timing (keys list, rotate, revoke)
)

// An Error is a missing or malformed setting. Its message names the setting
// the way the user gave it (flag or environment variable).
type Error struct {
	Setting string
	Problem string
}

func (e *Error) Error() string { return e.Setting + ": " + e.Problem }

type setting struct {
	flag, env, fallbackEnv string
	def                    string
	usage                  string
	uses                   Uses
	isBool                 bool
	apply                  func(c *Config, v string) error
}

// SigningAlgs are the values of --signing-alg.
var SigningAlgs = []string{"RS256", "ES256", "EdDSA"}

// KEKHelp tells an operator how to make a key-encryption key.
const KEKHelp = "base64 of 32 random bytes, e.g. from `head -c32 /dev/urandom | base64`"

var settings = []setting{
	{flag: "database-url", env: "KEYWARD_DATABASE_URL", fallbackEnv: "DATABASE_URL", uses: UsesDatabase,
		usage: "PostgreSQL URL (pgx syntax)", apply: func(c *Config, v string) error {
			if v == "" {
				return errors.New("is required (a PostgreSQL URL such as postgres://user@localhost:5432/keyward)")
			}
			c.DatabaseURL = v
			return nil
		}},
	{flag: "key-encryption-key", env: "KEYWARD_KEY_ENCRYPTION_KEY", uses: UsesKEK,
		// Backquotes in a flag's usage name its value in PrintDefaults, so
		// the command in KEKHelp is double-quoted here.
		usage: "key-encryption key(s): " + strings.ReplaceAll(KEKHelp, "`", `"`) + "; several, comma-separated, while rolling it (the first seals)",
		apply: func(c *Config, v string) error {
			keks, err := ParseKEKs(v)
			c.KEKs = keks
			return err
		}},
	{flag: "addr", env: "KEYWARD_ADDR", def: "127.0.0.1:8080", uses: UsesServe, usage: "listen address",
		apply: func(c *Config, v string) error {
			if !strings.Contains(v, ":") {
				return fmt.Errorf("%q is not host:port", v)
			}
			c.Addr = v
			return nil
		}},
	{flag: "issuer", env: "KEYWARD_ISSUER", def: "http://localhost:8080", uses: UsesServe,
		usage: "the iss of every token and the base of every advertised URL", apply: func(c *Config, v string) error {
			iss, err := parseIssuer(v)
			c.Issuer = iss
			return err
		}},
	{flag: "log-level", env: "KEYWARD_LOG_LEVEL", def: "info", uses: UsesServe | UsesDatabase,
		usage: "debug, info, warn or error", apply: func(c *Config, v string) error {
			return c.LogLevel.UnmarshalText([]byte(v))
		}},
	{flag: "no-migrate", def: "false", uses: UsesServe, isBool: true,
		usage: "do not apply pending migrations at start-up", apply: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			c.NoMigrate = b
			return err
		}},
	{flag: "signing-key-bits", env: "KEYWARD_SIGNING_KEY_BITS", def: "2048", uses: UsesServe | UsesKeys,
		usage: "RSA size of new signing keys: 2048, 3072 or 4096", apply: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || (n != 2048 && n != 3072 && n != 4096) {
				return fmt.Errorf("%q is not 2048, 3072 or 4096", v)
			}
			c.SigningKeyBits = n
			return nil
		}},
	{flag: "signing-alg", env: "KEYWARD_SIGNING_ALG", def: "RS256", uses: UsesServe | UsesKeys,
		usage: "algorithm of new signing keys: RS256, ES256 or EdDSA (a change goes through the usual next -> active path)",
		apply: func(c *Config, v string) error {
			for _, alg := range SigningAlgs {
				if v == alg {
					c.SigningAlg = v
					return nil
				}
			}
			return fmt.Errorf("%q is not %s", v, strings.Join(SigningAlgs, ", "))
		}},
	{flag: "key-rotation-period", env: "KEYWARD_KEY_ROTATION_PERIOD", def: "720h", uses: UsesServe | UsesKeys,
		usage: "how long a signing key signs before the next one takes over",
		apply: duration(func(c *Config) *time.Duration { return &c.KeyRotationPeriod }, time.Minute)},
	{flag: "jwks-max-age", env: "KEYWARD_JWKS_MAX_AGE", def: "15m", uses: UsesServe | UsesKeys,
		usage: "Cache-Control max-age of the JWKS", apply: duration(func(c *Config) *time.Duration { return &c.JWKSMaxAge }, time.Second)},
	{flag: "key-publish-lead", env: "KEYWARD_KEY_PUBLISH_LEAD", uses: UsesServe | UsesKeys,
		usage: "how long a new key is published before it may sign (default: twice --jwks-max-age)",
		apply: duration(func(c *Config) *time.Duration { return &c.KeyPublishLead }, 0)},
	{flag: "max-token-expiry", env: "KEYWARD_MAX_TOKEN_EXPIRY", def: "24h", uses: UsesServe | UsesKeys,
		usage: "the largest expiry a client may have", apply: duration(func(c *Config) *time.Duration { return &c.MaxTokenExpiry }, time.Minute)},
	{flag: "key-reload-interval", env: "KEYWARD_KEY_RELOAD_INTERVAL", def: "10s", uses: UsesServe,
		usage: "how often a replica rereads the signing keys in case it missed a change notification", apply: duration(func(c *Config) *time.Duration { return &c.KeyReloadInterval }, time.Second)},
	{flag: "client-cache-size", env: "KEYWARD_CLIENT_CACHE_SIZE", def: "100000", uses: UsesServe,
		usage: "how many clients the token endpoint keeps in memory",
		apply: positive(func(c *Config) *int { return &c.ClientCacheSize })},
	{flag: "memory-limit", env: "KEYWARD_MEMORY_LIMIT", def: "auto", uses: UsesServe,
		usage: "soft limit of the Go heap, e.g. 256MiB or 1GiB; auto sizes it for --client-cache-size (64MiB + 1300 bytes a client); off for none (GOMEMLIMIT, when set, wins over auto)",
		apply: func(c *Config, v string) error {
			n, err := parseBytes(v)
			c.MemoryLimit = n
			return err
		}},
	{flag: "stale-client-ttl", env: "KEYWARD_STALE_CLIENT_TTL", def: "5m", uses: UsesServe,
		usage: "how long a cached client keeps authenticating after it was last confirmed with the database (matters while the database is down)",
		apply: duration(func(c *Config) *time.Duration { return &c.StaleClientTTL }, time.Second)},
	{flag: "tls-cert", env: "KEYWARD_TLS_CERT", uses: UsesServe,
		usage: "PEM certificate (chain) file: serve HTTPS (needs --tls-key)", apply: func(c *Config, v string) error {
			c.TLSCert = v
			return nil
		}},
	{flag: "tls-key", env: "KEYWARD_TLS_KEY", uses: UsesServe,
		usage: "PEM private key file of --tls-cert", apply: func(c *Config, v string) error {
			c.TLSKey = v
			return nil
		}},
	{flag: "max-token-requests", env: "KEYWARD_MAX_TOKEN_REQUESTS", def: "256", uses: UsesServe,
		usage: "token requests served at once; more are answered 503 at once rather than queued",
		apply: positive(func(c *Config) *int { return &c.MaxTokenRequests })},
	{flag: "auth-failures-per-source", env: "KEYWARD_AUTH_FAILURES_PER_SOURCE", def: "30", uses: UsesServe,
		usage: "failed client authentications a source address may make per minute before it gets 429",
		apply: positive(func(c *Config) *int { return &c.AuthFailuresPerSource })},
	{flag: "auth-failures-per-client", env: "KEYWARD_AUTH_FAILURES_PER_CLIENT", def: "10", uses: UsesServe,
		usage: "failed authentications per minute as one client id before further failures get 429",
		apply: positive(func(c *Config) *int { return &c.AuthFailuresPerClient })},
	{flag: "shutdown-timeout", env: "KEYWARD_SHUTDOWN_TIMEOUT", def: "20s", uses: UsesServe,
		usage: "how long in-flight requests may take to finish on SIGTERM", apply: duration(func(c *Config) *time.Duration { return &c.ShutdownTimeout }, 0)},
	{env: "KEYWARD_BOOTSTRAP_CLIENT_ID", uses: UsesServe, apply: func(c *Config, v string) error {
		c.BootstrapClientID = v
		return nil
	}},
	{env: "KEYWARD_BOOTSTRAP_CLIENT_SECRET", uses: UsesServe, apply: func(c *Config, v string) error {
		c.BootstrapClientSecret = v
		return nil
	}},
}

// parseBytes reads auto (-1), off (0) or a size with a B, KiB, MiB or GiB
// suffix.
func parseBytes(v string) (int64, error) {
	switch v {
	case "auto":
		return -1, nil
	case "off", "0":
		return 0, nil
	}
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if num, ok := strings.CutSuffix(v, u.suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			if err == nil && n > 0 && n <= (1<<62)/u.mult {
				return n * u.mult, nil
			}
			break
		}
	}
	return 0, fmt.Errorf("%q is not auto, off or a size such as 256MiB", v)
}

func positive(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive integer", v)
		}
		*field(c) = n
		return nil
	}
}

func duration(field func(*Config) *time.Duration, minimum time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 90s, 15m or 720h", v)
		}
		if d < minimum || d < 0 {
			return fmt.Errorf("%s is less than %s", d, minimum)
		}
		*field(c) = d
		return nil
	}
}

// ParseKEKs parses a comma-separated list of base64 key-encryption keys.
func ParseKEKs(v string) ([][]byte, error) {
	if strings.TrimSpace(v) == "" {
		return nil, errors.New("is required: " + KEKHelp)
	}
	var keks [][]byte
	for i, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		b, err := base64.StdEncoding.DecodeString(part)
		if err != nil {
			b, err = base64.RawStdEncoding.DecodeString(part)
		}
		if err != nil {
			return nil, fmt.Errorf("key %d is not base64: want %s", i+1, KEKHelp)
		}
		if len(b) != secret.KEKSize {
			return nil, fmt.Errorf("key %d is %d bytes, want %d: %s", i+1, len(b), secret.KEKSize, KEKHelp)
		}
		keks = append(keks, b)
	}
	return keks, nil
}

func parseIssuer(v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http or https URL", v)
	}
	// ContainsAny also catches an empty query or fragment ("https://a/?"),
	// which url.Parse reports as no query at all.
	if strings.ContainsAny(v, "?#") || u.User != nil {
		return "", fmt.Errorf("%q must not have a query, fragment or user", v)
	}
	return strings.TrimSuffix(v, "/"), nil
}

// Load parses the settings a subcommand uses from its arguments and the
// environment. It returns the remaining positional arguments. A missing or
// malformed setting is an *Error; a bad flag is the flag package's error;
// -h or --help is flag.ErrHelp, with the usage printed to out.
func Load(name string, uses Uses, args []string, getenv func(string) string, out io.Writer) (Config, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	for _, s := range settings {
		if s.uses&uses == 0 || s.flag == "" {
			continue
		}
		usage := s.usage
		if s.env != "" {
			usage += " (env " + s.env + ")"
		}
		if s.isBool {
			fs.Bool(s.flag, false, usage)
		} else {
			fs.String(s.flag, s.def, usage)
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: keyward %s [flags]\n\nFlags:\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg, err := resolve(uses, fs, set, getenv)
	return cfg, fs.Args(), err
}

func resolve(uses Uses, fs *flag.FlagSet, set map[string]bool, getenv func(string) string) (Config, error) {
	var c Config
	// given is the name each flag-backed setting was given by, so that
	// errors about combinations name the settings the way the user set them.
	given := map[string]string{}
	for _, s := range settings {
		if s.uses&uses == 0 {
			continue
		}
		name, v := s.env, ""
		switch {
		case s.flag != "" && set[s.flag]:
			name, v = "--"+s.flag, fs.Lookup(s.flag).Value.String()
			given[s.flag] = name
		case s.env != "" && getenv(s.env) != "":
			v = getenv(s.env)
			given[s.flag] = name
		case s.fallbackEnv != "" && getenv(s.fallbackEnv) != "":
			name, v = s.fallbackEnv, getenv(s.fallbackEnv)
		default:
			v = s.def
			if s.env == "" {
				name = "--" + s.flag
			}
		}
		if err := s.apply(&c, v); err != nil {
			return Config{}, &Error{Setting: name, Problem: err.Error()}
		}
	}
	nameOf := func(flag string) string {
		if n := given[flag]; n != "" {
			return n
		}
		return "--" + flag
	}
	if uses&(UsesServe|UsesKeys) != 0 {
		if c.KeyPublishLead == 0 {
			c.KeyPublishLead = 2 * c.JWKSMaxAge
		}
		if c.KeyPublishLead < c.JWKSMaxAge {
			return Config{}, &Error{Setting: nameOf("key-publish-lead"), Problem: fmt.Sprintf(
				"%s is shorter than %s %s: verifiers could meet a key before their cache holds it",
				c.KeyPublishLead, nameOf("jwks-max-age"), c.JWKSMaxAge)}
		}
		if c.KeyRotationPeriod < c.KeyPublishLead {
			return Config{}, &Error{Setting: nameOf("key-rotation-period"), Problem: fmt.Sprintf(
				"%s is shorter than %s %s: a key must be published that long before it signs, so it cannot sign for less",
				c.KeyRotationPeriod, nameOf("key-publish-lead"), c.KeyPublishLead)}
		}
	}
	switch {
	case c.TLSCert != "" && c.TLSKey == "":
		return Config{}, &Error{Setting: nameOf("tls-key"), Problem: "is required when --tls-cert is given"}
	case c.TLSCert == "" && c.TLSKey != "":
		return Config{}, &Error{Setting: nameOf("tls-cert"), Problem: "is required when --tls-key is given"}
	case c.BootstrapClientID != "" && c.BootstrapClientSecret == "":
		return Config{}, &Error{Setting: "KEYWARD_BOOTSTRAP_CLIENT_SECRET", Problem: "is required when KEYWARD_BOOTSTRAP_CLIENT_ID is set"}
	case c.BootstrapClientID == "" && c.BootstrapClientSecret != "":
		return Config{}, &Error{Setting: "KEYWARD_BOOTSTRAP_CLIENT_ID", Problem: "is required when KEYWARD_BOOTSTRAP_CLIENT_SECRET is set"}
	}
	return c, nil
}
