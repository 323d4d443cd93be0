// Command keyward is an OAuth 2.0 client-credentials authorization server:
// machines trade client credentials for short-lived RS256 JWT access tokens.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/keyward/keyward/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		// --help has printed the usage and is no error.
		if !errors.Is(err, errReported) && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "keyward:", err)
		}
		os.Exit(exitCode(err))
	}
}

// usageError is a wrong command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// errReported is an error already shown to the user.
var errReported = errors.New("reported")

func exitCode(err error) int {
	var ue *usageError
	var ce *config.Error
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue), errors.As(err, &ce), errors.Is(err, errFlagParse):
		return 2
	}
	return 1
}

const usage = `keyward: an OAuth 2.0 client-credentials authorization server

Usage:
  keyward serve            serve HTTP (applies pending migrations first)
  keyward migrate up       apply pending database migrations
  keyward migrate status   show which migrations are applied
  keyward bootstrap        create an environment-admin client and print its credentials once
  keyward keys list        show the signing keys and what happens to them next
  keyward keys rotate      make the next key sign and publish a new next key
  keyward keys revoke KID  withdraw a signing key at once (emergency); the next key signs
  keyward keys rewrap      re-seal every private key, client secret and API key under the first key-encryption key
  keyward token            get an access token with client credentials or a credentials.json
  keyward sign-client-token  sign a bearer JWT as a client would itself (client-signed tokens, for testing)
  keyward version          print the version

Admin commands, through the admin API (KEYWARD_URL, KEYWARD_CLIENT_ID, KEYWARD_CLIENT_SECRET):
  keyward orgs create|list|get|update|delete         organizations
  keyward clients create|list|get|update|delete      clients of an organization
  keyward secrets add|list|deactivate|activate|delete  a client's secrets
  keyward keys list|rotate|revoke KID --url URL      the signing keys, without database access

Run "keyward COMMAND --help" for a command's flags.
`

// run is main without the process: tests call it with their own arguments,
// environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &usageError{"no command given"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "bootstrap":
		return runBootstrap(ctx, rest, getenv, stdout, stderr)
	case "keys":
		return runKeys(ctx, rest, getenv, stdout, stderr)
	case "token":
		return runToken(ctx, rest, getenv, stdout, stderr)
	case "sign-client-token":
		return runSignClientToken(ctx, rest, getenv, stdout, stderr)
	case "orgs":
		return runOrgs(ctx, rest, getenv, stdout, stderr)
	case "clients":
		return runClients(ctx, rest, getenv, stdout, stderr)
	case "secrets":
		return runSecrets(ctx, rest, getenv, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &usageError{fmt.Sprintf("unknown command %q", cmd)}
}

// errFlagParse marks a flag error the flag package has already printed.
var errFlagParse = errors.New("invalid flags")

// load wraps config.Load: a flag error (already printed with the usage)
// becomes errFlagParse, exit status 2.
func load(name string, uses config.Uses, args []string, getenv func(string) string, stderr io.Writer) (config.Config, []string, error) {
	cfg, rest, err := config.Load(name, uses, args, getenv, stderr)
	var ce *config.Error
	if err != nil && !errors.Is(err, flag.ErrHelp) && !errors.As(err, &ce) {
		return cfg, rest, fmt.Errorf("%w: %w", errReported, errFlagParse)
	}
	return cfg, rest, err
}
