package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/keys"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

func runKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sub, args := subcommand(args)
	cfg, rest, err := load("keys list|rotate", config.UsesDatabase|config.UsesKEK|config.UsesKeys, args, getenv, stderr)
	if err != nil {
		return err
	}
	if len(rest) != 0 || (sub != "list" && sub != "rotate") {
		return &usageError{"usage: keyward keys list|rotate [flags]"}
	}
	ring, err := secret.NewKeyring(cfg.KEKs...)
	if err != nil {
		return &config.Error{Setting: "KEYWARD_KEY_ENCRYPTION_KEY", Problem: err.Error()}
	}
	st, err := openStore(ctx, cfg.DatabaseURL, nil, 0)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.MigrateUp(ctx, nil); err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	km := keys.New(st, ring, keys.Config{
		Bits: cfg.SigningKeyBits, JWKSMaxAge: cfg.JWKSMaxAge,
		PublishLead: cfg.KeyPublishLead, MaxTokenLifetime: cfg.MaxTokenExpiry,
	}, time.Now, slog.New(slog.DiscardHandler))
	if err := km.Ensure(ctx); err != nil {
		return err
	}
	if sub == "rotate" {
		err := km.Rotate(ctx)
		var tooEarly *keys.TooEarlyError
		if errors.As(err, &tooEarly) {
			printKeys(stdout, km.Keys(), time.Now())
			return fmt.Errorf("not rotated: %w; verifiers may not have fetched it yet", tooEarly)
		}
		if err != nil {
			return err
		}
		log.Debug("rotated")
		fmt.Fprintln(stdout, "rotated: the next key signs now; replicas take it up within --key-reload-interval")
	}
	printKeys(stdout, km.Keys(), time.Now())
	return nil
}

// printKeys shows the keys as a table, then in sentences what happens next.
func printKeys(w io.Writer, ks []store.SigningKey, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tSTATE\tALG\tCREATED\tSIGNS FROM\tRETIRED\tLEAVES JWKS")
	for _, k := range ks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.State, k.Alg, ts(&k.CreateTime),
			ts(k.ActivateTime), ts(k.RetireTime), ts(k.RemoveTime))
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, k := range ks {
		switch k.State {
		case store.KeyActive:
			fmt.Fprintf(w, "%s signs every new token.\n", k.KID)
		case store.KeyNext:
			if k.ActivateTime != nil && now.Before(*k.ActivateTime) {
				fmt.Fprintf(w, "%s is published; `keyward keys rotate` can make it sign from %s (%s from now).\n",
					k.KID, ts(k.ActivateTime), k.ActivateTime.Sub(now).Round(time.Second))
			} else {
				fmt.Fprintf(w, "%s is published and ready: `keyward keys rotate` makes it sign now.\n", k.KID)
			}
		case store.KeyRetired:
			fmt.Fprintf(w, "%s no longer signs; it stays in the JWKS until %s, when its last token has expired.\n",
				k.KID, ts(k.RemoveTime))
		case store.KeyRevoked:
			fmt.Fprintf(w, "%s is revoked and withdrawn from the JWKS.\n", k.KID)
		}
	}
}

func ts(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
