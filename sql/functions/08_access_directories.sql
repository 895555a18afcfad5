-- Directories an operator disables and enables (`dsync directories ...`).

-- Which provider's directory an admin command means: the one it names, or else the only
-- provider that has a directory, user or group with this id. Refuses when that is not one.
CREATE OR REPLACE FUNCTION dsync_internal.directory_provider(p_directory_id text, p_provider text)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_providers text[];
BEGIN
    IF p_provider IS NOT NULL THEN
        RETURN p_provider;
    END IF;
    SELECT array_agg(k.provider ORDER BY k.provider) INTO v_providers FROM (
        SELECT d.provider FROM dsync.directories AS d WHERE d.id = p_directory_id
        UNION SELECT u.provider FROM dsync.users AS u WHERE u.directory_id = p_directory_id
        UNION SELECT g.provider FROM dsync.groups AS g WHERE g.directory_id = p_directory_id
    ) AS k;
    IF coalesce(cardinality(v_providers), 0) <> 1 THEN
        RAISE EXCEPTION 'directory % is known under % providers (%): name its provider',
            p_directory_id, coalesce(cardinality(v_providers), 0),
            coalesce(array_to_string(v_providers, ', '), 'none')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN v_providers[1];
END
$$;

-- Disabling sync removes the directory's groups, their memberships and the mappings that
-- name its groups by id; accounts and direct roles stay. Its events are ignored until enabled
-- again (then replay the directory to bring its groups back). Only the named provider's
-- directory: another provider's directory with the same id is untouched. Returns the number
-- of groups removed.
CREATE OR REPLACE FUNCTION dsync_internal.disable_directory(
    p_directory_id text, p_cause jsonb, p_provider text DEFAULT NULL
) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_provider text;
    v_organization text;
    v_groups text[];
    v_accounts text[];
BEGIN
    v_provider := dsync_internal.directory_provider(p_directory_id, p_provider);
    SELECT organization_id INTO v_organization FROM dsync.directories
    WHERE id = p_directory_id AND provider = v_provider;
    v_organization := coalesce(v_organization, (SELECT organization_id FROM dsync.groups
                                                WHERE directory_id = p_directory_id
                                                  AND provider = v_provider LIMIT 1));
    IF v_organization IS NOT NULL THEN
        PERFORM dsync_internal.lock_organization(v_organization);
    END IF;
    INSERT INTO dsync_internal.disabled_directories (directory_id, provider, disabled_by)
    VALUES (p_directory_id, v_provider, coalesce(p_cause ->> 'actor', 'admin'))
    ON CONFLICT DO NOTHING;
    SELECT array_agg(id) INTO v_groups FROM dsync.groups
    WHERE directory_id = p_directory_id AND provider = v_provider;
    v_accounts := dsync_internal.accounts_in_groups(coalesce(v_groups, '{}'));
    DELETE FROM dsync.group_role_mappings WHERE group_id = ANY (v_groups);
    DELETE FROM dsync_internal.memberships
    WHERE directory_id = p_directory_id AND provider = v_provider;
    DELETE FROM dsync.groups WHERE directory_id = p_directory_id AND provider = v_provider;
    IF v_organization IS NOT NULL THEN
        PERFORM dsync_internal.audit(v_organization, 'directory.sync_disabled', NULL,
            jsonb_build_object('directory_id', p_directory_id, 'provider', v_provider,
                               'groups_removed', coalesce(cardinality(v_groups), 0)), p_cause);
    END IF;
    PERFORM dsync_internal.recompute_roles(v_accounts, jsonb_build_object('*', p_cause));
    RETURN coalesce(cardinality(v_groups), 0);
END
$$;

CREATE OR REPLACE FUNCTION dsync_internal.enable_directory(
    p_directory_id text, p_cause jsonb, p_provider text DEFAULT NULL
) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_provider text;
    v_organization text;
BEGIN
    -- Only disabled directories can be enabled: resolve the provider among those.
    v_provider := coalesce(p_provider, (
        SELECT CASE WHEN count(*) = 1 THEN min(x.provider) END
        FROM dsync_internal.disabled_directories AS x WHERE x.directory_id = p_directory_id));
    IF v_provider IS NULL AND EXISTS (SELECT 1 FROM dsync_internal.disabled_directories AS x
                                      WHERE x.directory_id = p_directory_id) THEN
        RAISE EXCEPTION 'directory % is disabled under several providers: name its provider',
            p_directory_id USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM dsync_internal.disabled_directories
    WHERE directory_id = p_directory_id AND provider = v_provider;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT organization_id INTO v_organization FROM dsync.directories
    WHERE id = p_directory_id AND provider = v_provider;
    IF v_organization IS NOT NULL THEN
        PERFORM dsync_internal.audit(v_organization, 'directory.sync_enabled', NULL,
            jsonb_build_object('directory_id', p_directory_id, 'provider', v_provider), p_cause);
    END IF;
    RETURN true;
END
$$;
