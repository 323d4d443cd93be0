package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/keys"
	"github.com/keyward/keyward/internal/rewrap"
	"github.com/keyward/keyward/internal/secret"
	"github.com/keyward/keyward/internal/store"
)

const keysUsage = "usage: keyward keys list|rotate|revoke KID|rewrap [flags] (on the database), or keyward keys list|rotate|revoke KID --url URL (through the admin API)"

// keysConfig is the key lifecycle's part of the configuration, the same
// for serve and the keys commands.
func keysConfig(cfg config.Config) keys.Config {
	return keys.Config{
		Alg:              cfg.SigningAlg,
		Bits:             cfg.SigningKeyBits,
		JWKSMaxAge:       cfg.JWKSMaxAge,
		PublishLead:      cfg.KeyPublishLead,
		RotationPeriod:   cfg.KeyRotationPeriod,
		MaxTokenLifetime: cfg.MaxTokenExpiry,
	}
}

func runKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sub, args := subcommand(args)
	if keysRemote(args, getenv) {
		return runKeysRemote(ctx, sub, args, getenv, stdout, stderr)
	}
	var kid string
	if sub == "revoke" {
		kid, args = subcommand(args)
	}
	cfg, rest, err := load("keys list|rotate|revoke KID|rewrap", config.UsesDatabase|config.UsesKEK|config.UsesKeys, args, getenv, stderr)
	if err != nil {
		return err
	}
	if sub == "revoke" && kid == "" && len(rest) == 1 {
		kid, rest = rest[0], nil
	}
	switch {
	case len(rest) != 0, sub == "revoke" && kid == "":
		return &usageError{keysUsage}
	case sub != "list" && sub != "rotate" && sub != "revoke" && sub != "rewrap":
		return &usageError{keysUsage}
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
	if sub == "rewrap" {
		res, err := rewrap.Run(ctx, st, ring)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rewrapped %d signing key(s) and %d client secret(s) under key-encryption key %s\n",
			res.SigningKeys, res.ClientSecrets, res.KEKID)
		fmt.Fprintf(stdout, "already under it: %d signing key(s) and %d client secret(s)\n",
			res.SigningKeysAlready, res.ClientSecretsAlready)
		fmt.Fprintf(stdout, "API keys: %d rewrapped, %d already under it\n", res.APIKeys, res.APIKeysAlready)
		fmt.Fprintln(stdout, "every replica now works without the old key-encryption key: remove it from their configuration")
		return nil
	}

	kcfg := keysConfig(cfg)
	km := keys.New(st, ring, kcfg, time.Now, slog.New(slog.DiscardHandler))
	defer km.Close()
	if err := km.Ensure(ctx); err != nil {
		return err
	}
	switch sub {
	case "rotate":
		err := km.Rotate(ctx)
		var tooEarly *keys.TooEarlyError
		if errors.As(err, &tooEarly) {
			printKeys(stdout, km.Keys(), kcfg, time.Now())
			return fmt.Errorf("not rotated: %w; verifiers may not have fetched it yet", tooEarly)
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "rotated: the next key signs now; replicas take it up within seconds")
	case "revoke":
		err := km.Revoke(ctx, kid)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("no signing key %q (keyward keys list shows them)", kid)
		case errors.Is(err, keys.ErrAlreadyRevoked):
			return fmt.Errorf("the signing key %s is revoked already", kid)
		case err != nil:
			return err
		}
		fmt.Fprintf(stdout, "revoked %s: it has left the JWKS and its tokens no longer verify; %s signs now\n", kid, km.ActiveKID())
	}
	printKeys(stdout, km.Keys(), kcfg, time.Now())
	return nil
}

// printKeys shows the keys as a table, then in sentences what happens next
// and when.
func printKeys(w io.Writer, ks []store.SigningKey, cfg keys.Config, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tSTATE\tALG\tCREATED\tSIGNS FROM\tRETIRED\tLEAVES JWKS")
	for _, k := range ks {
		leaves := k.RemoveTime
		if k.State == store.KeyRevoked {
			leaves = k.RevokeTime
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.State, k.Alg, ts(&k.CreateTime),
			ts(k.ActivateTime), ts(k.RetireTime), ts(leaves))
	}
	tw.Flush()
	fmt.Fprintln(w)
	var active, next *store.SigningKey
	for i := range ks {
		switch k := &ks[i]; k.State {
		case store.KeyActive:
			active = k
			fmt.Fprintf(w, "%s signs every new token. It is %s and has signed since %s.\n", k.KID, k.Alg, ts(k.ActivateTime))
		case store.KeyNext:
			if next == nil || (next.Alg != cfg.Alg && k.Alg == cfg.Alg) {
				next = k
			}
			if k.ActivateTime != nil && now.Before(*k.ActivateTime) {
				fmt.Fprintf(w, "%s is published; `keyward keys rotate` can make it sign from %s (%s from now).\n",
					k.KID, ts(k.ActivateTime), span(k.ActivateTime.Sub(now)))
			} else {
				fmt.Fprintf(w, "%s is published and ready: `keyward keys rotate` makes it sign now.\n", k.KID)
			}
		case store.KeyRetired:
			fmt.Fprintf(w, "%s no longer signs; it stays in the JWKS until %s (%s from now), when its last token has expired.\n",
				k.KID, ts(k.RemoveTime), span(k.RemoveTime.Sub(now)))
		case store.KeyRevoked:
			fmt.Fprintf(w, "%s is revoked: withdrawn from the JWKS, its tokens no longer verify; its record goes at %s.\n",
				k.KID, ts(k.RemoveTime))
		}
	}
	at, ok := keys.NextRotation(ks, cfg)
	switch {
	case ok:
		why := "scheduled rotation, every " + span(cfg.RotationPeriod)
		if active.Alg != cfg.Alg {
			why = "algorithm change from " + active.Alg + " to " + cfg.Alg
		}
		when := span(at.Sub(now)) + " from now"
		if !at.After(now) {
			when = "due now: a running server does it within seconds"
		}
		fmt.Fprintf(w, "Next rotation (%s): %s (%s); %s will sign and %s will retire.\n",
			why, ts(&at), when, next.KID, active.KID)
	case active != nil:
		fmt.Fprintf(w, "Next rotation: once a %s key has been published for %s; a running server publishes one within seconds.\n",
			cfg.Alg, span(cfg.PublishLead))
	}
}

func ts(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// span writes a duration the way people read one: 29d23h, 45m, 10s.
func span(d time.Duration) string {
	if d < 0 {
		return "-" + span(-d)
	}
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	d = d.Round(time.Minute)
	days, hours, mins := d/(24*time.Hour), d%(24*time.Hour)/time.Hour, d%time.Hour/time.Minute
	var b strings.Builder
	if days > 0 {
		fmt.Fprintf(&b, "%dd", days)
	}
	if hours > 0 {
		fmt.Fprintf(&b, "%dh", hours)
	}
	if mins > 0 && days == 0 {
		fmt.Fprintf(&b, "%dm", mins)
	}
	if b.Len() == 0 {
		return "0m"
	}
	return b.String()
}
