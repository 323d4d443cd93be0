package httpserver_test

// Client-signed bearer tokens (issue 12): JWTs a client signs itself, which
// only introspection accepts, while the client's client_signed_tokens
// setting is on. Tokens are signed with golang-jwt or the standard library,
// never with the server's jwx. Helpers start with cs.

import (
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/store"
)

const csAlias = "ops@example.com"

// csSet sets c's client_signed_tokens members and returns the setting the
// server answers with.
func (ts *testServer) csSet(t *testing.T, tok string, c credClient, setting map[string]any) map[string]any {
	t.Helper()
	r := ts.do(t, "PATCH", c.path(), tok, map[string]any{"client_signed_tokens": setting})
	admWant(t, r, http.StatusOK)
	return admObject(t, r, "client")["client_signed_tokens"].(map[string]any)
}

// csClaims are the claims of a Skykit-style token: iss, iat and exp only, at
// the server's time.
func (ts *testServer) csClaims(iss string, lifetime time.Duration) jwt.MapClaims {
	now := ts.Clock.Now()
	return jwt.MapClaims{"iss": iss, "iat": now.Unix(), "exp": now.Add(lifetime).Unix()}
}

// csSignHS256Raw signs exactly the given header and payload text with HMAC
// SHA-256 from the standard library.
func csSignHS256Raw(header, payload string, key []byte) string {
	enc := base64.RawURLEncoding.EncodeToString
	input := enc([]byte(header)) + "." + enc([]byte(payload))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(input))
	return input + "." + enc(mac.Sum(nil))
}

// csWantInactive checks an inactive answer for a client-signed token:
// exactly active false and a keyward_reason that says want and names no
// secret.
func csWantInactive(t *testing.T, got map[string]any, want string, secrets ...string) {
	t.Helper()
	reason, _ := got["keyward_reason"].(string)
	if got["active"] != false || len(got) != 2 || reason == "" {
		t.Fatalf("answer %v, want exactly active false and a keyward_reason", got)
	}
	if !strings.Contains(reason, want) {
		t.Errorf("keyward_reason %q does not say %q", reason, want)
	}
	if strings.Contains(reason, "kw_sk_") {
		t.Errorf("keyward_reason %q names a secret", reason)
	}
	for _, s := range secrets {
		if strings.Contains(reason, s) {
			t.Errorf("keyward_reason %q names a secret", reason)
		}
	}
	if strings.Count(reason, ". ") > 0 || strings.Contains(reason, "\n") {
		t.Errorf("keyward_reason %q is more than one sentence", reason)
	}
}

// csFixture is a credFixture whose private_key_jwt client accepts
// client-signed tokens under its id and the alias ops@example.com, whose
// client_secret client accepts them under its id, with a resource server of
// the same organization, a client of another organization, and a
// private_key_jwt client with a key but the setting off.
type csFixture struct {
	credFixture
	rs, outsider credClient
	off          credClient
	offKey       credKey
}

func newCSFixture(t *testing.T) csFixture {
	t.Helper()
	f := csFixture{credFixture: newCredFixture(t)}
	ts := f.ts
	ts.csSet(t, f.admin, f.pkjwt, map[string]any{"enabled": true, "issuer_aliases": []string{csAlias}})
	ts.csSet(t, f.admin, f.secret, map[string]any{"enabled": true})
	f.rs = ts.credNewClient(t, f.admin, f.org, map[string]any{"name": "resource server"})
	f.outsider = ts.credNewClient(t, f.admin, ts.createOrg(t, f.admin, "Other"), map[string]any{"name": "outsider"})
	f.off = ts.credNewClient(t, f.admin, f.org, map[string]any{"name": "off", "auth_method": "private_key_jwt"})
	f.offKey = ts.credRegister(t, f.admin, f.off, credRSA(t, 2), nil)
	return f
}

