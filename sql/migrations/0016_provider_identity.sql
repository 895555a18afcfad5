-- Every identity is (provider, id).
--
-- Ids are the providers' own, and nothing stops two providers from using the same one: a
-- Stytch organization id equal to a WorkOS directory id deactivated that WorkOS directory's
-- accounts when the Stytch organization was deleted, because the access functions matched
-- `dsync.directories` and the users of a deleted directory by id alone (0005, 0008, 0014).
--
-- Directories are now keyed by (id, provider): each provider's directory has its own row,
-- and every statement that goes from a directory id to its users, its deletion or its
-- disabled flag compares the provider too; so do the membership register and the latency
-- budget's health rows. The worker passes the deleted directories of a
-- batch as (provider, id) pairs: two parallel arrays, `p_directories` and
-- `p_directory_providers` (a trailing parameter with a default, so calls that pass no
-- directories keep working). User and group ids stay unique per table across providers:
-- the worker refuses (dead-letters) an event of one provider that names a user or group
-- stored for another, so a join on a user or group id never crosses providers.
--
-- Functions below are whole copies of their live definitions (0008, 0011, 0014 for
-- sync_access and sync_batch_access; 0005 for disable_directory and enable_directory) with
-- the provider added where ids are compared.

ALTER TABLE dsync.directories DROP CONSTRAINT directories_pkey;
-- id first: lookups by id alone (the worker's load, the admin commands) use the same index.
ALTER TABLE dsync.directories ADD PRIMARY KEY (id, provider);

-- A directory disabled before this migration was disabled by id: it stays disabled for
-- every provider that can send that id.
ALTER TABLE dsync_internal.disabled_directories DROP CONSTRAINT disabled_directories_pkey;
ALTER TABLE dsync_internal.disabled_directories ADD COLUMN provider text;
INSERT INTO dsync_internal.disabled_directories (directory_id, provider, disabled_at, disabled_by)
SELECT x.directory_id, p.provider, x.disabled_at, x.disabled_by
FROM dsync_internal.disabled_directories AS x
CROSS JOIN (VALUES ('workos'), ('stytch'), ('polis')) AS p(provider)
WHERE x.provider IS NULL;
DELETE FROM dsync_internal.disabled_directories WHERE provider IS NULL;
ALTER TABLE dsync_internal.disabled_directories ALTER COLUMN provider SET NOT NULL;
ALTER TABLE dsync_internal.disabled_directories ADD PRIMARY KEY (directory_id, provider);

-- The membership register names its provider: Stytch can name a membership before its
-- group and user exist, and another provider's membership of the same ids in a directory
-- of the same id must not overwrite it. Rows written before this migration take the
-- provider of their group, else of their user; a row with neither was Stytch's (only a
-- Stytch membership event carries no group and user payloads).
ALTER TABLE dsync_internal.memberships ADD COLUMN provider text;
UPDATE dsync_internal.memberships AS m SET provider = coalesce(
    (SELECT g.provider FROM dsync.groups AS g WHERE g.id = m.group_id),
    (SELECT u.provider FROM dsync.users AS u WHERE u.id = m.user_id),
    'stytch');
ALTER TABLE dsync_internal.memberships ALTER COLUMN provider SET NOT NULL;

-- The latency budget judges each provider's directory apart (`dsync status`, /diagnostics):
-- a healthy batch of one provider no longer clears another provider's degraded directory
-- of the same id. Rows written without a provider were judged as `unknown`.
UPDATE dsync_internal.directory_health SET provider = 'unknown' WHERE provider IS NULL;
ALTER TABLE dsync_internal.directory_health ALTER COLUMN provider SET NOT NULL;
ALTER TABLE dsync_internal.directory_health DROP CONSTRAINT directory_health_pkey;
ALTER TABLE dsync_internal.directory_health ADD PRIMARY KEY (directory_id, provider);

