-- Every way a machine authenticates (issue 4): public keys registered on
-- private_key_jwt clients, API keys of api_key clients, the replay store of
-- client assertions' jti, the jti of revoked access tokens, and clients'
-- inject_context_identifier flag.
--
-- Registered keys and API keys are credentials: like client_secrets, any
-- change of one is a change of its client (the client's version grows and
-- keyward_clients is notified, so every replica's cache drops the client at
-- once). last_used_time alone is bookkeeping and changes nothing. The replay
-- and revocation stores are no credentials: they change nothing in caches,
-- and every replica purges their expired rows.

-- +goose Up
ALTER TABLE clients ADD COLUMN inject_context_identifier boolean NOT NULL DEFAULT false;

-- A private_key_jwt client's public keys, at most 5 (enforced under the
-- client's row lock). public_jwk is the normalised public JWK keyward
-- verifies with, never a private member. An assertion's kid names a key by
-- id, by its RFC 7638 thumbprint, or by the kid its JWK was registered with.
CREATE TABLE client_keys (
    id             text PRIMARY KEY,
    client_id      text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    alg            text NOT NULL CHECK (alg IN ('RS256', 'PS256', 'ES256')),
    public_jwk     jsonb NOT NULL,
    thumbprint     text NOT NULL,
    jwk_kid        text CHECK (char_length(jwk_kid) BETWEEN 1 AND 256),
    create_time    timestamptz NOT NULL,
    last_used_time timestamptz,
    -- The same key twice, or two keys answering to one kid, would make a
    -- kid ambiguous.
    UNIQUE (client_id, thumbprint),
    UNIQUE (client_id, jwk_kid)
);
-- The token path loads a client's keys by client id (with the client);
-- UNIQUE (client_id, thumbprint) serves that lookup and the cascade.

CREATE TRIGGER client_keys_changed AFTER INSERT OR DELETE ON client_keys
    FOR EACH ROW EXECUTE FUNCTION keyward_secret_changed();
CREATE TRIGGER client_keys_updated AFTER UPDATE ON client_keys
    FOR EACH ROW
    WHEN ((OLD.alg, OLD.public_jwk, OLD.thumbprint, OLD.jwk_kid) IS DISTINCT FROM (NEW.alg, NEW.public_jwk, NEW.thumbprint, NEW.jwk_kid))
    EXECUTE FUNCTION keyward_secret_changed();

-- An api_key client's long-lived keys, at most 10. Like a client secret,
-- a key is kept as a keyed hash (found by introspection through the unique
-- index: one lookup) and sealed under the key-encryption key, so a
-- key-encryption-key rewrap can recompute the hash.
CREATE TABLE api_keys (
    id             text PRIMARY KEY,
    client_id      text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    hash           bytea NOT NULL,
    sealed         bytea NOT NULL,
    kek_id         text NOT NULL,
    key_suffix     text NOT NULL,
    status         text NOT NULL CHECK (status IN ('ACTIVE', 'INACTIVE')),
    create_time    timestamptz NOT NULL,
    update_time    timestamptz NOT NULL,
    expire_time    timestamptz,
    last_used_time timestamptz
);
CREATE UNIQUE INDEX api_keys_hash ON api_keys (hash);
-- Listing a client's keys, and the cascade of its deletion.
CREATE INDEX api_keys_client ON api_keys (client_id, create_time);

CREATE TRIGGER api_keys_changed AFTER INSERT OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION keyward_secret_changed();
CREATE TRIGGER api_keys_updated AFTER UPDATE ON api_keys
    FOR EACH ROW
    WHEN ((OLD.status, OLD.hash, OLD.sealed, OLD.kek_id, OLD.expire_time) IS DISTINCT FROM (NEW.status, NEW.hash, NEW.sealed, NEW.kek_id, NEW.expire_time))
    EXECUTE FUNCTION keyward_secret_changed();

-- The jti of every client assertion accepted, until its exp: an assertion is
-- accepted once (RFC 7523 section 3), on any replica, because the one
-- INSERT ... ON CONFLICT that records a jti is also the check. A row whose
-- exp has passed may be taken over by a new assertion with the same jti.
CREATE TABLE assertion_jtis (
    client_id text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    jti       text NOT NULL CHECK (char_length(jti) BETWEEN 1 AND 256),
    exp       timestamptz NOT NULL,
    PRIMARY KEY (client_id, jti)
);
-- The periodic purge of expired rows.
CREATE INDEX assertion_jtis_exp ON assertion_jtis (exp);

-- The jti of every revoked access token, until the token expires (RFC 7009):
-- introspection and the admin API's bearer check refuse them.
CREATE TABLE revoked_tokens (
    jti         text PRIMARY KEY,
    client_id   text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    exp         timestamptz NOT NULL,
    revoke_time timestamptz NOT NULL
);
CREATE INDEX revoked_tokens_exp ON revoked_tokens (exp);
-- The cascade of a client's deletion.
CREATE INDEX revoked_tokens_client ON revoked_tokens (client_id);

-- +goose Down
DROP TABLE revoked_tokens;
DROP TABLE assertion_jtis;
DROP TABLE api_keys;
DROP TABLE client_keys;
ALTER TABLE clients DROP COLUMN inject_context_identifier;
