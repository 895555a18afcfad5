-- Change messages for downstream caches, written to the outbox in the caller's transaction.

-- The change message, in one place for emit_change and the set-based inserts.
CREATE OR REPLACE FUNCTION dsync_internal.change_headers(p_type text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('dsync-change-type', p_type)
$$;

CREATE OR REPLACE FUNCTION dsync_internal.change_value(
    p_type text, p_organization_id text, p_account_id text, p_data jsonb, p_cause jsonb
) RETURNS bytea
LANGUAGE sql VOLATILE AS $$  -- clock_timestamp()
    SELECT convert_to(jsonb_build_object(
        'type', p_type,
        'organization_id', p_organization_id,
        'account_id', p_account_id,
        'occurred_at', to_char(clock_timestamp() AT TIME ZONE 'UTC',
                               'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'data', p_data,
        'cause', coalesce(p_cause, '{}'::jsonb))::text, 'UTF8')
$$;

CREATE OR REPLACE FUNCTION dsync_internal.emit_change(
    p_type text, p_organization_id text, p_account_id text, p_data jsonb, p_cause jsonb
) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO dsync_internal.outbox (stream, key, headers, value)
    VALUES ('changes', coalesce(p_account_id, p_organization_id),
            dsync_internal.change_headers(p_type),
            dsync_internal.change_value(p_type, p_organization_id, p_account_id, p_data,
                                        p_cause))
$$;
