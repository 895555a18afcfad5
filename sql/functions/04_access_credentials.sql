-- Credentials: no live credential for an inactive account, and revocation.

-- A credential can be neither issued to nor un-revoked for an account that is not active,
-- whatever order the application and the worker run in. A one-row probe: it keeps its cached
-- plan even when the caller (sync_access) forces a custom plan per statement.
CREATE OR REPLACE FUNCTION dsync_internal.refuse_credential_for_inactive() RETURNS trigger
LANGUAGE plpgsql SET plan_cache_mode = auto AS $$
BEGIN
    IF NEW.revoked_at IS NULL AND NOT EXISTS (
        SELECT 1 FROM dsync.accounts a WHERE a.id = NEW.account_id AND a.status = 'active'
    ) THEN
        RAISE EXCEPTION 'account % is not active: no live credential may be stored for it',
            NEW.account_id USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER sessions_account_active BEFORE INSERT OR UPDATE ON dsync.sessions
    FOR EACH ROW EXECUTE FUNCTION dsync_internal.refuse_credential_for_inactive();

CREATE OR REPLACE TRIGGER api_keys_account_active BEFORE INSERT OR UPDATE ON dsync.api_keys
    FOR EACH ROW EXECUTE FUNCTION dsync_internal.refuse_credential_for_inactive();

CREATE OR REPLACE TRIGGER device_tokens_account_active BEFORE INSERT OR UPDATE ON dsync.device_tokens
    FOR EACH ROW EXECUTE FUNCTION dsync_internal.refuse_credential_for_inactive();

-- Revoke every live credential of these accounts, run the application's revocation hooks,
-- and audit each revoked credential. Returns counts per kind.
CREATE OR REPLACE FUNCTION dsync_internal.revoke_credentials(
    p_accounts text[], p_reason text, p_causes jsonb
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_revoked jsonb;
    hook record;
BEGIN
    WITH s AS (
        UPDATE dsync.sessions SET revoked_at = now(), revoked_reason = p_reason
        WHERE account_id = ANY (p_accounts) AND revoked_at IS NULL
        RETURNING 'session' AS kind, id, account_id
    ), k AS (
        UPDATE dsync.api_keys SET revoked_at = now(), revoked_reason = p_reason
        WHERE account_id = ANY (p_accounts) AND revoked_at IS NULL
        RETURNING 'api_key' AS kind, id, account_id
    ), d AS (
        UPDATE dsync.device_tokens SET revoked_at = now(), revoked_reason = p_reason
        WHERE account_id = ANY (p_accounts) AND revoked_at IS NULL
        RETURNING 'device_token' AS kind, id, account_id
    )
    SELECT jsonb_agg(to_jsonb(x) ORDER BY x.account_id, x.kind, x.id) INTO v_revoked
    FROM (SELECT * FROM s UNION ALL SELECT * FROM k UNION ALL SELECT * FROM d) AS x;

    PERFORM dsync_internal.audit(a.organization_id, 'credential.revoked', a.id,
                                 jsonb_build_object('kind', x.kind, 'credential_id', x.id,
                                                    'reason', p_reason),
                                 coalesce(p_causes -> a.id, p_causes -> '*'))
    FROM jsonb_to_recordset(coalesce(v_revoked, '[]')) AS x(kind text, id text, account_id text)
    JOIN dsync.accounts AS a ON a.id = x.account_id;

    FOR hook IN SELECT name, statement FROM dsync_internal.revocation_hooks ORDER BY name LOOP
        EXECUTE hook.statement USING p_accounts;
    END LOOP;

    RETURN jsonb_build_object(
        'session', (SELECT count(*) FROM jsonb_array_elements(coalesce(v_revoked, '[]')) AS e
                    WHERE e ->> 'kind' = 'session'),
        'api_key', (SELECT count(*) FROM jsonb_array_elements(coalesce(v_revoked, '[]')) AS e
                    WHERE e ->> 'kind' = 'api_key'),
        'device_token', (SELECT count(*) FROM jsonb_array_elements(coalesce(v_revoked, '[]')) AS e
                         WHERE e ->> 'kind' = 'device_token'));
END
$$;
