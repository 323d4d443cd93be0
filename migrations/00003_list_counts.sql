-- The list endpoints in constant time per page, however many rows.
--
-- total_size comes from counters instead of count(*): organizations.
-- client_count for an organization's clients, and the one row of
-- organization_count for the organizations. Statement-level triggers with
-- transition tables keep them exact: one UPDATE per organization touched by
-- a statement, so a COPY or an organization's cascading delete adjusts each
-- counter once, not once a row. A list reads its counter in the same
-- snapshot as its page.
--
-- The price: creating or deleting clients of one organization serialises on
-- that organization's row (and creating or deleting organizations on
-- organization_count) until the transaction commits. Admin writes are rare
-- next to token requests, which never touch these rows.

-- +goose Up
ALTER TABLE organizations ADD COLUMN client_count bigint NOT NULL DEFAULT 0 CHECK (client_count >= 0);
UPDATE organizations o SET client_count = (SELECT count(*) FROM clients c WHERE c.organization_id = o.id);

CREATE TABLE organization_count (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    n   bigint NOT NULL CHECK (n >= 0)
);
INSERT INTO organization_count (n) SELECT count(*) FROM organizations;

-- +goose StatementBegin
CREATE FUNCTION keyward_count_clients() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE organizations o SET client_count = o.client_count + d.n
        FROM (SELECT organization_id, count(*) AS n FROM new_rows
              WHERE organization_id IS NOT NULL GROUP BY organization_id) d
        WHERE o.id = d.organization_id;
    ELSE
        -- An organization that this statement's cascade is deleting is
        -- already gone: it matches nothing.
        UPDATE organizations o SET client_count = o.client_count - d.n
        FROM (SELECT organization_id, count(*) AS n FROM old_rows
              WHERE organization_id IS NOT NULL GROUP BY organization_id) d
        WHERE o.id = d.organization_id;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER clients_counted_insert AFTER INSERT ON clients
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_count_clients();
CREATE TRIGGER clients_counted_delete AFTER DELETE ON clients
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_count_clients();

-- Clients do not move between organizations today; should one ever move,
-- its count moves with it. A row trigger with a column list: ordinary
-- updates of clients (every secret change bumps its client) cost nothing.
-- +goose StatementBegin
CREATE FUNCTION keyward_client_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE organizations SET client_count = client_count - 1 WHERE id = OLD.organization_id;
    UPDATE organizations SET client_count = client_count + 1 WHERE id = NEW.organization_id;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER clients_counted_move AFTER UPDATE OF organization_id ON clients
    FOR EACH ROW WHEN (OLD.organization_id IS DISTINCT FROM NEW.organization_id)
    EXECUTE FUNCTION keyward_client_moved();

-- +goose StatementBegin
CREATE FUNCTION keyward_count_organizations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE organization_count SET n = n + (SELECT count(*) FROM new_rows);
    ELSE
        UPDATE organization_count SET n = n - (SELECT count(*) FROM old_rows);
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER organizations_counted_insert AFTER INSERT ON organizations
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_count_organizations();
CREATE TRIGGER organizations_counted_delete AFTER DELETE ON organizations
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_count_organizations();

-- An organization's clients are paged through clients_organization_seq. The
-- unique index on clients.seq alone served no query, and it let the planner
-- page a large organization by walking every client in seq order and
-- filtering: the planner assumes an organization's clients are spread evenly
-- over seq, so for one holding a fifth of all clients, all created lately,
-- a first page read every older client. seq stays unique: it is an identity
-- column, and no index on it is needed for that.
ALTER TABLE clients DROP CONSTRAINT clients_seq_key;

-- +goose Down
ALTER TABLE clients ADD CONSTRAINT clients_seq_key UNIQUE (seq);
DROP TRIGGER organizations_counted_delete ON organizations;
DROP TRIGGER organizations_counted_insert ON organizations;
DROP FUNCTION keyward_count_organizations();
DROP TRIGGER clients_counted_move ON clients;
DROP FUNCTION keyward_client_moved();
DROP TRIGGER clients_counted_delete ON clients;
DROP TRIGGER clients_counted_insert ON clients;
DROP FUNCTION keyward_count_clients();
DROP TABLE organization_count;
ALTER TABLE organizations DROP COLUMN client_count;
