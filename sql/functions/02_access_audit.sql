-- The audit log: one hash chain per organization, append-only.

CREATE OR REPLACE FUNCTION dsync_internal.audit_digest(a dsync.audit_log) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT encode(sha256(convert_to(concat_ws(E'\n',
        a.organization_id,
        a.seq::text,
        to_char(a.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        a.action,
        coalesce(a.account_id, ''),
        a.details::text,
        a.cause::text,
        a.prev_hash), 'UTF8')), 'hex')
$$;

-- Each row takes the next seq of its organization and hashes itself onto the previous row.
-- Settings: the trigger keeps its cached plans even inside sync_access / recompute_roles
-- (which force a custom plan per statement: replanning this trigger cost 69 us a row), and
-- it always finds the previous row through the primary key (a plan cached while the log was
-- small would otherwise stay a sequential scan: quadratic on a large first sync).
CREATE OR REPLACE FUNCTION dsync_internal.audit_chain() RETURNS trigger
LANGUAGE plpgsql SET plan_cache_mode = auto SET enable_seqscan = off AS $$
DECLARE
    last record;
BEGIN
    PERFORM dsync_internal.lock_organization(NEW.organization_id);
    SELECT seq, hash INTO last FROM dsync.audit_log
    WHERE organization_id = NEW.organization_id ORDER BY seq DESC LIMIT 1;
    NEW.seq := coalesce(last.seq, 0) + 1;
    NEW.prev_hash := coalesce(last.hash, repeat('0', 64));
    NEW.occurred_at := coalesce(NEW.occurred_at, clock_timestamp());
    NEW.hash := dsync_internal.audit_digest(NEW);
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER audit_log_chain BEFORE INSERT ON dsync.audit_log
    FOR EACH ROW EXECUTE FUNCTION dsync_internal.audit_chain();

CREATE OR REPLACE FUNCTION dsync_internal.audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'dsync.audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE OR REPLACE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON dsync.audit_log
    FOR EACH ROW EXECUTE FUNCTION dsync_internal.audit_append_only();

CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON dsync.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION dsync_internal.audit_append_only();

CREATE OR REPLACE FUNCTION dsync_internal.audit(
    p_organization_id text, p_action text, p_account_id text, p_details jsonb, p_cause jsonb
) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO dsync.audit_log (organization_id, action, account_id, details, cause)
    VALUES (p_organization_id, p_action, p_account_id, p_details, coalesce(p_cause, '{}'::jsonb))
$$;
