-- The audit log: one append-only row per admin mutation (whatever its
-- result) and per burst of failed client authentications. Rows name
-- organizations and clients by id without foreign keys, so they outlive
-- what they describe. No secret, plain key or token is ever written here.

-- +goose Up
CREATE TABLE audit_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time            timestamptz NOT NULL,
    actor_client_id text NOT NULL DEFAULT '',
    organization_id text,                       -- NULL: the environment
    action          text NOT NULL,              -- organization.create, client.authenticate, ...
    target          text NOT NULL DEFAULT '',
    source_address  text NOT NULL DEFAULT '',
    result          text NOT NULL,              -- success, or failure and why
    count           integer NOT NULL DEFAULT 1 CHECK (count >= 1) -- repeats folded into one row
);
-- An organization's events, newest first.
CREATE INDEX audit_events_organization ON audit_events (organization_id, id);

-- Append-only: no row changes or goes, whoever asks.
-- +goose StatementBegin
CREATE FUNCTION keyward_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION keyward_audit_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_audit_append_only();

-- Counts for total_size in constant time: one row per organization, ''
-- for environment events, '*' for all.
CREATE TABLE audit_event_counts (
    organization_id text PRIMARY KEY,
    n               bigint NOT NULL CHECK (n >= 0)
);
-- +goose StatementBegin
CREATE FUNCTION keyward_count_audit_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_event_counts AS c (organization_id, n)
    SELECT coalesce(organization_id, ''), count(*) FROM new_rows GROUP BY 1
    UNION ALL
    SELECT '*', count(*) FROM new_rows
    ON CONFLICT (organization_id) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_events_counted AFTER INSERT ON audit_events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_count_audit_events();

-- +goose Down
DROP TRIGGER audit_events_counted ON audit_events;
DROP FUNCTION keyward_count_audit_events();
DROP TABLE audit_event_counts;
DROP TRIGGER audit_events_no_truncate ON audit_events;
DROP TRIGGER audit_events_append_only ON audit_events;
DROP TABLE audit_events;
DROP FUNCTION keyward_audit_append_only();
