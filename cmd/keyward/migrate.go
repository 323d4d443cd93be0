package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/keyward/keyward/internal/config"
)

// subcommand splits "up --flag x" into "up" and its flags, so flags may
// follow the subcommand.
func subcommand(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sub, args := subcommand(args)
	cfg, rest, err := load("migrate up|status", config.UsesDatabase, args, getenv, stderr)
	if err != nil {
		return err
	}
	if len(rest) != 0 || (sub != "up" && sub != "status") {
		return &usageError{"usage: keyward migrate up|status [flags]"}
	}
	st, err := openStore(ctx, cfg.DatabaseURL, nil, 0)
	if err != nil {
		return err
	}
	defer st.Close()
	if sub == "status" {
		return st.MigrationStatus(ctx, stdout)
	}
	n, err := st.MigrateUp(ctx, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migration(s)\n", n)
	return nil
}
