-- Organizations: the lock every access change takes first, and the settings row.

-- The per-organization lock every access change takes (sorted, before anything else), so
-- chain appends and account changes of one organization are serialized.
CREATE OR REPLACE FUNCTION dsync_internal.lock_organization(p_organization_id text) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(hashtextextended('dsync.organization:' || p_organization_id, 0))
$$;

CREATE OR REPLACE FUNCTION dsync_internal.ensure_organization(p_organization_id text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO dsync.organization_settings (organization_id) VALUES (p_organization_id)
    ON CONFLICT DO NOTHING
$$;
