// Command keyward-bench measures keyward on loopback: the token endpoint
// under concurrent load (one client, or many drawn from a seeded
// population), GET endpoints such as the JWKS, the admin API's
// create-client throughput and list pages, and the baselines they are
// compared with (RS256 signatures per second in a tight loop, and a bare
// net/http handler serving the same bytes). It also seeds a database with
// clients at scale. scripts/bench.sh runs it with keyward and the load on
// cores of their own.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "keyward-bench:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  keyward-bench sign  [-d 5s] [-alg RS256|ES256|EdDSA] [-bits 2048] [-impl go|openssl]
        signatures per second, one goroutine: RS256 with crypto/rsa or (in a build
        with -tags openssl) libcrypto through internal/signer; ES256 and EdDSA with Go's
  keyward-bench verify -token T -jwks URL
        check that T is an RS256 JWT signed by a key of the JWKS at URL (any
        server's: scripts/bench.sh checks its peer with it); print its header and claims
  keyward-bench seed  -database-url URL [-kek B64] [-n 1000000] [-from 0] [-per-org 1000] [-seed S]
        insert clients from..from+n-1 of population S straight into the database
        with COPY (KEK from -kek or KEYWARD_KEY_ENCRYPTION_KEY: the server's)
  keyward-bench setup -url U -admin-id I -admin-secret S [-clients N] [-c 1] [-orgs 1]
        create N clients through the admin API, c at a time, spread over new
        organizations; print one
  keyward-bench token -url U [-c 32] [-d 10s] [-requests N] CREDENTIALS
        load the token endpoint (client_secret_basic); CREDENTIALS are either
        -client-id I -client-secret S (one client), or
        -clients-from-seed N [-seed S] [-working-set 10000]: clients of population S,
        each request picking one at random from a working set of that many spread
        over the N seeded (all of them warmed first), or with -fresh [-fresh-from K]
        a client not requested before, so that every request misses the cache
  keyward-bench get   -url U [-c 32] [-d 10s]
        load a GET endpoint (e.g. the JWKS)
  keyward-bench bytes -from U [-addr A]
        serve U's body from a bare net/http handler
  keyward-bench bare-token [-addr A] [-impl go|openssl] [-client-id I] [-client-secret S] [-url ISSUER]
        a bare net/http token endpoint for one client (client_secret_basic, RS256 with
        crypto/rsa or libcrypto): the ceiling of any Go token endpoint with that signer
  keyward-bench soak  -urls U1,U2,U3 -admin-id I -admin-secret S [-d 5m] [-c 24] [-outage-cmd CMD]
        mixed load on several replicas (tokens verified by caching verifiers, JWKS
        fetches, client creates) with a key rotation and an outage along the way;
        reports 5xx inside and outside the outage, lost writes and unknown kids
  keyward-bench list  -url U -admin-id I -admin-secret S -path P [-n 100]
        walk a list endpoint page by page, then time its first page and a deep one
Results are printed as one JSON object per run.`

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	url := fs.String("url", "http://127.0.0.1:8080", "keyward base URL, or the URL to GET")
	conc := fs.Int("c", 32, "concurrent connections")
	dur := fs.Duration("d", 10*time.Second, "duration")
	adminID := fs.String("admin-id", "", "environment admin client id")
	adminSecret := fs.String("admin-secret", "", "environment admin client secret")
	population := fs.String("seed", "keyward-bench", "name of the seeded population")
	var parse func() error
	set := map[string]bool{} // the flags given
	switch args[0] {
	case "sign":
		bits := fs.Int("bits", 2048, "RSA key size")
		impl := fs.String("impl", "go", "go (crypto/rsa) or openssl (libcrypto: a build with -tags openssl)")
		alg := fs.String("alg", "RS256", "RS256, ES256 or EdDSA")
		parse = func() error { return benchSign(ctx, out, *alg, *impl, *bits, *dur) }
	case "verify":
		token := fs.String("token", "", "the access token")
		jwks := fs.String("jwks", "", "the URL of the JWKS it must verify against")
		parse = func() error { return verifyToken(ctx, out, *token, *jwks) }
	case "seed":
		o := seedOptions{}
		fs.StringVar(&o.dbURL, "database-url", "", "PostgreSQL URL of keyward's database")
		fs.StringVar(&o.kek, "kek", "", "the server's key-encryption key(s), base64 (default $KEYWARD_KEY_ENCRYPTION_KEY)")
		fs.IntVar(&o.n, "n", 1_000_000, "clients to insert")
		fs.IntVar(&o.from, "from", 0, "index of the first client in the population")
		fs.IntVar(&o.perOrg, "per-org", 1000, "clients per organization")
		fs.IntVar(&o.batch, "batch", 50_000, "clients per transaction")
		parse = func() error {
			o.population = *population
			if o.kek == "" {
				o.kek = getenv("KEYWARD_KEY_ENCRYPTION_KEY")
			}
			return seed(ctx, out, o)
		}
	case "setup":
		clients := fs.Int("clients", 1, "clients to create")
		orgs := fs.Int("orgs", 1, "organizations to spread them over")
		parse = func() error {
			if !set["c"] { // one request at a time unless asked
				*conc = 1
			}
			return setup(ctx, out, *url, *adminID, *adminSecret, *clients, *conc, *orgs)
		}
	case "token":
		o := tokenOptions{}
		fs.StringVar(&o.clientID, "client-id", "", "client id (one client)")
		fs.StringVar(&o.clientSecret, "client-secret", "", "client secret (one client)")
		fs.IntVar(&o.seeded, "clients-from-seed", 0, "how many clients of the population were seeded")
		fs.IntVar(&o.workingSet, "working-set", 10_000, "distinct clients the requests pick from")
		fs.BoolVar(&o.fresh, "fresh", false, "a client not requested before on every request")
		fs.IntVar(&o.freshFrom, "fresh-from", 0, "where -fresh starts in its walk (next_fresh of an earlier run)")
		fs.IntVar(&o.requests, "requests", 0, "stop after this many requests (0: run for -d)")
		parse = func() error {
			o.population, o.base, o.conc, o.dur = *population, *url, *conc, *dur
			return benchToken(ctx, out, o)
		}
	case "get":
		parse = func() error { return benchGet(ctx, out, *url, *conc, *dur) }
	case "bytes":
		from := fs.String("from", "", "URL whose body the bare handler serves")
		addr := fs.String("addr", "127.0.0.1:0", "listen address")
		parse = func() error { return serveBytes(ctx, out, *from, *addr) }
	case "bare-token":
		addr := fs.String("addr", "127.0.0.1:0", "listen address")
		impl := fs.String("impl", "go", "go (crypto/rsa) or openssl (libcrypto: a build with -tags openssl)")
		id := fs.String("client-id", "bare-client", "the one client's id")
		sec := fs.String("client-secret", "bare-secret", "the one client's secret")
		parse = func() error { return serveBareToken(ctx, out, *addr, *impl, *id, *sec, *url) }
	case "soak":
		o := soakOptions{}
		urls := fs.String("urls", "", "comma-separated base URLs of the replicas")
		fs.IntVar(&o.jwksWorkers, "jwks-workers", 4, "workers fetching the JWKS")
		fs.IntVar(&o.writers, "writers", 2, "workers creating clients")
		fs.Float64Var(&o.rotateAt, "rotate-at", 0.3, "when to rotate the signing key, as a fraction of -d")
		fs.Float64Var(&o.outageAt, "outage-at", 0.55, "when to run -outage-cmd, as a fraction of -d")
		fs.StringVar(&o.outageCmd, "outage-cmd", "", "command (sh -c) that interrupts the database")
		fs.DurationVar(&o.graceAfterOutage, "outage-grace", 2*time.Second, "how long after every replica is ready again 5xx still count as the outage's")
		fs.DurationVar(&o.verifierRefetchInterval, "refetch-interval", 5*time.Second, "how often a verifier may refetch the JWKS on an unknown kid")
		parse = func() error {
			o.urls, o.adminID, o.adminSecret, o.dur, o.tokenWorkers = strings.Split(*urls, ","), *adminID, *adminSecret, *dur, *conc
			return soak(ctx, out, o)
		}
	case "list":
		path := fs.String("path", "/api/v1/organizations", "the list to page through")
		n := fs.Int("n", 100, "timed requests of each page")
		parse = func() error { return benchList(ctx, out, *url, *adminID, *adminSecret, *path, *n) }
	default:
		return errors.New(usage)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%s: %w\n%s", args[0], err, usage)
	}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if fs.NArg() > 0 {
		return fmt.Errorf("%s takes no arguments, got %q\n%s", args[0], fs.Args(), usage)
	}
	return parse()
}
