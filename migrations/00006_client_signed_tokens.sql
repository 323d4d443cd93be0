-- Client-signed bearer tokens (issue 12): a client may sign a short JWT
-- itself (RS256, PS256 or ES256 with a registered key; HS256 with a client
-- secret named by kid) and send it straight to a resource server, which asks
-- keyward's introspection whether it is active. Off by default, per client.
--
-- The setting lives on the client row, so changing it bumps the client's
-- version and notifies keyward_clients like any other change. Issuer
-- aliases, the identifiers besides the client id that may stand in a
-- token's iss, are a credential-like table of their own: unique across the
-- environment (a token's iss names one client), gone with their client,
-- and any change of one is a change of its client.

-- +goose Up
ALTER TABLE clients
    ADD COLUMN client_signed_tokens_enabled boolean NOT NULL DEFAULT false,
    -- The longest exp - iat a client-signed token may have, in seconds.
    ADD COLUMN client_signed_max_lifetime integer NOT NULL DEFAULT 3600
        CHECK (client_signed_max_lifetime BETWEEN 60 AND 86400);

-- At most 5 per client (checked by the admin API under the client's row
-- lock); position keeps them in the order the admin gave.
CREATE TABLE client_issuer_aliases (
    alias     text PRIMARY KEY CHECK (char_length(alias) BETWEEN 1 AND 256),
    client_id text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    position  smallint NOT NULL CHECK (position BETWEEN 0 AND 4)
);
-- Loading a client's aliases, and the cascade of its deletion.
CREATE INDEX client_issuer_aliases_client ON client_issuer_aliases (client_id, position);

CREATE TRIGGER client_issuer_aliases_changed AFTER INSERT OR UPDATE OR DELETE ON client_issuer_aliases
    FOR EACH ROW EXECUTE FUNCTION keyward_secret_changed();

-- +goose Down
DROP TABLE client_issuer_aliases;
ALTER TABLE clients DROP COLUMN client_signed_max_lifetime, DROP COLUMN client_signed_tokens_enabled;
