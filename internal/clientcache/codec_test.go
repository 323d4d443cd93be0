package clientcache_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clientcache"
	"github.com/keyward/keyward/internal/store"
)

// fixed loads the clients it holds, by id.
type fixed map[string]store.Client

func (f fixed) ClientByID(_ context.Context, id string) (store.Client, error) {
	c, ok := f[id]
	if !ok {
		return store.Client{}, store.ErrNotFound
	}
	return c, nil
}

func (f fixed) ClientVersions(context.Context, []string) (map[string]int64, error) {
	return map[string]int64{}, nil
}

func (f fixed) ClientIDByIssuer(_ context.Context, iss string) (string, error) {
	for id, c := range f {
		for _, a := range c.ClientSigned.IssuerAliases {
			if a == iss {
				return id, nil
			}
		}
	}
	return "", store.ErrNotFound
}

// TestCachedClientsKeepWhatTheTokenPathReads: a client served from memory
// carries every field the token path and introspection read, exactly as
// loaded, for every kind of client; it drops the name, the description,
// the bookkeeping times and the inactive secrets, and the sealed copies of
// secrets of clients that cannot sign with them.
func TestCachedClientsKeepWhatTheTokenPathReads(t *testing.T) {
	now := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	secret := func(id, status string) store.Secret {
		return store.Secret{ID: id, ClientID: "", Hash: []byte("hash of " + id), Sealed: []byte("sealed " + id), KEKID: "kek_1",
			Suffix: "wxyz", Status: status, CreateTime: now, UpdateTime: now, LastUsedTime: &now}
	}
	for _, tc := range []struct {
		name   string
		client store.Client
		want   store.Client // what a hit returns, ClientID of secrets and keys aside
	}{{
		name: "client secret, one active and one disabled secret, custom claims, context identifiers",
		client: store.Client{
			ID: "m2m_a", Seq: 41, OrganizationID: "org_1", Name: "billing", Description: "bills", AuthMethod: store.AuthClientSecret,
			Scopes: []string{"read", "write"}, Audience: []string{"https://api.example"},
			CustomClaims: []store.CustomClaim{{Key: "tier", Value: "gold"}, {Key: "region", Value: ""}}, Expiry: 900,
			InjectContextIdentifier: true, CreateTime: now, UpdateTime: now, Version: 7,
			Secrets: []store.Secret{secret("sks_1", store.SecretActive), secret("sks_2", "disabled")},
		},
		want: store.Client{
			ID: "m2m_a", Seq: 41, OrganizationID: "org_1", AuthMethod: store.AuthClientSecret,
			Scopes: []string{"read", "write"}, Audience: []string{"https://api.example"},
			CustomClaims: []store.CustomClaim{{Key: "tier", Value: "gold"}, {Key: "region", Value: ""}}, Expiry: 900,
			InjectContextIdentifier: true, Version: 7,
			Secrets: []store.Secret{{ID: "sks_1", Hash: []byte("hash of sks_1"), Sealed: []byte("sealed sks_1"), KEKID: "kek_1", Status: store.SecretActive}},
		},
	}, {
		name: "private_key_jwt with two keys, client-signed tokens with aliases, an environment client",
		client: store.Client{
			ID: "m2m_b", Seq: 1, AuthMethod: store.AuthPrivateKeyJWT, Expiry: 3600, Version: 1,
			Keys: []store.ClientKey{
				{ID: "key_1", Alg: "RS256", PublicJWK: json.RawMessage(`{"kty":"RSA","n":"AQAB","e":"AQAB"}`), Thumbprint: "tp1", JWKKID: "k1", CreateTime: now},
				{ID: "key_2", Alg: "ES256", PublicJWK: json.RawMessage(`{"kty":"EC"}`), Thumbprint: "tp2"},
			},
			ClientSigned: store.ClientSignedTokens{Enabled: true, IssuerAliases: []string{"spiffe://a/b", "https://ci.example"}, MaxLifetime: 300},
		},
		want: store.Client{
			ID: "m2m_b", Seq: 1, AuthMethod: store.AuthPrivateKeyJWT, Expiry: 3600, Version: 1, Secrets: []store.Secret{},
			Keys: []store.ClientKey{
				{ID: "key_1", Alg: "RS256", PublicJWK: json.RawMessage(`{"kty":"RSA","n":"AQAB","e":"AQAB"}`), Thumbprint: "tp1", JWKKID: "k1"},
				{ID: "key_2", Alg: "ES256", PublicJWK: json.RawMessage(`{"kty":"EC"}`), Thumbprint: "tp2"},
			},
			ClientSigned: store.ClientSignedTokens{Enabled: true, IssuerAliases: []string{"spiffe://a/b", "https://ci.example"}, MaxLifetime: 300},
		},
	}, {
		name: "API-key client: secrets keep no sealed copy; nothing else set",
		client: store.Client{
			ID: "m2m_c", OrganizationID: "org_2", AuthMethod: store.AuthAPIKey, Version: 3,
			Secrets: []store.Secret{secret("sks_3", store.SecretActive)},
		},
		want: store.Client{
			ID: "m2m_c", OrganizationID: "org_2", AuthMethod: store.AuthAPIKey, Version: 3,
			Secrets: []store.Secret{{ID: "sks_3", Hash: []byte("hash of sks_3"), KEKID: "kek_1", Status: store.SecretActive}},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			c := clientcache.New(fixed{tc.client.ID: tc.client}, cfg, func() time.Time { return now }, slog.New(slog.NewTextHandler(io.Discard, nil)))
			// The id a request names may be part of a longer string (its
			// credentials); the cache must hold its own copy.
			request := tc.client.ID + ":the-plain-secret"
			id := request[:len(tc.client.ID)]
			if _, err := c.ClientByID(context.Background(), id); err != nil { // the miss loads it
				t.Fatal(err)
			}
			got, err := c.ClientByID(context.Background(), strings.Clone(id)) // the hit decodes it
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.want.Secrets {
				tc.want.Secrets[i].ClientID = tc.client.ID
			}
			for i := range tc.want.Keys {
				tc.want.Keys[i].ClientID = tc.client.ID
			}
			if clientcache.SharesBytes(c, id, request) {
				t.Fatal("the cache keys the client by the request's string, keeping the request's credentials alive")
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("from memory:\n got %+v\nwant %+v", got, tc.want)
			}
			if _, stats := c.Stats(); stats != 1 {
				t.Fatalf("%d loads, want 1", stats)
			}
			for _, a := range tc.client.ClientSigned.IssuerAliases {
				byIss, err := c.ClientByIssuer(context.Background(), a)
				if err != nil || byIss.ID != tc.client.ID {
					t.Fatalf("ClientByIssuer(%q) = %q, %v", a, byIss.ID, err)
				}
			}
		})
	}
}