-- The deleted directories of a batch are (provider, id) pairs, given as two arrays.
CREATE FUNCTION dsync_internal.check_directory_keys(p_directories text[], p_providers text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF coalesce(cardinality(p_directories), 0) <> coalesce(cardinality(p_providers), 0)
       OR array_position(p_providers, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'every directory id needs its provider (% ids, % providers)',
            coalesce(cardinality(p_directories), 0), coalesce(cardinality(p_providers), 0)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;

DROP FUNCTION dsync_internal.sync_batch_access(text[], text[], text[], text[], jsonb);
DROP FUNCTION dsync_internal.sync_access(text[], text[], text[], jsonb);

CREATE FUNCTION dsync_internal.sync_access(
    p_users text[], p_groups text[], p_directories text[], p_causes jsonb,
    p_directory_providers text[] DEFAULT '{}'
) RETURNS jsonb
LANGUAGE plpgsql  -- planned like recompute_roles (see there, and 0011)
SET plan_cache_mode = force_custom_plan SET join_collapse_limit = 1
SET from_collapse_limit = 1 SET random_page_cost = 1.1 AS $$
DECLARE
    v_targets jsonb;
    v_linked integer;
    v_created integer;
    v_new jsonb;
    v_gone jsonb;
    v_back jsonb;
    v_revoked jsonb := '{}'::jsonb;
    v_accounts text[];
    v_account_causes jsonb;
    v_roles integer;
BEGIN
    PERFORM dsync_internal.check_directory_keys(p_directories, p_directory_providers);
    WITH touched AS (
        SELECT unnest(p_users) AS id
        UNION SELECT m.user_id FROM dsync_internal.memberships AS m
              WHERE m.group_id = ANY (p_groups)
        UNION SELECT u.id
              FROM unnest(p_directory_providers, p_directories) AS d(provider, id)
              JOIN dsync.users AS u ON u.directory_id = d.id AND u.provider = d.provider
    )
    SELECT jsonb_agg(jsonb_build_object(
               'user_id', u.id, 'organization_id', u.organization_id, 'email', u.email,
               'active',
               u.deleted_at IS NULL AND u.state = 'active'
               AND NOT EXISTS (SELECT 1 FROM dsync.directories AS d
                               WHERE d.id = u.directory_id AND d.provider = u.provider
                                 AND d.deleted_at IS NOT NULL)
               AND (NOT coalesce(o.deprovision_without_groups, false) OR EXISTS (
                   SELECT 1 FROM dsync_internal.memberships AS m
                   JOIN dsync.groups AS g ON g.id = m.group_id AND g.deleted_at IS NULL
                   WHERE m.user_id = u.id AND m.present)),
               'cause', coalesce(
                   p_causes -> 'users' -> u.id,
                   (SELECT p_causes -> 'groups' -> m.group_id
                    FROM dsync_internal.memberships AS m
                    WHERE m.user_id = u.id AND p_causes -> 'groups' ? m.group_id
                    ORDER BY m.group_id LIMIT 1),
                   p_causes -> 'directories' -> u.provider -> u.directory_id,
                   p_causes -> 'default',
                   '{}'::jsonb))
           ORDER BY u.id)
    INTO v_targets
    FROM touched
    JOIN dsync.users AS u ON u.id = touched.id
    LEFT JOIN dsync.organization_settings AS o ON o.organization_id = u.organization_id
    WHERE u.organization_id IS NOT NULL AND coalesce(u.email, '') <> ''
      AND NOT EXISTS (SELECT 1 FROM dsync_internal.disabled_directories AS x
                      WHERE x.directory_id = u.directory_id AND x.provider = u.provider);

    IF v_targets IS NULL THEN
        RETURN jsonb_build_object('accounts', 0);
    END IF;

    PERFORM dsync_internal.lock_organization(o.organization_id)
    FROM (SELECT DISTINCT organization_id FROM dsync_internal.targets(v_targets) ORDER BY 1) AS o;
    INSERT INTO dsync.organization_settings (organization_id)
    SELECT DISTINCT organization_id FROM dsync_internal.targets(v_targets)
    ON CONFLICT DO NOTHING;

    -- Link accounts the application created (JIT or by hand) to their directory user.
    WITH linked AS (
        UPDATE dsync.accounts AS a SET directory_user_id = t.user_id
        FROM dsync_internal.targets(v_targets) AS t
        WHERE a.directory_user_id IS NULL AND a.organization_id = t.organization_id
          AND lower(a.email) = lower(t.email)
          AND NOT EXISTS (SELECT 1 FROM dsync.accounts AS b WHERE b.directory_user_id = t.user_id)
        RETURNING a.id, a.organization_id, t.user_id, t.cause
    )
    SELECT count(*) INTO v_linked FROM (
        SELECT dsync_internal.audit(organization_id, 'account.linked', id,
                                    jsonb_build_object('directory_user_id', user_id), cause)
        FROM linked
    ) AS done;

    -- Create accounts for active users who have none (never a second one for an address).
    WITH created AS (
        INSERT INTO dsync.accounts (organization_id, email, created_via, directory_user_id)
        SELECT t.organization_id, t.email, 'directory', t.user_id
        FROM dsync_internal.targets(v_targets) AS t
        WHERE t.active
          AND NOT EXISTS (SELECT 1 FROM dsync.accounts AS b WHERE b.directory_user_id = t.user_id)
        ORDER BY t.user_id
        ON CONFLICT DO NOTHING
        RETURNING id, organization_id, directory_user_id
    )
    SELECT jsonb_agg(jsonb_build_object('id', c.id, 'organization_id', c.organization_id,
                                        'user_id', c.directory_user_id, 'cause', t.cause)
                     ORDER BY c.directory_user_id)
    INTO v_new
    FROM created AS c
    JOIN dsync_internal.targets(v_targets) AS t ON t.user_id = c.directory_user_id;
    v_created := coalesce(jsonb_array_length(v_new), 0);
    IF v_new IS NOT NULL THEN
        -- Set-based (one statement each), not a function call per account.
        INSERT INTO dsync.audit_log (organization_id, action, account_id, details, cause)
        SELECT c.organization_id, 'account.created', c.id,
               jsonb_build_object('created_via', 'directory', 'directory_user_id', c.user_id),
               coalesce(c.cause, '{}'::jsonb)
        FROM jsonb_to_recordset(v_new)  -- in array order
             AS c(id text, organization_id text, user_id text, cause jsonb);
        INSERT INTO dsync_internal.outbox (stream, key, headers, value)
        SELECT 'changes', c.id, dsync_internal.change_headers('account.created'),
               dsync_internal.change_value('account.created', c.organization_id, c.id,
                                           jsonb_build_object('created_via', 'directory'),
                                           c.cause)
        FROM jsonb_to_recordset(v_new)  -- in array order
             AS c(id text, organization_id text, cause jsonb);
    END IF;

    -- The address follows the directory unless another account of the organization has it.
    UPDATE dsync.accounts AS a SET email = t.email
    FROM dsync_internal.targets(v_targets) AS t
    WHERE a.directory_user_id = t.user_id AND a.email <> t.email
      AND NOT EXISTS (SELECT 1 FROM dsync.accounts AS b
                      WHERE b.organization_id = a.organization_id
                        AND lower(b.email) = lower(t.email) AND b.id <> a.id);

    WITH gone AS (
        UPDATE dsync.accounts AS a
        SET status = 'deactivated', deactivated_at = now(), deactivated_by = 'directory'
        FROM dsync_internal.targets(v_targets) AS t
        WHERE a.directory_user_id = t.user_id AND NOT t.active AND a.status = 'active'
          AND NOT dsync_internal.is_owner(a.id)
        RETURNING a.id, a.organization_id, t.cause
    )
    SELECT jsonb_agg(to_jsonb(gone) ORDER BY gone.id) INTO v_gone FROM gone;

    WITH back AS (
        UPDATE dsync.accounts AS a
        SET status = 'active', deactivated_at = NULL, deactivated_by = NULL
        FROM dsync_internal.targets(v_targets) AS t
        WHERE a.directory_user_id = t.user_id AND t.active AND a.status = 'deactivated'
          AND a.deactivated_by = 'directory'
        RETURNING a.id, a.organization_id, t.cause
    )
    SELECT jsonb_agg(to_jsonb(back) ORDER BY back.id) INTO v_back FROM back;

    SELECT array_agg(a.id ORDER BY a.id), jsonb_object_agg(a.id, t.cause)
    INTO v_accounts, v_account_causes
    FROM dsync.accounts AS a JOIN dsync_internal.targets(v_targets) AS t ON t.user_id = a.directory_user_id;

    IF v_gone IS NOT NULL THEN
        v_revoked := dsync_internal.revoke_credentials(
            ARRAY(SELECT g ->> 'id' FROM jsonb_array_elements(v_gone) AS g),
            'deprovisioned', v_account_causes);
        PERFORM dsync_internal.audit(g.organization_id, 'account.deactivated', g.id,
                                     jsonb_build_object('by', 'directory'), g.cause),
                dsync_internal.emit_change('account.deprovisioned', g.organization_id, g.id,
                                           '{}'::jsonb, g.cause)
        FROM jsonb_to_recordset(v_gone) AS g(id text, organization_id text, cause jsonb);
    END IF;
    IF v_back IS NOT NULL THEN
        PERFORM dsync_internal.audit(b.organization_id, 'account.reactivated', b.id,
                                     jsonb_build_object('by', 'directory'), b.cause),
                dsync_internal.emit_change('account.reactivated', b.organization_id, b.id,
                                           '{}'::jsonb, b.cause)
        FROM jsonb_to_recordset(v_back) AS b(id text, organization_id text, cause jsonb);
    END IF;

    v_roles := dsync_internal.recompute_roles(v_accounts, v_account_causes);

    RETURN jsonb_build_object(
        'accounts', coalesce(cardinality(v_accounts), 0),
        'linked', v_linked,
        'created', v_created,
        'deactivated', coalesce(jsonb_array_length(v_gone), 0),
        'deactivated_by_provider', coalesce((
            SELECT jsonb_object_agg(x.provider, x.n) FROM (
                SELECT u.provider, count(*) AS n
                FROM jsonb_to_recordset(coalesce(v_gone, '[]')) AS g(id text)
                JOIN dsync.accounts AS a ON a.id = g.id
                JOIN dsync.users AS u ON u.id = a.directory_user_id
                GROUP BY u.provider) AS x), '{}'::jsonb),
        'reactivated', coalesce(jsonb_array_length(v_back), 0),
        'revoked', v_revoked,
        'roles_changed', v_roles);
END
$$;

CREATE FUNCTION dsync_internal.sync_batch_access(
    p_users text[], p_members text[], p_groups text[], p_directories text[], p_causes jsonb,
    p_directory_providers text[] DEFAULT '{}'
) RETURNS jsonb
LANGUAGE plpgsql  -- planned like sync_access (see 0008 and 0011)
SET plan_cache_mode = force_custom_plan SET join_collapse_limit = 1
SET from_collapse_limit = 1 SET random_page_cost = 1.1 AS $$
DECLARE
    v_ids text[];  -- every user whose organization sync_access may lock for this batch
    v_organizations text[];  -- where memberships decide access
    v_counted text[];
BEGIN
    PERFORM dsync_internal.check_directory_keys(p_directories, p_directory_providers);
    v_ids := p_users || p_members;
    IF cardinality(p_groups) + cardinality(p_directories) > 0 THEN
        v_ids := v_ids || ARRAY(SELECT m.user_id FROM dsync_internal.memberships AS m
                                WHERE m.group_id = ANY (p_groups)
                                UNION SELECT x.id
                                      FROM unnest(p_directory_providers, p_directories)
                                           AS d(provider, id)
                                      JOIN dsync.users AS x
                                        ON x.directory_id = d.id AND x.provider = d.provider);
    END IF;
    PERFORM dsync_internal.lock_organization(o.organization_id)
    FROM (SELECT DISTINCT u.organization_id FROM dsync.users AS u
          WHERE u.id = ANY (v_ids) AND u.organization_id IS NOT NULL
          ORDER BY 1) AS o;

    IF cardinality(p_members) > 0 THEN
        v_organizations := ARRAY(
            SELECT mp.organization_id FROM dsync.group_role_mappings AS mp
            UNION SELECT rl.organization_id FROM dsync.role_rules AS rl
                  WHERE rl.source_attribute = 'groups'
            UNION SELECT o.organization_id FROM dsync.organization_settings AS o
                  WHERE o.deprovision_without_groups);
    END IF;
    IF cardinality(v_organizations) > 0 THEN
        -- The user's organization decides deactivation, the account's its roles.
        v_counted := ARRAY(
            SELECT u.id
            FROM unnest(p_members) AS ids(id)
            JOIN dsync.users AS u ON u.id = ids.id
            WHERE u.organization_id = ANY (v_organizations)
               OR EXISTS (SELECT 1 FROM dsync.accounts AS a
                          WHERE a.directory_user_id = u.id
                            AND a.organization_id = ANY (v_organizations)));
    END IF;

    IF cardinality(p_users) + coalesce(cardinality(v_counted), 0) + cardinality(p_groups)
       + cardinality(p_directories) = 0 THEN
        RETURN jsonb_build_object('accounts', 0);
    END IF;
    RETURN dsync_internal.sync_access(p_users || coalesce(v_counted, '{}'), p_groups,
                                      p_directories, p_causes, p_directory_providers);
END
$$;

-- Which provider's directory an admin command means: the one it names, or else the only
-- provider that has a directory, user or group with this id. Refuses when that is not one.
CREATE FUNCTION dsync_internal.directory_provider(p_directory_id text, p_provider text)
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

DROP FUNCTION dsync_internal.disable_directory(text, jsonb);
DROP FUNCTION dsync_internal.enable_directory(text, jsonb);

-- Disabling sync removes the directory's groups, their memberships and the mappings that
-- name its groups by id; accounts and direct roles stay. Its events are ignored until enabled
-- again (then replay the directory to bring its groups back). Only the named provider's
-- directory: another provider's directory with the same id is untouched. Returns the number
-- of groups removed.
CREATE FUNCTION dsync_internal.disable_directory(
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

CREATE FUNCTION dsync_internal.enable_directory(
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
