package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// keysRemote reports whether `keyward keys ARGS` calls the admin API rather
// than the database: when --url is given, or when KEYWARD_URL is set and no
// database URL is (neither --database-url nor KEYWARD_DATABASE_URL nor
// DATABASE_URL). The database mode is the one `keys rewrap` needs and the
// one an operator runs beside the servers with their configuration; the
// remote one needs only an admin client.
func keysRemote(args []string, getenv func(string) string) bool {
	dbFlag := false
	for _, a := range args {
		if a == "--" {
			break
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			continue
		}
		switch name {
		case "url":
			return true
		case "database-url":
			dbFlag = true
		}
	}
	return !dbFlag && getenv("KEYWARD_URL") != "" && getenv("KEYWARD_DATABASE_URL") == "" && getenv("DATABASE_URL") == ""
}

// signingKey is a signing key as the admin API answers it.
type signingKey struct {
	KID          string  `json:"kid"`
	Alg          string  `json:"alg"`
	State        string  `json:"state"`
	CreateTime   string  `json:"create_time"`
	ActivateTime *string `json:"activate_time"`
	RetireTime   *string `json:"retire_time"`
	RemoveTime   *string `json:"remove_time"`
	RevokeTime   *string `json:"revoke_time"`
}

// runKeysRemote is `keyward keys list|rotate|revoke KID` against the admin
// API (environment admins only).
func runKeysRemote(ctx context.Context, sub string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		method, path, about, examples string
		want                          []string
	)
	switch sub {
	case "list":
		method, path = http.MethodGet, "/api/v1/keys"
		about = "Shows the signing keys and when the next rotation is due, through the admin API."
		examples = "  keyward keys list --url http://127.0.0.1:8080\n  KEYWARD_URL=http://127.0.0.1:8080 keyward keys list --output json"
	case "rotate":
		method, path = http.MethodPost, "/api/v1/keys/rotate"
		about = "Makes the next key sign now and publishes a new next key, through the admin API.\nRefused (exit 1) while the next key has been published for less than the publish lead."
		examples = "  keyward keys rotate --url http://127.0.0.1:8080"
	case "revoke":
		method = http.MethodPost
		want = []string{"KID"}
		about = "Withdraws a signing key at once (an emergency), through the admin API; the next key signs."
		examples = "  keyward keys revoke 3q2x...Tk --url http://127.0.0.1:8080"
	case "rewrap":
		return &usageError{"keyward keys rewrap works on the database only: run it with the servers' settings (KEYWARD_DATABASE_URL, KEYWARD_KEY_ENCRYPTION_KEY), without --url"}
	default:
		return &usageError{keysUsage}
	}
	c := newRemoteCommand("keys "+sub, strings.Join(append(want, "--url URL [flags]"), " "),
		about+"\n\nWithout --url (and without KEYWARD_URL, or with a database URL set) the keys commands work\non the database directly, with the settings of keyward serve.", examples, getenv, stdout, stderr)
	pos, err := c.parse(args, want...)
	if err != nil {
		return err
	}
	if sub == "revoke" {
		path = "/api/v1/keys/" + pathEscape(pos[0]) + "/revoke"
	}
	api, err := c.api(ctx)
	if err != nil {
		return err
	}
	var resp struct {
		Keys             []signingKey `json:"keys"`
		NextRotationTime *string      `json:"next_rotation_time"`
	}
	raw, err := api.do(ctx, method, path, nil, &resp)
	if err != nil {
		return err
	}
	return c.print(raw, func(w io.Writer) {
		fmt.Fprintln(w, "KID\tSTATE\tALG\tCREATED\tSIGNS FROM\tRETIRED\tLEAVES JWKS")
		for _, k := range resp.Keys {
			leaves := k.RemoveTime
			if k.State == "revoked" {
				leaves = k.RevokeTime
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.State, k.Alg, k.CreateTime,
				nullOrDash(k.ActivateTime), nullOrDash(k.RetireTime), nullOrDash(leaves))
		}
		switch sub {
		case "rotate":
			fmt.Fprintln(w, "\nrotated: the next key signs now; replicas take it up within seconds")
		case "revoke":
			fmt.Fprintf(w, "\nrevoked %s: it has left the JWKS and its tokens no longer verify\n", pos[0])
		}
		if resp.NextRotationTime != nil {
			fmt.Fprintf(w, "Next scheduled rotation: %s\n", *resp.NextRotationTime)
		}
	})
}