// Both shapes of client-signed token are active when valid, and each rule of
// the issue broken alone makes one inactive, with a reason.
func TestClientSignedTokenIntrospection(t *testing.T) {
	t.Parallel()
	f := newCSFixture(t)
	ts := f.ts
	rs := credBasic(f.rs.ID, f.rs.Secret)
	now := ts.Clock.Now()
	pk, sec := f.pkjwt, f.secret
	rsaKey := f.key.Private.(*rsa.PrivateKey)
	// Keys of the other algorithms, registered on the same client, and an
	// inactive second secret.
	esKey := ts.credRegister(t, f.admin, pk, credEC(t), nil)
	psKey := ts.credRegister(t, f.admin, pk, credRSA(t, 3), map[string]any{"alg": "PS256"})
	inactiveID, inactivePlain := ts.admAddSecret(t, f.admin, sec.Org, sec.ID)
	admWant(t, ts.do(t, "PATCH", sec.path()+"/secrets/"+inactiveID, f.admin, map[string]any{"status": "INACTIVE"}), http.StatusOK)

	rs256 := func(kid string, claims jwt.MapClaims) string {
		return credSign(t, jwt.SigningMethodRS256, rsaKey, kid, claims, nil)
	}
	hs256 := func(key, kid string, claims jwt.MapClaims) string {
		return credSign(t, jwt.SigningMethodHS256, []byte(key), kid, claims, nil)
	}
	skykit := ts.csClaims(csAlias, time.Hour)
	hsClaims := ts.csClaims(sec.ID, 10*time.Minute)
	with := func(base jwt.MapClaims, mutate func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range base {
			c[k] = v
		}
		mutate(c)
		return c
	}
	// python-jose writes compact JSON with sorted keys and typ JWT.
	pyJose := func(iss string) string {
		return fmt.Sprintf(`{"exp":%d,"iat":%d,"iss":%q}`, now.Add(30*time.Minute).Unix(), now.Unix(), iss)
	}

	active := []struct {
		name  string
		token string
		iss   string
		owner credClient
	}{
		{"RS256 with only iss (an alias), iat and exp, and no kid", rs256("", skykit), csAlias, pk},
		{"RS256 with the client id as iss and the key id as kid", rs256(f.key.ID, ts.csClaims(pk.ID, time.Hour)), pk.ID, pk},
		{"RS256 with the key's thumbprint as kid", rs256(f.key.Thumbprint, skykit), csAlias, pk},
		{"python-jose style RS256", credSignRS256Raw(t, `{"alg":"RS256","typ":"JWT"}`, pyJose(csAlias), rsaKey), csAlias, pk},
		{"PS256 with a key registered for PS256", credSign(t, jwt.SigningMethodPS256, psKey.Private, "", skykit, nil), csAlias, pk},
		{"ES256 with a key registered for ES256", credSign(t, jwt.SigningMethodES256, esKey.Private, esKey.ID, skykit, nil), csAlias, pk},
		{"HS256 keyed by the active secret its kid names", hs256(sec.Secret, sec.SecretID, hsClaims), sec.ID, sec},
		{"python-jose style HS256 with kid",
			csSignHS256Raw(fmt.Sprintf(`{"alg":"HS256","kid":%q,"typ":"JWT"}`, sec.SecretID), pyJose(sec.ID), []byte(sec.Secret)), sec.ID, sec},
		{"a token with iat up to 60 s ahead", rs256("", with(skykit, func(c jwt.MapClaims) { c["iat"] = now.Add(59 * time.Second).Unix() })), csAlias, pk},
		{"a token with exp - iat of exactly max_lifetime", rs256("", with(skykit, func(c jwt.MapClaims) { c["exp"] = now.Add(time.Hour).Unix() })), csAlias, pk},
		{"a token with an nbf in the past", rs256("", with(skykit, func(c jwt.MapClaims) { c["nbf"] = now.Add(-time.Minute).Unix() })), csAlias, pk},
		{"a token with extra claims (aud, sub, jti)",
			rs256("", with(skykit, func(c jwt.MapClaims) { c["aud"], c["sub"], c["jti"] = "https://api.example", "x", "y" })), csAlias, pk},
	}
	for _, tt := range active {
		t.Run(tt.name+" is active", func(t *testing.T) {
			got := ts.credIntrospect(t, rs, tt.token)
			claims, _ := admClaims(t, tt.token)
			want := map[string]any{
				"active": true, "token_type": "client_signed_jwt", "client_id": tt.owner.ID, "org_id": f.org,
				"iss": tt.iss, "iat": claims["iat"], "exp": claims["exp"], "scope": strings.Join(csScopes(tt.owner), " "),
			}
			if len(got) != len(want) {
				t.Errorf("answer %v has other members than %v", got, want)
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}

	// The private_key_jwt client's setting: max_lifetime 3600.
	unknownKey := credRSA(t, 0)
	inactive := []struct {
		name   string
		token  string
		reason string
	}{
		{"a token of a client with the setting off", credSign(t, jwt.SigningMethodRS256, f.offKey.Private, "", ts.csClaims(f.off.ID, time.Hour), nil),
			"not enabled for the client"},
		{"a token of an unknown issuer", rs256("", ts.csClaims("nobody@example.com", time.Hour)), "neither the id nor an issuer alias"},
		{"a token whose iss is an unknown client id", rs256("", ts.csClaims("m2m_nosuchclient", time.Hour)), "neither the id nor an issuer alias"},
		{"a signature by a key that is not registered", credSign(t, jwt.SigningMethodRS256, unknownKey, "", skykit, nil),
			"does not verify with any registered RS256 key"},
		{"a signature by another registered key under the kid", credSign(t, jwt.SigningMethodRS256, unknownKey, f.key.ID, skykit, nil),
			"does not verify with the registered key its kid names"},
		{"a token whose kid names no key of the client", rs256("key_nosuchkey", skykit), "kid names no registered key"},
		{"a tampered payload", csTamper(rs256("", skykit)), "does not verify"},
		{"HS256 keyed by a wrong secret", hs256("kw_sk_wrong", sec.SecretID, hsClaims), "does not verify with the secret its kid names"},
		{"HS256 naming an unknown secret", hs256(sec.Secret, "sks_nosuchsecret", hsClaims), "kid names no active secret"},
		{"HS256 naming an inactive secret", hs256(inactivePlain, inactiveID, hsClaims), "kid names no active secret"},
		{"HS256 without kid", hs256(sec.Secret, "", hsClaims), "jwt token is missing 'kid' header parameter"},
		{"HS256 without exp", hs256(sec.Secret, sec.SecretID, with(hsClaims, func(c jwt.MapClaims) { delete(c, "exp") })), "no exp claim"},
		{"HS256 for a client without secrets", hs256(sec.Secret, f.key.ID, skykit), "does not fit the registered public key"},
		{"RS256 for a client without registered keys", credSign(t, jwt.SigningMethodRS256, rsaKey, "", hsClaims, nil), "has no registered keys"},
		{"PS256 under the kid of an RS256 key", credSign(t, jwt.SigningMethodPS256, rsaKey, f.key.ID, skykit, nil), "not the alg of the key"},
		{"a token with too long a lifetime", rs256("", with(skykit, func(c jwt.MapClaims) { c["exp"] = now.Add(time.Hour + time.Second).Unix() })),
			"longer than the client's max_lifetime of 3600 seconds"},
		{"an expired token", rs256("", with(skykit, func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-time.Second).Unix()
		})), "has expired"},
		{"a token whose exp is now", rs256("", with(skykit, func(c jwt.MapClaims) { c["iat"], c["exp"] = now.Add(-time.Minute).Unix(), now.Unix() })),
			"has expired"},
		{"a token without exp", rs256("", with(skykit, func(c jwt.MapClaims) { delete(c, "exp") })), "no exp claim"},
		{"a token without iat", rs256("", with(skykit, func(c jwt.MapClaims) { delete(c, "iat") })), "no iat claim"},
		{"a token without iss", rs256("", with(skykit, func(c jwt.MapClaims) { delete(c, "iss") })), "no iss claim"},
		{"a token with an iat more than 60 s ahead", rs256("", with(skykit, func(c jwt.MapClaims) { c["iat"] = now.Add(61 * time.Second).Unix() })),
			"iat is in the future"},
		{"a token with an nbf in the future", rs256("", with(skykit, func(c jwt.MapClaims) { c["nbf"] = now.Add(2 * time.Minute).Unix() })), "nbf"},
		{"a token with alg none", credSign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", skykit, nil), "alg is none"},
		{"an RS512 token", credSign(t, jwt.SigningMethodRS512, rsaKey, "", skykit, nil), "not supported"},
		{"a token with a crit header", credSign(t, jwt.SigningMethodRS256, rsaKey, "", skykit, map[string]any{"crit": []string{"exp"}}), "crit"},
		{"a token whose claims repeat iss", credSignRS256Raw(t, `{"alg":"RS256"}`,
			fmt.Sprintf(`{"iss":%q,"iat":%d,"exp":%d,"iss":%q}`, "nobody", now.Unix(), now.Add(time.Minute).Unix(), csAlias), rsaKey),
			"repeats the member"},
	}
	for _, tt := range inactive {
		t.Run(tt.name+" is inactive", func(t *testing.T) {
			csWantInactive(t, ts.credIntrospect(t, rs, tt.token), tt.reason, sec.Secret, inactivePlain)
		})
	}

	t.Run("another organization's client sees the token as of an unknown issuer", func(t *testing.T) {
		tok := rs256("", skykit)
		outsider := ts.credIntrospect(t, credBasic(f.outsider.ID, f.outsider.Secret), tok)
		unknown := ts.credIntrospect(t, rs, rs256("", ts.csClaims("nobody@example.com", time.Hour)))
		csWantInactive(t, outsider, "neither the id nor an issuer alias")
		if outsider["keyward_reason"] != unknown["keyward_reason"] {
			t.Errorf("another organization's client reads %q, an unknown issuer %q: they must not differ",
				outsider["keyward_reason"], unknown["keyward_reason"])
		}
		id, secret := ts.envAdmin(t)
		credWantActive(t, ts.credIntrospect(t, credBasic(id, secret), tok), true)
	})
	t.Run("a token that looks like keyward's own is checked only as one", func(t *testing.T) {
		// Signed by the client's registered key, but with the typ or iss of
		// keyward's access tokens: exactly {"active": false}.
		atJWT := credSign(t, jwt.SigningMethodRS256, rsaKey, f.key.ID, skykit, map[string]any{"typ": "at+jwt"})
		credWantActive(t, ts.credIntrospect(t, rs, atJWT), false)
		ownIss := rs256("", ts.csClaims(ts.URL, time.Hour))
		credWantActive(t, ts.credIntrospect(t, rs, ownIss), false)
	})
	t.Run("a token of a deleted client is inactive", func(t *testing.T) {
		gone := ts.credNewClient(t, f.admin, f.org, map[string]any{"name": "gone"})
		ts.csSet(t, f.admin, gone, map[string]any{"enabled": true, "issuer_aliases": []string{"gone@example.com"}})
		tok := hs256(gone.Secret, gone.SecretID, ts.csClaims("gone@example.com", time.Minute))
		credWantActive(t, ts.credIntrospect(t, rs, tok), true)
		admWant(t, ts.do(t, "DELETE", gone.path(), f.admin, nil), http.StatusNoContent)
		csWantInactive(t, ts.credIntrospect(t, rs, tok), "neither the id nor an issuer alias")
	})
	t.Run("a token turns inactive when its exp passes", func(t *testing.T) {
		tok := hs256(sec.Secret, sec.SecretID, ts.csClaims(sec.ID, 2*time.Minute))
		credWantActive(t, ts.credIntrospect(t, rs, tok), true)
		ts.Clock.Advance(2 * time.Minute)
		csWantInactive(t, ts.credIntrospect(t, rs, tok), "has expired")
	})
	t.Run("a shorter max_lifetime applies at once", func(t *testing.T) {
		ts.csSet(t, f.admin, sec, map[string]any{"max_lifetime": 60})
		csWantInactive(t, ts.credIntrospect(t, rs, hs256(sec.Secret, sec.SecretID, ts.csClaims(sec.ID, 61*time.Second))),
			"max_lifetime of 60 seconds")
		credWantActive(t, ts.credIntrospect(t, rs, hs256(sec.Secret, sec.SecretID, ts.csClaims(sec.ID, time.Minute))), true)
	})
	t.Run("an active token records its key's use", func(t *testing.T) {
		if err := ts.Usage.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := ts.admCount(t, `SELECT count(*) FROM client_keys WHERE id = $1 AND last_used_time IS NOT NULL`, esKey.ID); n != 1 {
			t.Error("the ES256 key's last_used_time was not recorded")
		}
	})
	t.Run("refused tokens of an enabled client are logged without the token", func(t *testing.T) {
		tok := rs256("key_nosuchkey", skykit)
		ts.credIntrospect(t, rs, tok)
		logs := ts.Logs()
		if !strings.Contains(logs, "client-signed token refused") || strings.Contains(logs, tok) {
			t.Error("a refused client-signed token is not logged, or is logged with the token")
		}
	})
}

// csScopes are the scopes the fixture registered on a client.
func csScopes(c credClient) []string {
	var out []string
	for _, s := range c.View["scopes"].([]any) {
		out = append(out, s.(string))
	}
	return out
}

// csTamper changes the payload of a signed JWT and keeps its signature.
func csTamper(tok string) string {
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	payload = []byte(strings.Replace(string(payload), `"iss"`, `"iss" `, 1))
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
}

// The client_signed_tokens setting through the admin API: defaults,
// creation, PATCH of single members, validation, and issuer aliases unique
// across the environment.
func TestClientSignedTokenSetting(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	adm := ts.adminToken(t)
	org := ts.createOrg(t, adm, "Acme")
	other := ts.createOrg(t, adm, "Other")
	setting := func(t *testing.T, r apiResponse) map[string]any {
		t.Helper()
		return admObject(t, r, "client")["client_signed_tokens"].(map[string]any)
	}
	wantSetting := func(t *testing.T, got map[string]any, enabled bool, aliases []any, maxLifetime float64) {
		t.Helper()
		if got["enabled"] != enabled || fmt.Sprint(got["issuer_aliases"]) != fmt.Sprint(aliases) || got["max_lifetime"] != maxLifetime || len(got) != 3 {
			t.Errorf("client_signed_tokens = %v, want enabled %v, issuer_aliases %v, max_lifetime %v", got, enabled, aliases, maxLifetime)
		}
	}

	t.Run("a new client has it off, without aliases, with max_lifetime 3600", func(t *testing.T) {
		c := ts.credNewClient(t, adm, org, map[string]any{})
		wantSetting(t, c.View["client_signed_tokens"].(map[string]any), false, []any{}, 3600)
	})
	var first credClient
	t.Run("a client may be created with it; GET and the list show it", func(t *testing.T) {
		first = ts.credNewClient(t, adm, org, map[string]any{"auth_method": "private_key_jwt",
			"client_signed_tokens": map[string]any{"enabled": true, "issuer_aliases": []string{"b@example.com", "a@example.com"}}})
		wantSetting(t, first.View["client_signed_tokens"].(map[string]any), true, []any{"b@example.com", "a@example.com"}, 3600)
		wantSetting(t, setting(t, ts.do(t, "GET", first.path(), adm, nil)), true, []any{"b@example.com", "a@example.com"}, 3600)
		for _, c := range admList(t, ts.do(t, "GET", "/api/v1/organizations/"+org+"/clients", adm, nil), "clients") {
			if c["client_id"] == first.ID {
				wantSetting(t, c["client_signed_tokens"].(map[string]any), true, []any{"b@example.com", "a@example.com"}, 3600)
			}
		}
	})
	t.Run("PATCH changes only the members present", func(t *testing.T) {
		wantSetting(t, ts.csSet(t, adm, first, map[string]any{"max_lifetime": 600}), true, []any{"b@example.com", "a@example.com"}, 600)
		wantSetting(t, ts.csSet(t, adm, first, map[string]any{"enabled": false}), false, []any{"b@example.com", "a@example.com"}, 600)
		wantSetting(t, ts.csSet(t, adm, first, map[string]any{"issuer_aliases": []string{"a@example.com"}}), false, []any{"a@example.com"}, 600)
		r := ts.do(t, "PATCH", first.path(), adm, map[string]any{"name": "renamed"})
		admWant(t, r, http.StatusOK)
		wantSetting(t, setting(t, r), false, []any{"a@example.com"}, 600)
	})
	t.Run("an org admin may change it", func(t *testing.T) {
		_, orgTok := ts.admOrgAdmin(t, adm, org)
		wantSetting(t, ts.csSet(t, orgTok, first, map[string]any{"enabled": true}), true, []any{"a@example.com"}, 600)
	})

	apiKeyClient := ts.credNewClient(t, adm, org, map[string]any{"auth_method": "api_key"})
	bad := []struct {
		name    string
		setting any
		field   string
	}{
		{"null", nil, "client_signed_tokens"},
		{"an array", []any{}, "client_signed_tokens"},
		{"an unknown member", map[string]any{"enable": true}, `"client_signed_tokens.enable"`},
		{"enabled as a string", map[string]any{"enabled": "yes"}, "client_signed_tokens.enabled"},
		{"max_lifetime 59", map[string]any{"max_lifetime": 59}, "client_signed_tokens.max_lifetime"},
		{"max_lifetime 86401", map[string]any{"max_lifetime": 86401}, "client_signed_tokens.max_lifetime"},
		{"max_lifetime as a string", map[string]any{"max_lifetime": "3600"}, "client_signed_tokens.max_lifetime"},
		{"six aliases", map[string]any{"issuer_aliases": admSeq("x", 6)}, "client_signed_tokens.issuer_aliases"},
		{"issuer_aliases null", map[string]any{"issuer_aliases": nil}, "client_signed_tokens.issuer_aliases"},
		{"an empty alias", map[string]any{"issuer_aliases": []string{""}}, "client_signed_tokens.issuer_aliases[0]"},
		{"an alias of 257 characters", map[string]any{"issuer_aliases": []string{strings.Repeat("é", 257)}}, "client_signed_tokens.issuer_aliases[0]"},
		{"an alias with a space", map[string]any{"issuer_aliases": []string{"ops team"}}, "client_signed_tokens.issuer_aliases[0]"},
		{"an alias given twice", map[string]any{"issuer_aliases": []string{"a", "b", "a"}}, "client_signed_tokens.issuer_aliases[2]"},
		{"an alias shaped like a client id", map[string]any{"issuer_aliases": []string{"m2m_abc"}}, "client_signed_tokens.issuer_aliases[0]"},
		{"keyward's issuer as an alias", map[string]any{"issuer_aliases": []string{ts.URL}}, "client_signed_tokens.issuer_aliases[0]"},
	}
	for _, tt := range bad {
		t.Run("PATCH refuses "+tt.name, func(t *testing.T) {
			admWantError(t, ts.do(t, "PATCH", first.path(), adm, map[string]any{"client_signed_tokens": tt.setting}), http.StatusBadRequest, tt.field)
		})
		t.Run("creation refuses "+tt.name, func(t *testing.T) {
			admWantError(t, ts.do(t, "POST", "/api/v1/organizations/"+org+"/clients", adm,
				map[string]any{"name": "x", "client_signed_tokens": tt.setting}), http.StatusBadRequest, tt.field)
		})
	}
	t.Run("an api_key client cannot turn it on", func(t *testing.T) {
		admWantError(t, ts.do(t, "PATCH", apiKeyClient.path(), adm, map[string]any{"client_signed_tokens": map[string]any{"enabled": true}}),
			http.StatusBadRequest, "client_signed_tokens.enabled")
	})

	t.Run("an alias another client holds is a 409 naming the field, in any organization", func(t *testing.T) {
		c := ts.credNewClient(t, adm, other, map[string]any{})
		r := ts.do(t, "PATCH", c.path(), adm, map[string]any{"client_signed_tokens": map[string]any{"issuer_aliases": []string{"free@example.com", "a@example.com"}}})
		admWantError(t, r, http.StatusConflict, "client_signed_tokens.issuer_aliases[1]", "a@example.com")
		// Nothing of the refused PATCH was stored.
		wantSetting(t, setting(t, ts.do(t, "GET", c.path(), adm, nil)), false, []any{}, 3600)
		r = ts.do(t, "POST", "/api/v1/organizations/"+other+"/clients", adm,
			map[string]any{"name": "y", "client_signed_tokens": map[string]any{"issuer_aliases": []string{"a@example.com"}}})
		admWantError(t, r, http.StatusConflict, "client_signed_tokens.issuer_aliases[0]")
	})
	t.Run("a client's id cannot be another client's alias", func(t *testing.T) {
		// Environment clients (the bootstrap admin) may have ids of any shape.
		now := ts.Clock.Now()
		if _, err := ts.Store.CreateClient(t.Context(), store.Client{ID: "ops-admin", Name: "env", AuthMethod: store.AuthClientSecret,
			Expiry: 3600, CreateTime: now}, nil); err != nil {
			t.Fatal(err)
		}
		admWantError(t, ts.do(t, "PATCH", first.path(), adm, map[string]any{"client_signed_tokens": map[string]any{"issuer_aliases": []string{"ops-admin"}}}),
			http.StatusConflict, "client_signed_tokens.issuer_aliases[0]")
	})
	t.Run("an alias is free again once its client lets it go or is deleted", func(t *testing.T) {
		c := ts.credNewClient(t, adm, other, map[string]any{})
		ts.csSet(t, adm, first, map[string]any{"issuer_aliases": []string{}})
		wantSetting(t, ts.csSet(t, adm, c, map[string]any{"issuer_aliases": []string{"a@example.com"}}), false, []any{"a@example.com"}, 3600)
		admWant(t, ts.do(t, "DELETE", c.path(), adm, nil), http.StatusNoContent)
		wantSetting(t, ts.csSet(t, adm, first, map[string]any{"issuer_aliases": []string{"a@example.com"}}), true, []any{"a@example.com"}, 600)
		if n := ts.admCount(t, `SELECT count(*) FROM client_issuer_aliases`); n != 1 {
			t.Errorf("%d alias rows, want 1", n)
		}
	})
}

// Two replicas on one database: turning the setting off, or taking an
// alias away, through one makes a valid token inactive on the other within
// 2 s, although the other serves the client from memory; an alias added on
// one is known on the other at once.
func TestClientSignedTokenReplicas(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	a := newTestServerOn(t, db, nil)
	b := newTestServerOn(t, db, nil)
	adm := a.adminToken(t)
	org := a.createOrg(t, adm, "Acme")
	rsc := a.credNewClient(t, adm, org, map[string]any{"name": "resource server"})
	rs := credBasic(rsc.ID, rsc.Secret)
	c := a.credNewClient(t, adm, org, map[string]any{"name": "migrating"})
	hs := func(iss string) string {
		return credSign(t, jwt.SigningMethodHS256, []byte(c.Secret), c.SecretID, b.csClaims(iss, 10*time.Minute), nil)
	}
	eventuallyInactive := func(t *testing.T, tok, reason string) {
		t.Helper()
		var last map[string]any
		if !eventually(t, 2*time.Second, func() bool {
			last = b.credIntrospect(t, rs, tok)
			return last["active"] == false
		}) {
			t.Fatalf("the other replica still answers %v after 2 s", last)
		}
		csWantInactive(t, last, reason)
	}

	t.Run("an alias added on one replica is known on the other at once", func(t *testing.T) {
		// The other replica has looked the alias up in vain, and remembers.
		csWantInactive(t, b.credIntrospect(t, rs, hs("svc@example.com")), "neither the id nor an issuer alias")
		a.csSet(t, adm, c, map[string]any{"enabled": true, "issuer_aliases": []string{"svc@example.com"}})
		var last map[string]any
		if !eventually(t, 2*time.Second, func() bool {
			last = b.credIntrospect(t, rs, hs("svc@example.com"))
			return last["active"] == true
		}) {
			t.Fatalf("the other replica still answers %v after 2 s", last)
		}
	})
	t.Run("an alias taken away stops working on the other replica", func(t *testing.T) {
		tok := hs("svc@example.com")
		credWantActive(t, b.credIntrospect(t, rs, tok), true)
		a.csSet(t, adm, c, map[string]any{"issuer_aliases": []string{}})
		eventuallyInactive(t, tok, "neither the id nor an issuer alias")
	})
	t.Run("turning the setting off makes a valid token inactive on the other replica", func(t *testing.T) {
		tok := hs(c.ID)
		credWantActive(t, b.credIntrospect(t, rs, tok), true)
		credWantActive(t, a.credIntrospect(t, rs, tok), true)
		a.csSet(t, adm, c, map[string]any{"enabled": false})
		csWantInactive(t, a.credIntrospect(t, rs, tok), "not enabled")
		eventuallyInactive(t, tok, "not enabled")
	})
}

// Nothing but introspection accepts a client-signed token: not the token
// endpoint's client authentication or jwt-bearer grant, not the admin API,
// not keyward's own token verification, even when the client imitates an
// access token with its registered key.
func TestClientSignedTokensAreNoAccessTokens(t *testing.T) {
	t.Parallel()
	f := newCSFixture(t)
	ts := f.ts
	pk, sec := f.pkjwt, f.secret
	now := ts.Clock.Now()
	rsaKey := f.key.Private.(*rsa.PrivateKey)
	// pk is made an environment-wide admin in name: a token that passed as
	// an access token would open the admin API.
	imitation := credSign(t, jwt.SigningMethodRS256, rsaKey, f.key.ID, jwt.MapClaims{
		"iss": ts.URL, "sub": pk.ID, "client_id": pk.ID, "aud": ts.URL, "scope": "keyward:admin",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "imitation",
	}, map[string]any{"typ": "at+jwt"})
	tokens := []struct{ name, token string }{
		{"an RS256 token (iss, iat, exp)", credSign(t, jwt.SigningMethodRS256, rsaKey, "", ts.csClaims(csAlias, time.Hour), nil)},
		{"an RS256 token with the client id and kid", credSign(t, jwt.SigningMethodRS256, rsaKey, f.key.ID, ts.csClaims(pk.ID, time.Hour), nil)},
		{"an HS256 token", credSign(t, jwt.SigningMethodHS256, []byte(sec.Secret), sec.SecretID, ts.csClaims(sec.ID, time.Hour), nil)},
		{"an imitation of an access token signed with a registered key", imitation},
	}
	rs := credBasic(f.rs.ID, f.rs.Secret)
	credWantActive(t, ts.credIntrospect(t, rs, tokens[0].token), true) // the real thing works where it should
	credWantActive(t, ts.credIntrospect(t, rs, imitation), false)
	for _, tt := range tokens {
		t.Run(tt.name+" is refused as a client assertion", func(t *testing.T) {
			tokWantError(t, ts.credAssert(t, tt.token), http.StatusUnauthorized, "invalid_client", false)
		})
		t.Run(tt.name+" is refused as the jwt-bearer grant", func(t *testing.T) {
			tokWantError(t, ts.credGrant(t, tt.token), http.StatusBadRequest, "invalid_grant", false)
		})
		t.Run(tt.name+" is refused as a bearer token at the token endpoint", func(t *testing.T) {
			res := ts.tokSend(t, tokRequest{Authorization: "Bearer " + tt.token, Form: tokForm("grant_type", "client_credentials")})
			tokWantError(t, res, http.StatusUnauthorized, "invalid_client", false)
		})
		t.Run(tt.name+" is refused by the admin API", func(t *testing.T) {
			admWantError(t, ts.do(t, "GET", "/api/v1/whoami", tt.token, nil), http.StatusUnauthorized)
			admWantError(t, ts.do(t, "GET", "/api/v1/organizations", tt.token, nil), http.StatusUnauthorized)
		})
		t.Run(tt.name+" is refused by keyward's own token verification", func(t *testing.T) {
			if v, err := ts.Keys.Verify(tt.token, ts.URL); err == nil {
				t.Fatalf("keys.Manager.Verify accepted it: %+v", v)
			}
		})
		t.Run(tt.name+" cannot be revoked as an access token", func(t *testing.T) {
			ts.credRevoke(t, credBasic(f.rs.ID, f.rs.Secret), tt.token)
			if n := ts.admCount(t, `SELECT count(*) FROM revoked_tokens`); n != 0 {
				t.Errorf("%d revoked jtis, want 0", n)
			}
		})
	}
}

// Refused client-signed tokens of a client count toward its limit of
// failed authentications, as failed client authentications do; a valid
// token stays active, and the resource server's address is not limited.
func TestClientSignedTokenFailuresAreLimited(t *testing.T) {
	t.Parallel()
	ts := newTestServerWith(t, serverOptions{failuresByClient: 3, failuresBySource: 1000})
	adm := ts.adminToken(t)
	org := ts.createOrg(t, adm, "Acme")
	rsc := ts.credNewClient(t, adm, org, map[string]any{"name": "resource server"})
	rs := credBasic(rsc.ID, rsc.Secret)
	c := ts.credNewClient(t, adm, org, map[string]any{"client_signed_tokens": map[string]any{"enabled": true}})
	bad := credSign(t, jwt.SigningMethodHS256, []byte("kw_sk_wrong"), c.SecretID, ts.csClaims(c.ID, time.Minute), nil)
	good := credSign(t, jwt.SigningMethodHS256, []byte(c.Secret), c.SecretID, ts.csClaims(c.ID, time.Minute), nil)
	for range 3 {
		csWantInactive(t, ts.credIntrospect(t, rs, bad), "does not verify")
	}
	credWantActive(t, ts.credIntrospect(t, rs, good), true)
	// The client is over its limit: its next failed authentication is 429.
	res := ts.tokSend(t, tokRequest{Authorization: tokBasic(c.ID, "kw_sk_wrong"), Form: tokForm("grant_type", "client_credentials")})
	if res.Status != http.StatusTooManyRequests {
		t.Fatalf("a failed authentication of the client after 3 refused tokens answered %d %s, want 429", res.Status, res.Body)
	}
	tokWantSuccess(t, ts.tokSend(t, tokRequest{Authorization: tokBasic(c.ID, c.Secret), Form: tokForm("grant_type", "client_credentials")}))
	credWantActive(t, ts.credIntrospect(t, rs, good), true)
	if err := ts.Failures.Flush(t.Context(), ts.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if n := ts.admCount(t, `SELECT coalesce(sum(count), 0) FROM audit_events WHERE action = 'client.authenticate'
		AND target = $1 AND result LIKE '%client-signed token%'`, c.ID); n != 3 {
		t.Errorf("%d audited refusals of client-signed tokens, want 3", n)
	}
}

// Introspecting client-signed tokens runs no query once the caller, the
// client and its issuer are in memory; an unknown issuer is looked up once
// per negative-cache period.
func TestClientSignedTokenIntrospectionIsServedFromMemory(t *testing.T) {
	t.Parallel()
	queries := &queryCounter{}
	ts := newTestServerOn(t, pgtest.NewDatabase(t), queries)
	adm := ts.adminToken(t)
	org := ts.createOrg(t, adm, "Acme")
	rsc := ts.credNewClient(t, adm, org, map[string]any{"name": "resource server"})
	rs := credBasic(rsc.ID, rsc.Secret)
	c := ts.credNewClient(t, adm, org, map[string]any{"client_signed_tokens": map[string]any{"enabled": true, "issuer_aliases": []string{"svc@example.com"}}})
	good := credSign(t, jwt.SigningMethodHS256, []byte(c.Secret), c.SecretID, ts.csClaims("svc@example.com", time.Hour), nil)
	unknown := credSign(t, jwt.SigningMethodHS256, []byte(c.Secret), c.SecretID, ts.csClaims("nobody@example.com", time.Hour), nil)

	// Wait until the creations' own notifications have come and gone.
	if !eventually(t, 10*time.Second, func() bool {
		n := queries.n.Load()
		for range 3 {
			credWantActive(t, ts.credIntrospect(t, rs, good), true)
			csWantInactive(t, ts.credIntrospect(t, rs, unknown), "neither the id nor an issuer alias")
			time.Sleep(20 * time.Millisecond)
		}
		return queries.n.Load() == n
	}) {
		t.Fatalf("introspection kept querying the database; the last: %s", queries.last)
	}
	before := queries.n.Load()
	for range 100 {
		credWantActive(t, ts.credIntrospect(t, rs, good), true)
		csWantInactive(t, ts.credIntrospect(t, rs, unknown), "neither the id nor an issuer alias")
	}
	if n := queries.n.Load() - before; n != 0 {
		t.Fatalf("200 warm introspections ran %d queries, want 0; the last: %s", n, queries.last)
	}
	// An unknown issuer is asked about again once its negative entry ages.
	ts.Clock.Advance(6 * time.Second)
	csWantInactive(t, ts.credIntrospect(t, rs, unknown), "neither the id nor an issuer alias")
	if n := queries.n.Load() - before; n != 1 {
		t.Fatalf("an unknown issuer after the negative TTL ran %d queries, want 1", n)
	}
}
