package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/pgtest"
)

// keysCommand runs `keyward keys ARGS...` with e and returns what it printed.
func keysCommand(e env, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"keys"}, args...), e.get, &stdout, &stderr)
	return stdout.String(), err
}

func TestKeysListShowsWhatHappensNext(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	e := env{"KEYWARD_DATABASE_URL": db, "KEYWARD_KEY_ENCRYPTION_KEY": newKEK(), "KEYWARD_KEY_ROTATION_PERIOD": "240h"}
	out, err := keysCommand(e, "list")
	if err != nil {
		t.Fatalf("keys list = %v", err)
	}
	ks := signingKeys(t, db)
	active, next := kidsIn(ks, "active"), kidsIn(ks, "next")
	activated := ks[slices.IndexFunc(ks, func(k keyRow) bool { return k.State == "active" })].Activate
	rotation := activated.Add(240 * time.Hour).UTC().Format(time.RFC3339)
	want := fmt.Sprintf("Next rotation (scheduled rotation, every 10d): %s (10d from now); %s will sign and %s will retire.",
		rotation, next[0], active[0])
	if !strings.Contains(out, want) {
		t.Errorf("keys list does not say when the next rotation is; want %q in:\n%s", want, out)
	}
	if !strings.Contains(out, active[0]+" signs every new token. It is RS256 and has signed since ") {
		t.Errorf("keys list does not say what signs since when:\n%s", out)
	}
}

func TestKeysRevoke(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	e := env{"KEYWARD_DATABASE_URL": db, "KEYWARD_KEY_ENCRYPTION_KEY": newKEK()}
	if _, err := keysCommand(e, "list"); err != nil {
		t.Fatal(err)
	}
	before := signingKeys(t, db)
	active, next := kidsIn(before, "active"), kidsIn(before, "next")

	out, err := keysCommand(e, "revoke", active[0])
	if err != nil {
		t.Fatalf("keys revoke = %v", err)
	}
	after := signingKeys(t, db)
	t.Run("the key is revoked and the next key signs at once", func(t *testing.T) {
		if got := kidsIn(after, "revoked"); !slices.Equal(got, active) {
			t.Errorf("revoked keys %v, want %v", got, active)
		}
		if got := kidsIn(after, "active"); !slices.Equal(got, next) {
			t.Errorf("active keys %v, want the former next %v", got, next)
		}
		if got := kidsIn(after, "next"); len(got) != 1 || got[0] == next[0] {
			t.Errorf("next keys %v, want a new one", got)
		}
	})
	t.Run("it says so, and lists the keys", func(t *testing.T) {
		if !strings.Contains(out, "revoked "+active[0]+": it has left the JWKS") || !strings.Contains(out, next[0]+" signs now") {
			t.Errorf("keys revoke printed:\n%s", out)
		}
		if !strings.Contains(out, active[0]+" is revoked: withdrawn from the JWKS") {
			t.Errorf("the key list does not show the revoked key:\n%s", out)
		}
	})
	t.Run("revoking it again fails and changes nothing", func(t *testing.T) {
		_, err := keysCommand(e, "revoke", active[0])
		if exitStatus(err) != 1 || !strings.Contains(err.Error(), "revoked already") {
			t.Errorf("a second revoke = %v (exit %d), want exit 1 saying it is revoked already", err, exitStatus(err))
		}
		if again := signingKeys(t, db); !slices.EqualFunc(again, after, sameKey) {
			t.Errorf("keys are %v, were %v", again, after)
		}
	})
	t.Run("an unknown kid fails with exit status 1", func(t *testing.T) {
		_, err := keysCommand(e, "revoke", "no-such-kid")
		if exitStatus(err) != 1 || !strings.Contains(err.Error(), `no signing key "no-such-kid"`) {
			t.Errorf("keys revoke no-such-kid = %v (exit %d)", err, exitStatus(err))
		}
	})
	t.Run("without a kid it is a usage error", func(t *testing.T) {
		if _, err := keysCommand(e, "revoke"); exitStatus(err) != 2 {
			t.Errorf("keys revoke = %v (exit %d), want exit 2", err, exitStatus(err))
		}
	})
	t.Run("flags may come after the kid", func(t *testing.T) {
		kid := kidsIn(after, "next")[0]
		if _, err := keysCommand(env{"KEYWARD_KEY_ENCRYPTION_KEY": e["KEYWARD_KEY_ENCRYPTION_KEY"]}, "revoke", kid, "--database-url", db); err != nil {
			t.Fatalf("keys revoke KID --database-url = %v", err)
		}
		if got := kidsIn(signingKeys(t, db), "revoked"); !slices.Contains(got, kid) {
			t.Errorf("revoked keys %v, want %s among them", got, kid)
		}
	})
}

// TestKeyEncryptionKeyRotation follows the README's procedure with real
// servers: the new KEK second everywhere, then first everywhere, then
// keyward keys rewrap, then the old KEK removed.
func TestKeyEncryptionKeyRotation(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	oldKEK, newKEK := newKEK(), newKEK()
	withKEKs := func(keks string) env {
		return env{"KEYWARD_DATABASE_URL": db, "KEYWARD_KEY_ENCRYPTION_KEY": keks}
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"bootstrap"}, withKEKs(oldKEK).get, &stdout, &stderr); err != nil {
		t.Fatalf("bootstrap = %v: %s", err, stderr.String())
	}
	var creds map[string]string
	if err := json.Unmarshal(stdout.Bytes(), &creds); err != nil {
		t.Fatal(err)
	}
	old := startServe(t, withKEKs(oldKEK))
	oldToken, err := tokenCommand(t, old.URL, creds["client_id"], creds["client_secret"])
	if err != nil {
		t.Fatalf("token from the server with the old KEK: %v", err)
	}
	oldToken = strings.TrimSpace(oldToken)

	// Both KEKs, the new one first, on a second replica; then the rewrap.
	both := startServe(t, withKEKs(newKEK+","+oldKEK))
	if _, err := tokenCommand(t, both.URL, creds["client_id"], creds["client_secret"]); err != nil {
		t.Fatalf("token from the replica with both KEKs: %v", err)
	}
	out, err := keysCommand(withKEKs(newKEK+","+oldKEK), "rewrap")
	if err != nil {
		t.Fatalf("keys rewrap = %v", err)
	}
	if !strings.Contains(out, "rewrapped 2 signing key(s) and 1 client secret(s)") {
		t.Errorf("keys rewrap printed:\n%s", out)
	}
	old.Stop(t)
	both.Stop(t)

	// The old KEK is gone from the configuration.
	srv := startServe(t, withKEKs(newKEK))
	t.Run("a replica with only the new KEK signs tokens for the client's secret", func(t *testing.T) {
		tok, err := tokenCommand(t, srv.URL, creds["client_id"], creds["client_secret"])
		if err != nil {
			t.Fatalf("token with only the new KEK: %v", err)
		}
		verifyToken(t, strings.TrimSpace(tok), fetchJWKS(t, srv.URL), srv.URL)
	})
	t.Run("a token issued under the old KEK still verifies", func(t *testing.T) {
		// A resource server keeps the old token's issuer, that of the old replica.
		verifyToken(t, oldToken, fetchJWKS(t, srv.URL), old.URL)
	})
	t.Run("a second rewrap finds nothing left to do", func(t *testing.T) {
		out, err := keysCommand(withKEKs(newKEK), "rewrap")
		if err != nil || !strings.Contains(out, "rewrapped 0 signing key(s) and 0 client secret(s)") {
			t.Errorf("keys rewrap = %v:\n%s", err, out)
		}
	})
}
