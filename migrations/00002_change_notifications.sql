-- Change notifications for replicas' in-memory state. Every change that
-- matters to the token path bumps the client's version and notifies
-- keyward_clients with the client id; a change of signing keys notifies
-- keyward_keys. NOTIFY is transactional: replicas hear of a change only once
-- it is committed. The version lets a replica's periodic check find entries
-- it missed while it was not listening.

-- +goose Up
ALTER TABLE clients ADD COLUMN version bigint NOT NULL DEFAULT 1;

-- +goose StatementBegin
CREATE FUNCTION keyward_client_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('keyward_clients', OLD.id);
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        NEW.version := OLD.version + 1;
    END IF;
    PERFORM pg_notify('keyward_clients', NEW.id);
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER clients_changed BEFORE INSERT OR UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION keyward_client_changed();

-- A secret's change is a change of its client (which notifies, above).
-- last_used_time alone is bookkeeping, not a change: it is written in
-- batches and must not evict anything from replicas' caches.
-- +goose StatementBegin
CREATE FUNCTION keyward_secret_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    owner text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        owner := OLD.client_id;
    ELSE
        owner := NEW.client_id;
    END IF;
    UPDATE clients SET update_time = update_time WHERE id = owner;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER client_secrets_changed AFTER INSERT OR DELETE ON client_secrets
    FOR EACH ROW EXECUTE FUNCTION keyward_secret_changed();
CREATE TRIGGER client_secrets_updated AFTER UPDATE ON client_secrets
    FOR EACH ROW
    WHEN ((OLD.status, OLD.hash, OLD.sealed, OLD.kek_id) IS DISTINCT FROM (NEW.status, NEW.hash, NEW.sealed, NEW.kek_id))
    EXECUTE FUNCTION keyward_secret_changed();

-- +goose StatementBegin
CREATE FUNCTION keyward_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('keyward_keys', '');
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER signing_keys_changed AFTER INSERT OR UPDATE OR DELETE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_keys_changed();

-- +goose Down
DROP TRIGGER signing_keys_changed ON signing_keys;
DROP FUNCTION keyward_keys_changed();
DROP TRIGGER client_secrets_updated ON client_secrets;
DROP TRIGGER client_secrets_changed ON client_secrets;
DROP FUNCTION keyward_secret_changed();
DROP TRIGGER clients_changed ON clients;
DROP FUNCTION keyward_client_changed();
ALTER TABLE clients DROP COLUMN version;
