package httpserver_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/keys"
	"github.com/keyward/keyward/internal/store"
)

// The signing-key lifecycle as admin tooling and resource servers see it:
// emergency revocation over the admin API, and metadata that follows the
// published keys.

func TestAdminRevokeKey(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	adminID, adminSecret := ts.envAdmin(t)
	tok := ts.token(t, adminID, adminSecret)
	org := ts.createOrg(t, tok, "Acme")
	_, orgTok := ts.admOrgAdmin(t, tok, org)
	revoked := ts.Keys.ActiveKID()
	var next string
	for _, k := range ts.Keys.Keys() {
		if k.State == store.KeyNext {
			next = k.KID
		}
	}
	_, etagBefore := ts.Keys.JWKS()

	t.Run("org admins may not revoke keys", func(t *testing.T) {
		admWantError(t, ts.do(t, "POST", "/api/v1/keys/"+revoked+"/revoke", orgTok, nil), http.StatusForbidden)
	})
	t.Run("an unknown kid is 404", func(t *testing.T) {
		admWantError(t, ts.do(t, "POST", "/api/v1/keys/no-such-key/revoke", tok, nil), http.StatusNotFound)
	})
	if ts.Keys.ActiveKID() != revoked {
		t.Fatal("a refused revocation changed the active key")
	}

	// The next key was published moments ago: an emergency does not wait.
	ts.Clock.Advance(time.Minute)
	r := ts.do(t, "POST", "/api/v1/keys/"+revoked+"/revoke", tok, nil)
	admWant(t, r, http.StatusOK)

	t.Run("the answer lists the key as revoked and the next key as active", func(t *testing.T) {
		states := map[string]string{}
		for _, k := range admList(t, r, "keys") {
			states[k["kid"].(string)] = k["state"].(string)
			if k["kid"] == revoked {
				admWantTime(t, "revoke_time", k["revoke_time"])
			}
		}
		if states[revoked] != store.KeyRevoked || states[next] != store.KeyActive {
			t.Errorf("states %v, want %s revoked and %s active", states, revoked, next)
		}
		if _, ok := r.JSON(t)["next_rotation_time"]; !ok {
			t.Errorf("the answer lacks next_rotation_time: %s", r.Body)
		}
	})
	t.Run("the next JWKS fetch lacks the key", func(t *testing.T) {
		set := ts.tokFetchJWKS(t)
		if slices.Contains(set.kids(), revoked) {
			t.Errorf("JWKS kids %v still include the revoked %s", set.kids(), revoked)
		}
		resp, _ := tokGet(t, ts.URL+"/.well-known/jwks.json", "If-None-Match", etagBefore)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("the ETag from before the revocation gets %d, want 200 with the new JWKS", resp.StatusCode)
		}
	})
	t.Run("new tokens carry another kid and verify against the JWKS", func(t *testing.T) {
		fresh := ts.token(t, adminID, adminSecret)
		header, _ := ts.tokVerify(t, fresh)
		if header["kid"] == revoked || header["kid"] != next {
			t.Errorf("a new token has kid %v, want the former next key %s", header["kid"], next)
		}
		admWant(t, ts.do(t, "GET", "/api/v1/keys", fresh, nil), http.StatusOK)
	})
	t.Run("tokens the revoked key signed no longer authenticate", func(t *testing.T) {
		admWantError(t, ts.do(t, "GET", "/api/v1/keys", tok, nil), http.StatusUnauthorized)
	})
	t.Run("revoking it again is a conflict", func(t *testing.T) {
		fresh := ts.token(t, adminID, adminSecret)
		admWantError(t, ts.do(t, "POST", "/api/v1/keys/"+revoked+"/revoke", fresh, nil), http.StatusConflict, revoked)
	})
}

func TestAdminKeysShowTheNextRotation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.adminToken(t)
	r := ts.do(t, "GET", "/api/v1/keys", tok, nil)
	admWant(t, r, http.StatusOK)
	var active map[string]any
	for _, k := range admList(t, r, "keys") {
		if k["state"] == store.KeyActive {
			active = k
		}
	}
	at := admWantTime(t, "next_rotation_time", r.JSON(t)["next_rotation_time"])
	from := admWantTime(t, "activate_time", active["activate_time"])
	if got := at.Sub(from); got != keys.DefaultRotationPeriod {
		t.Errorf("next_rotation_time is %s after the active key's activate_time, want the rotation period %s", got, keys.DefaultRotationPeriod)
	}
}

// TestMetadataFollowsTheKeys changes the signing algorithm under a running
// server: the metadata names the new algorithm as soon as the JWKS
// publishes a key of it, and drops the old one when its last key leaves.
func TestMetadataFollowsTheKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ts := newTestServer(t)
	algs := func(t *testing.T) []string {
		t.Helper()
		resp, body := tokGet(t, ts.URL+"/.well-known/oauth-authorization-server")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("metadata: %d %s", resp.StatusCode, body)
		}
		if got, want := resp.Header.Get("Cache-Control"), "public, max-age=900"; got != want {
			t.Errorf("Cache-Control %q, want %q: no longer than the JWKS", got, want)
		}
		var meta struct {
			Algs []string `json:"access_token_signing_alg_values_supported"`
		}
		if err := json.Unmarshal(body, &meta); err != nil {
			t.Fatal(err)
		}
		return meta.Algs
	}
	if got := algs(t); !slices.Equal(got, []string{"RS256"}) {
		t.Fatalf("algorithms %v, want [RS256]", got)
	}

	// Another replica, already configured for EdDSA, maintains the keys;
	// this server reloads as a notification would make it.
	cfg := ts.Config
	cfg.Alg = keys.EdDSA
	other := keys.New(ts.Store, ts.Ring, cfg, ts.Clock.Now, slog.New(slog.DiscardHandler))
	if _, err := other.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ts.Keys.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	t.Run("a published EdDSA next key is advertised before it signs", func(t *testing.T) {
		if got := algs(t); !slices.Equal(got, []string{"EdDSA", "RS256"}) {
			t.Errorf("algorithms %v, want [EdDSA RS256]", got)
		}
	})
	ts.Clock.Advance(cfg.PublishLead)
	if _, err := other.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	ts.Clock.Advance(cfg.MaxTokenLifetime + keys.ClockSkew)
	if _, err := other.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ts.Keys.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	t.Run("RS256 is no longer advertised once its last key has left", func(t *testing.T) {
		if got := algs(t); !slices.Equal(got, []string{"EdDSA"}) {
			t.Errorf("algorithms %v, want [EdDSA]", got)
		}
		for _, k := range ts.tokFetchJWKS(t).Keys {
			if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != "EdDSA" {
				t.Errorf("JWKS entry %v, want an Ed25519 key", k)
			}
		}
	})
}
