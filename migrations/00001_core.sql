-- The core schema: organizations, their clients, the clients' secrets and the
-- server's signing keys. Ids are opaque prefixed strings made by keyward; seq
-- columns give list endpoints a stable keyset order without OFFSET scans.

-- +goose Up
CREATE TABLE organizations (
    id           text PRIMARY KEY,
    seq          bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    display_name text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 256),
    external_id  text UNIQUE CHECK (char_length(external_id) BETWEEN 1 AND 256),
    create_time  timestamptz NOT NULL,
    update_time  timestamptz NOT NULL
);

-- A client with no organization is an environment client (the bootstrap admin).
-- auth_method is fixed at creation; later methods (private_key_jwt, api_key)
-- hang their credentials off the client in tables of their own.
CREATE TABLE clients (
    id              text PRIMARY KEY,
    seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    organization_id text REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 256),
    description     text NOT NULL DEFAULT '',
    auth_method     text NOT NULL DEFAULT 'client_secret'
                    CHECK (auth_method IN ('client_secret', 'private_key_jwt', 'api_key')),
    scopes          text[] NOT NULL DEFAULT '{}',
    audience        text[] NOT NULL DEFAULT '{}',
    custom_claims   jsonb NOT NULL DEFAULT '[]',
    expiry          integer NOT NULL CHECK (expiry > 0),
    create_time     timestamptz NOT NULL,
    update_time     timestamptz NOT NULL
);
-- Listing an organization's clients in keyset order.
CREATE INDEX clients_organization_seq ON clients (organization_id, seq);

-- A secret is kept twice, neither in the clear: hash is a keyed HMAC for
-- client_secret_basic/post, sealed is an AEAD box (for client_secret_jwt,
-- which needs the secret itself). kek_id names the key-encryption key both
-- were made with, so a key-encryption-key rewrap can find and redo them.
CREATE TABLE client_secrets (
    id             text PRIMARY KEY,
    client_id      text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    hash           bytea NOT NULL,
    sealed         bytea NOT NULL,
    kek_id         text NOT NULL,
    secret_suffix  text NOT NULL,
    status         text NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE')),
    create_time    timestamptz NOT NULL,
    update_time    timestamptz NOT NULL,
    last_used_time timestamptz
);
-- The token path loads a client's secrets by client id.
CREATE INDEX client_secrets_client ON client_secrets (client_id, create_time);

-- Signing keys move next -> active -> retired (-> removed), or to revoked.
-- activate_time is, for a next key, the earliest time it may sign; remove_time
-- is when a retired key leaves the JWKS.
CREATE TABLE signing_keys (
    kid            text PRIMARY KEY,
    alg            text NOT NULL,
    state          text NOT NULL CHECK (state IN ('next', 'active', 'retired', 'revoked')),
    public_jwk     jsonb NOT NULL,
    sealed_private bytea NOT NULL,
    kek_id         text NOT NULL,
    create_time    timestamptz NOT NULL,
    activate_time  timestamptz,
    retire_time    timestamptz,
    remove_time    timestamptz,
    revoke_time    timestamptz
);
-- Exactly one key signs at any instant, whatever the number of replicas.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true)) WHERE state = 'active';

-- +goose Down
DROP TABLE signing_keys;
DROP TABLE client_secrets;
DROP TABLE clients;
DROP TABLE organizations;
