-- Access model on top of the directory tables: accounts, roles and where they come from,
-- credentials revoked on deprovisioning, a hash-chained audit log and change messages.
-- Every function here runs inside its caller's transaction (the worker's batch, a `dsync`
-- admin command, or the application's own login transaction for `dsync.jit_provision`).

-- Per-organization settings and policies. A missing row means the defaults below.
CREATE TABLE dsync.organization_settings (
    organization_id            text        PRIMARY KEY,
    role_ranks                 text[]      NOT NULL DEFAULT ARRAY['owner', 'admin', 'member', 'viewer'],
    default_role               text        NOT NULL DEFAULT 'member',
    default_team_id            text,
    elevated_roles             text[]      NOT NULL DEFAULT ARRAY['owner', 'admin'],
    require_group_admin        boolean     NOT NULL DEFAULT false,
    require_role_approval      boolean     NOT NULL DEFAULT false,
    deprovision_without_groups boolean     NOT NULL DEFAULT false,
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    CHECK (cardinality(role_ranks) > 0),
    CHECK (array_position(role_ranks, default_role) IS NOT NULL)
);

CREATE TABLE dsync.accounts (
    id                text        PRIMARY KEY
                                  DEFAULT 'acct_' || replace(gen_random_uuid()::text, '-', ''),
    organization_id   text        NOT NULL,
    email             text        NOT NULL,
    status            text        NOT NULL DEFAULT 'active'
                                  CHECK (status IN ('active', 'deactivated')),
    created_via       text        NOT NULL CHECK (created_via IN ('jit', 'directory', 'manual')),
    directory_user_id text        UNIQUE,
    created_at        timestamptz NOT NULL DEFAULT now(),
    deactivated_at    timestamptz,
    -- Sync reactivates only what sync deactivated.
    deactivated_by    text        CHECK (deactivated_by IN ('directory', 'admin'))
);
-- One account per person and organization, whatever the case of the address.
CREATE UNIQUE INDEX accounts_organization_email_key ON dsync.accounts (organization_id, lower(email));

-- Credentials the application issues and checks. dsync revokes them; it never creates them.
CREATE TABLE dsync.sessions (
    id             text        PRIMARY KEY DEFAULT 'sess_' || replace(gen_random_uuid()::text, '-', ''),
    account_id     text        NOT NULL REFERENCES dsync.accounts (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz,
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX sessions_live_idx ON dsync.sessions (account_id) WHERE revoked_at IS NULL;

CREATE TABLE dsync.api_keys (
    id             text        PRIMARY KEY DEFAULT 'key_' || replace(gen_random_uuid()::text, '-', ''),
    account_id     text        NOT NULL REFERENCES dsync.accounts (id),
    name           text,
    secret_hash    text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX api_keys_live_idx ON dsync.api_keys (account_id) WHERE revoked_at IS NULL;

CREATE TABLE dsync.device_tokens (
    id             text        PRIMARY KEY DEFAULT 'dev_' || replace(gen_random_uuid()::text, '-', ''),
    account_id     text        NOT NULL REFERENCES dsync.accounts (id),
    device_id      text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX device_tokens_live_idx ON dsync.device_tokens (account_id) WHERE revoked_at IS NULL;

-- A credential can be neither issued to nor un-revoked for an account that is not active,
-- whatever order the application and the worker run in.
CREATE FUNCTION dsync_internal.refuse_credential_for_inactive() RETURNS trigger
LANGUAGE plpgsql AS $$
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
CREATE TRIGGER sessions_account_active BEFORE INSERT OR UPDATE ON dsync.sessions
    FOR EACH ROW EXECUTE FUNCTION dsync_internal.refuse_credential_for_inactive();
CREATE TRIGGER api_keys_account_active BEFORE INSERT OR UPDATE ON dsync.api_keys
    FOR EACH ROW EXECUTE FUNCTION dsync_internal.refuse_credential_for_inactive();
CREATE TRIGGER device_tokens_account_active BEFORE INSERT OR UPDATE ON dsync.device_tokens
    FOR EACH ROW EXECUTE FUNCTION dsync_internal.refuse_credential_for_inactive();

-- Direct role assignments (admin commands, the JIT default team). One role per scope.
CREATE TABLE dsync.role_assignments (
    account_id text        NOT NULL REFERENCES dsync.accounts (id),
    scope_type text        NOT NULL CHECK (scope_type IN ('organization', 'team', 'environment')),
    scope_id   text        NOT NULL,
    role       text        NOT NULL,
    granted_by text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, scope_type, scope_id)
);

-- Directory group -> role at a scope. A group is named by id, or by name across the
-- organization's directories (case-sensitive, follows renames).
CREATE TABLE dsync.group_role_mappings (
    id              bigserial   PRIMARY KEY,
    organization_id text        NOT NULL,
    group_id        text,
    group_name      text,
    scope_type      text        NOT NULL CHECK (scope_type IN ('organization', 'team', 'environment')),
    scope_id        text        NOT NULL,
    role            text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((group_id IS NULL) <> (group_name IS NULL)),
    UNIQUE NULLS NOT DISTINCT (organization_id, group_id, group_name, scope_type, scope_id)
);
CREATE INDEX group_role_mappings_group_id_idx ON dsync.group_role_mappings (group_id);

-- Ordered attribute rules giving an organization role; the first match wins.
CREATE TABLE dsync.role_rules (
    organization_id  text    NOT NULL,
    position         integer NOT NULL,
    source_attribute text    NOT NULL,
    match_value      text    NOT NULL,
    role             text    NOT NULL,
    PRIMARY KEY (organization_id, position)
);

-- Elevated roles hinted by the identity provider wait here when the organization requires
-- approval. Rows disappear when the hint does, so a new hint needs a new approval.
CREATE TABLE dsync.role_approvals (
    account_id   text        NOT NULL REFERENCES dsync.accounts (id),
    scope_type   text        NOT NULL,
    scope_id     text        NOT NULL,
    role         text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    requested_at timestamptz NOT NULL DEFAULT now(),
    decided_at   timestamptz,
    decided_by   text,
    PRIMARY KEY (account_id, scope_type, scope_id, role)
);

-- What each active account may do, per scope, with the sources that give it.
CREATE TABLE dsync.effective_roles (
    account_id      text        NOT NULL REFERENCES dsync.accounts (id),
    organization_id text        NOT NULL,
    scope_type      text        NOT NULL,
    scope_id        text        NOT NULL,
    role            text        NOT NULL,
    sources         jsonb       NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, scope_type, scope_id)
);
CREATE INDEX effective_roles_organization_idx ON dsync.effective_roles (organization_id);

-- Append-only, one hash chain per organization: hash = sha256 over the row and the previous
-- row's hash. `dsync audit verify` recomputes it.
CREATE TABLE dsync.audit_log (
    organization_id text        NOT NULL,
    seq             bigint      NOT NULL,
    occurred_at     timestamptz NOT NULL,
    action          text        NOT NULL,
    account_id      text,
    details         jsonb       NOT NULL,
    cause           jsonb       NOT NULL,
    prev_hash       text        NOT NULL,
    hash            text        NOT NULL,
    PRIMARY KEY (organization_id, seq)
);
CREATE INDEX audit_log_account_idx ON dsync.audit_log (account_id);

-- Application statements run in the deprovisioning transaction with $1 = text[] of account ids.
CREATE TABLE dsync_internal.revocation_hooks (
    name       text        PRIMARY KEY,
    statement  text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Directories whose sync an operator disabled: their events are ignored.
CREATE TABLE dsync_internal.disabled_directories (
    directory_id text        PRIMARY KEY,
    disabled_at  timestamptz NOT NULL DEFAULT now(),
    disabled_by  text        NOT NULL
);

-- ---------------------------------------------------------------------------------------
-- Audit chain

CREATE FUNCTION dsync_internal.audit_digest(a dsync.audit_log) RETURNS text
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

-- The per-organization lock every access change takes (sorted, before anything else), so
-- chain appends and account changes of one organization are serialized.
CREATE FUNCTION dsync_internal.lock_organization(p_organization_id text) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(hashtextextended('dsync.organization:' || p_organization_id, 0))
$$;

CREATE FUNCTION dsync_internal.audit_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
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
CREATE TRIGGER audit_log_chain BEFORE INSERT ON dsync.audit_log
    FOR EACH ROW EXECUTE FUNCTION dsync_internal.audit_chain();

CREATE FUNCTION dsync_internal.audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'dsync.audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON dsync.audit_log
    FOR EACH ROW EXECUTE FUNCTION dsync_internal.audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON dsync.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION dsync_internal.audit_append_only();

CREATE FUNCTION dsync_internal.audit(
    p_organization_id text, p_action text, p_account_id text, p_details jsonb, p_cause jsonb
) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO dsync.audit_log (organization_id, action, account_id, details, cause)
    VALUES (p_organization_id, p_action, p_account_id, p_details, coalesce(p_cause, '{}'::jsonb))
$$;

-- A change message for downstream caches, relayed to the changes topic after commit.
CREATE FUNCTION dsync_internal.emit_change(
    p_type text, p_organization_id text, p_account_id text, p_data jsonb, p_cause jsonb
) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO dsync_internal.outbox (stream, key, headers, value)
    VALUES ('changes', coalesce(p_account_id, p_organization_id),
            jsonb_build_object('dsync-change-type', p_type),
            convert_to(jsonb_build_object(
                'type', p_type,
                'organization_id', p_organization_id,
                'account_id', p_account_id,
                'occurred_at', to_char(clock_timestamp() AT TIME ZONE 'UTC',
                                       'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                'data', p_data,
                'cause', coalesce(p_cause, '{}'::jsonb))::text, 'UTF8'))
$$;

-- ---------------------------------------------------------------------------------------
-- Roles

CREATE FUNCTION dsync_internal.ensure_organization(p_organization_id text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO dsync.organization_settings (organization_id) VALUES (p_organization_id)
    ON CONFLICT DO NOTHING
$$;

-- Position of a role in its scope's order, 1 = most permissive; NULL = not a role there.
CREATE FUNCTION dsync_internal.role_rank(p_ranks text[], p_scope_type text, p_role text)
RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_scope_type
        WHEN 'organization' THEN array_position(p_ranks, p_role)
        WHEN 'team' THEN array_position(ARRAY['team_admin', 'team_member'], p_role)
        WHEN 'environment' THEN array_position(ARRAY['access'], p_role)
    END
$$;

-- A string attribute equals the value; an array attribute holds it.
CREATE FUNCTION dsync_internal.attribute_matches(p_value jsonb, p_match text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE jsonb_typeof(p_value)
        WHEN 'array' THEN EXISTS (
            SELECT 1 FROM jsonb_array_elements(p_value) AS e(v)
            WHERE CASE jsonb_typeof(e.v) WHEN 'string' THEN e.v #>> '{}' = p_match
                                         ELSE e.v::text = p_match END)
        WHEN 'string' THEN p_value #>> '{}' = p_match
        WHEN 'null' THEN false
        ELSE coalesce(p_value::text = p_match, false)
    END
$$;

-- Every source of every role of active accounts, before policy: direct assignments, group
-- mappings over current memberships, and the first matching attribute rule. Plain joins on
-- indexed tables only: a batch passes hundreds of accounts, and joins between CTEs (no
-- statistics) degrade into nested loops over rescanned CTEs.
CREATE FUNCTION dsync_internal.role_sources(p_accounts text[])
RETURNS TABLE (account_id text, organization_id text, scope_type text, scope_id text,
               role text, source jsonb, from_idp boolean)
LANGUAGE sql STABLE AS $$
    SELECT r.account_id, a.organization_id, r.scope_type, r.scope_id, r.role,
           jsonb_build_object('type', 'direct', 'granted_by', r.granted_by), false
    FROM unnest(p_accounts) AS ids(id)
    JOIN dsync.accounts AS a ON a.id = ids.id AND a.status = 'active'
    JOIN dsync.role_assignments AS r ON r.account_id = a.id
    UNION ALL
    SELECT a.id, a.organization_id, mp.scope_type, mp.scope_id, mp.role,
           jsonb_build_object('type', 'group', 'group_id', g.id, 'group_name', g.name,
                              'mapping_id', mp.id), true
    FROM unnest(p_accounts) AS ids(id)
    JOIN dsync.accounts AS a ON a.id = ids.id AND a.status = 'active'
    JOIN dsync.users AS u ON u.id = a.directory_user_id AND u.deleted_at IS NULL
    JOIN dsync_internal.memberships AS m ON m.user_id = u.id AND m.present
    JOIN dsync.groups AS g ON g.id = m.group_id AND g.deleted_at IS NULL
    JOIN dsync.group_role_mappings AS mp
      ON mp.organization_id = a.organization_id AND (mp.group_id = g.id OR mp.group_name = g.name)
    UNION ALL
    (SELECT DISTINCT ON (a.id) a.id, a.organization_id, 'organization', a.organization_id,
            rl.role,
            jsonb_build_object('type', 'rule', 'position', rl.position,
                               'attribute', rl.source_attribute, 'value', rl.match_value), true
     FROM unnest(p_accounts) AS ids(id)
     JOIN dsync.accounts AS a ON a.id = ids.id AND a.status = 'active'
     JOIN dsync.role_rules AS rl ON rl.organization_id = a.organization_id
     LEFT JOIN dsync.users AS u ON u.id = a.directory_user_id AND u.deleted_at IS NULL
     WHERE CASE WHEN rl.source_attribute = 'groups'
                THEN EXISTS (SELECT 1 FROM dsync_internal.memberships AS m
                             JOIN dsync.groups AS g ON g.id = m.group_id AND g.deleted_at IS NULL
                             WHERE m.user_id = u.id AND m.present AND g.name = rl.match_value)
                ELSE coalesce(dsync_internal.attribute_matches(
                         u.custom_attributes -> rl.source_attribute, rl.match_value), false)
           END
     ORDER BY a.id, rl.position)
$$;

-- Recompute `dsync.effective_roles` for these accounts: union of sources, the most permissive
-- role per scope wins, the organization default when nothing else gives an organization role,
-- elevated roles hinted by the IdP only once approved (when the organization requires it).
-- Writes the differences with audit rows and one `role.changed` message per account.
-- p_causes: account id -> cause, or '*' -> cause for all. Returns the accounts changed.
-- Planning: every statement is written driven by the ids (unnest / jsonb rows, then index
-- lookups in the order written), so the planner keeps that join order (collapse limits 1)
-- and plans each call for the actual ids. Measured per batch: a cached generic plan, made
-- while the tables were small, cost 7 ms; free join search cost 3 ms of planning.
CREATE FUNCTION dsync_internal.recompute_roles(p_accounts text[], p_causes jsonb)
RETURNS integer
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan SET join_collapse_limit = 1
SET from_collapse_limit = 1 AS $$
DECLARE
    v_diff jsonb;
    v_changed integer;
BEGIN
    IF coalesce(cardinality(p_accounts), 0) = 0 THEN
        RETURN 0;
    END IF;

    -- Approvals: ask for hinted elevated roles not yet decided; forget undecided or decided
    -- approvals whose hint is gone. Skipped unless approvals can be involved.
    IF EXISTS (SELECT 1 FROM dsync.accounts AS a
               JOIN dsync.organization_settings AS o ON o.organization_id = a.organization_id
               WHERE a.id = ANY (p_accounts) AND o.require_role_approval)
       OR EXISTS (SELECT 1 FROM dsync.role_approvals AS ap WHERE ap.account_id = ANY (p_accounts))
    THEN
        WITH hints AS (
            SELECT DISTINCT s.account_id, s.scope_type, s.scope_id, s.role
            FROM dsync_internal.role_sources(p_accounts) AS s
            JOIN dsync.organization_settings AS o ON o.organization_id = s.organization_id
            WHERE s.from_idp AND o.require_role_approval AND s.role = ANY (o.elevated_roles)
        ),
        forgotten AS (
            DELETE FROM dsync.role_approvals AS ap
            WHERE ap.account_id = ANY (p_accounts)
              AND NOT EXISTS (SELECT 1 FROM hints AS h
                              WHERE h.account_id = ap.account_id
                                AND h.scope_type = ap.scope_type
                                AND h.scope_id = ap.scope_id AND h.role = ap.role)
            RETURNING ap.account_id
        ),
        requested AS (
            INSERT INTO dsync.role_approvals (account_id, scope_type, scope_id, role, status)
            SELECT account_id, scope_type, scope_id, role, 'pending' FROM hints
            ON CONFLICT DO NOTHING
            RETURNING account_id, scope_type, scope_id, role
        )
        SELECT jsonb_agg(to_jsonb(r)) INTO v_diff FROM requested AS r;
        PERFORM dsync_internal.audit(a.organization_id, 'approval.requested', a.id,
                                     jsonb_build_object('scope_type', r.scope_type,
                                                        'scope_id', r.scope_id, 'role', r.role),
                                     coalesce(p_causes -> a.id, p_causes -> '*'))
        FROM jsonb_to_recordset(coalesce(v_diff, '[]')) AS r(account_id text, scope_type text,
                                                              scope_id text, role text)
        JOIN dsync.accounts AS a ON a.id = r.account_id;
    END IF;

    -- One pass of window functions over every candidate, no joins between CTEs: the
    -- organization default ranks below everything, so it wins only where nothing else gives
    -- an organization role.
    WITH candidates AS (
        SELECT s.account_id, s.organization_id, s.scope_type, s.scope_id, s.role, s.source,
               coalesce(dsync_internal.role_rank(o.role_ranks, s.scope_type, s.role), 1000)
                   AS rank
        FROM dsync_internal.role_sources(p_accounts) AS s
        JOIN dsync.organization_settings AS o ON o.organization_id = s.organization_id
        WHERE NOT (s.from_idp AND o.require_role_approval AND s.role = ANY (o.elevated_roles))
           OR EXISTS (SELECT 1 FROM dsync.role_approvals AS ap
                      WHERE ap.account_id = s.account_id AND ap.scope_type = s.scope_type
                        AND ap.scope_id = s.scope_id AND ap.role = s.role
                        AND ap.status = 'approved')
        UNION ALL
        SELECT a.id, a.organization_id, 'organization', a.organization_id, o.default_role,
               jsonb_build_object('type', 'default'), 2000
        FROM unnest(p_accounts) AS ids(id)
        JOIN dsync.accounts AS a ON a.id = ids.id AND a.status = 'active'
        JOIN dsync.organization_settings AS o ON o.organization_id = a.organization_id
    ),
    ranked AS (
        SELECT c.*, min(c.rank) OVER (PARTITION BY c.account_id, c.scope_type, c.scope_id)
                        AS best
        FROM candidates AS c
    ),
    desired AS (
        SELECT r.account_id, min(r.organization_id) AS organization_id, r.scope_type,
               r.scope_id, min(r.role) AS role, jsonb_agg(DISTINCT r.source) AS sources
        FROM ranked AS r
        WHERE r.rank = r.best
        GROUP BY r.account_id, r.scope_type, r.scope_id
    ),
    existing AS (
        SELECT e.account_id, e.organization_id, e.scope_type, e.scope_id, e.role, e.sources
        FROM unnest(p_accounts) AS ids(id)
        JOIN dsync.effective_roles AS e ON e.account_id = ids.id
    )
    SELECT jsonb_agg(jsonb_build_object(
               'account_id', coalesce(d.account_id, e.account_id),
               'organization_id', coalesce(d.organization_id, e.organization_id),
               'scope_type', coalesce(d.scope_type, e.scope_type),
               'scope_id', coalesce(d.scope_id, e.scope_id),
               'old_role', e.role, 'new_role', d.role,
               'old_sources', e.sources, 'new_sources', d.sources)
           ORDER BY coalesce(d.account_id, e.account_id), coalesce(d.scope_type, e.scope_type),
                    coalesce(d.scope_id, e.scope_id))
    INTO v_diff
    FROM desired AS d
    FULL JOIN existing AS e
      ON e.account_id = d.account_id AND e.scope_type = d.scope_type AND e.scope_id = d.scope_id
    WHERE d.role IS DISTINCT FROM e.role OR d.sources IS DISTINCT FROM e.sources;


    IF v_diff IS NULL THEN
        RETURN 0;
    END IF;

    DELETE FROM dsync.effective_roles AS e
    USING jsonb_to_recordset(v_diff) AS x(account_id text, scope_type text, scope_id text,
                                          new_role text)
    WHERE x.new_role IS NULL AND e.account_id = x.account_id
      AND e.scope_type = x.scope_type AND e.scope_id = x.scope_id;

    INSERT INTO dsync.effective_roles AS e
        (account_id, organization_id, scope_type, scope_id, role, sources)
    SELECT x.account_id, x.organization_id, x.scope_type, x.scope_id, x.new_role, x.new_sources
    FROM jsonb_to_recordset(v_diff) AS x(account_id text, organization_id text, scope_type text,
                                          scope_id text, new_role text, new_sources jsonb)
    WHERE x.new_role IS NOT NULL
    ON CONFLICT (account_id, scope_type, scope_id)
    DO UPDATE SET role = excluded.role, sources = excluded.sources, updated_at = now();

    PERFORM dsync_internal.audit(
        x.organization_id,
        CASE WHEN x.old_role IS NULL THEN 'role.granted'
             WHEN x.new_role IS NULL THEN 'role.revoked'
             WHEN x.old_role <> x.new_role THEN 'role.changed'
             ELSE 'role.sources_changed' END,
        x.account_id,
        jsonb_build_object('scope_type', x.scope_type, 'scope_id', x.scope_id,
                           'old_role', x.old_role, 'new_role', x.new_role,
                           'old_sources', x.old_sources, 'new_sources', x.new_sources),
        coalesce(p_causes -> x.account_id, p_causes -> '*'))
    FROM jsonb_to_recordset(v_diff) AS x(account_id text, organization_id text, scope_type text,
                                          scope_id text, old_role text, new_role text,
                                          old_sources jsonb, new_sources jsonb);

    -- One message per account with its whole current role set (a cache replaces its copy).
    PERFORM dsync_internal.emit_change(
        'role.changed', c.organization_id, c.account_id,
        jsonb_build_object('roles', coalesce((
            SELECT jsonb_agg(jsonb_build_object('scope_type', e.scope_type,
                                                'scope_id', e.scope_id, 'role', e.role,
                                                'sources', e.sources)
                             ORDER BY e.scope_type, e.scope_id)
            FROM dsync.effective_roles AS e WHERE e.account_id = c.account_id), '[]'::jsonb)),
        coalesce(p_causes -> c.account_id, p_causes -> '*'))
    FROM (SELECT DISTINCT x.account_id, x.organization_id
          FROM jsonb_to_recordset(v_diff) AS x(account_id text, organization_id text)
          ORDER BY 1) AS c;

    SELECT count(DISTINCT x.account_id) INTO v_changed
    FROM jsonb_to_recordset(v_diff) AS x(account_id text);
    RETURN v_changed;
END
$$;

-- ---------------------------------------------------------------------------------------
-- Accounts and deprovisioning

-- Revoke every live credential of these accounts, run the application's revocation hooks,
-- and audit each revoked credential. Returns counts per kind.
CREATE FUNCTION dsync_internal.revoke_credentials(
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

CREATE FUNCTION dsync_internal.is_owner(p_account_id text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM dsync.role_assignments AS r
                   WHERE r.account_id = p_account_id AND r.scope_type = 'organization'
                     AND r.role = 'owner')
$$;

-- The directory users a batch touched, as rows. A function over the jsonb rather than a
-- temporary table: a table created per transaction would invalidate every cached plan of
-- sync_access on each batch (replanning cost more than the work on small batches).
CREATE FUNCTION dsync_internal.targets(p_targets jsonb)
RETURNS TABLE (user_id text, organization_id text, email text, active boolean, cause jsonb)
LANGUAGE sql IMMUTABLE AS $$
    SELECT * FROM jsonb_to_recordset(p_targets)
        AS t(user_id text, organization_id text, email text, active boolean, cause jsonb)
$$;

-- Bring accounts in line with the directory users a batch touched: link existing accounts
-- by organization and case-insensitive email, create missing ones for active users,
-- deactivate (revoking every credential) or reactivate, then recompute their roles.
-- p_users / p_groups / p_directories: ids whose rows changed (a group or a directory stands
-- for its members). p_causes: {"users": {id: cause}, "groups": {...}, "directories": {...},
-- "default": cause}.
-- Owners are never deactivated by sync. Returns counts.
CREATE FUNCTION dsync_internal.sync_access(
    p_users text[], p_groups text[], p_directories text[], p_causes jsonb
) RETURNS jsonb
LANGUAGE plpgsql  -- planned like recompute_roles (see there)
SET plan_cache_mode = force_custom_plan SET join_collapse_limit = 1
SET from_collapse_limit = 1 AS $$
DECLARE
    v_targets jsonb;
    v_linked integer;
    v_created integer;
    v_gone jsonb;
    v_back jsonb;
    v_revoked jsonb := '{}'::jsonb;
    v_accounts text[];
    v_account_causes jsonb;
    v_roles integer;
BEGIN
    WITH touched AS (
        SELECT unnest(p_users) AS id
        UNION SELECT m.user_id FROM dsync_internal.memberships AS m
              WHERE m.group_id = ANY (p_groups)
        UNION SELECT u.id FROM dsync.users AS u WHERE u.directory_id = ANY (p_directories)
    )
    SELECT jsonb_agg(jsonb_build_object(
               'user_id', u.id, 'organization_id', u.organization_id, 'email', u.email,
               'active',
               u.deleted_at IS NULL AND u.state = 'active'
               AND NOT EXISTS (SELECT 1 FROM dsync.directories AS d
                               WHERE d.id = u.directory_id AND d.deleted_at IS NOT NULL)
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
                   p_causes -> 'directories' -> u.directory_id,
                   p_causes -> 'default',
                   '{}'::jsonb))
           ORDER BY u.id)
    INTO v_targets
    FROM touched
    JOIN dsync.users AS u ON u.id = touched.id
    LEFT JOIN dsync.organization_settings AS o ON o.organization_id = u.organization_id
    WHERE u.organization_id IS NOT NULL AND coalesce(u.email, '') <> ''
      AND NOT EXISTS (SELECT 1 FROM dsync_internal.disabled_directories AS x
                      WHERE x.directory_id = u.directory_id);

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
    SELECT count(*) INTO v_created FROM (
        SELECT dsync_internal.audit(c.organization_id, 'account.created', c.id,
                                    jsonb_build_object('created_via', 'directory',
                                                       'directory_user_id', c.directory_user_id),
                                    t.cause),
               dsync_internal.emit_change('account.created', c.organization_id, c.id,
                                          jsonb_build_object('created_via', 'directory'), t.cause)
        FROM created AS c
        JOIN dsync_internal.targets(v_targets) AS t ON t.user_id = c.directory_user_id
    ) AS done;

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

-- Accounts whose directory user belongs (now or before) to one of these groups.
CREATE FUNCTION dsync_internal.accounts_in_groups(p_groups text[]) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(DISTINCT a.id), '{}')
    FROM dsync_internal.memberships AS m
    JOIN dsync.accounts AS a ON a.directory_user_id = m.user_id
    WHERE m.group_id = ANY (p_groups)
$$;

CREATE FUNCTION dsync_internal.accounts_of_organization(p_organization_id text) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(a.id ORDER BY a.id), '{}')
    FROM dsync.accounts AS a WHERE a.organization_id = p_organization_id
$$;

-- ---------------------------------------------------------------------------------------
-- Administration (called by `dsync roles|directories|accounts ...`; p_cause names the
-- command and its actor). Each re-evaluates only the accounts the change can touch.

CREATE FUNCTION dsync_internal.check_role(
    p_organization_id text, p_scope_type text, p_role text
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dsync_internal.ensure_organization(p_organization_id);
    IF dsync_internal.role_rank(
        (SELECT role_ranks FROM dsync.organization_settings
         WHERE organization_id = p_organization_id), p_scope_type, p_role) IS NULL THEN
        RAISE EXCEPTION 'unknown role % for scope %', p_role, p_scope_type
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;

CREATE FUNCTION dsync_internal.put_group_mapping(
    p_organization_id text, p_group_id text, p_group_name text,
    p_scope_type text, p_scope_id text, p_role text, p_cause jsonb
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    v_old text;
    v_groups text[];
BEGIN
    PERFORM dsync_internal.lock_organization(p_organization_id);
    PERFORM dsync_internal.check_role(p_organization_id, p_scope_type, p_role);
    SELECT id, role INTO v_id, v_old FROM dsync.group_role_mappings
    WHERE organization_id = p_organization_id AND group_id IS NOT DISTINCT FROM p_group_id
      AND group_name IS NOT DISTINCT FROM p_group_name AND scope_type = p_scope_type
      AND scope_id = p_scope_id;
    IF v_id IS NULL THEN
        INSERT INTO dsync.group_role_mappings
            (organization_id, group_id, group_name, scope_type, scope_id, role)
        VALUES (p_organization_id, p_group_id, p_group_name, p_scope_type, p_scope_id, p_role)
        RETURNING id INTO v_id;
    ELSE
        UPDATE dsync.group_role_mappings SET role = p_role WHERE id = v_id;
    END IF;
    PERFORM dsync_internal.audit(p_organization_id, 'mapping.changed', NULL,
        jsonb_build_object('mapping_id', v_id, 'group_id', p_group_id, 'group_name', p_group_name,
                           'scope_type', p_scope_type, 'scope_id', p_scope_id,
                           'old_role', v_old, 'new_role', p_role),
        p_cause || jsonb_build_object('mapping_id', v_id));
    SELECT array_agg(g.id) INTO v_groups FROM dsync.groups AS g
    WHERE g.organization_id = p_organization_id
      AND (g.id = p_group_id OR g.name = p_group_name);
    PERFORM dsync_internal.recompute_roles(
        dsync_internal.accounts_in_groups(coalesce(v_groups, ARRAY[p_group_id])),
        jsonb_build_object('*', p_cause || jsonb_build_object('mapping_id', v_id)));
    RETURN v_id;
END
$$;

CREATE FUNCTION dsync_internal.delete_group_mapping(p_id bigint, p_cause jsonb) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    m dsync.group_role_mappings;
    v_groups text[];
BEGIN
    SELECT * INTO m FROM dsync.group_role_mappings WHERE id = p_id;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM dsync_internal.lock_organization(m.organization_id);
    SELECT array_agg(g.id) INTO v_groups FROM dsync.groups AS g
    WHERE g.organization_id = m.organization_id AND (g.id = m.group_id OR g.name = m.group_name);
    DELETE FROM dsync.group_role_mappings WHERE id = p_id;
    PERFORM dsync_internal.audit(m.organization_id, 'mapping.deleted', NULL, to_jsonb(m),
                                 p_cause || jsonb_build_object('mapping_id', p_id));
    PERFORM dsync_internal.recompute_roles(
        dsync_internal.accounts_in_groups(coalesce(v_groups, ARRAY[m.group_id])),
        jsonb_build_object('*', p_cause || jsonb_build_object('mapping_id', p_id)));
    RETURN true;
END
$$;

-- Replace an organization's ordered attribute rules: [{attribute, value, role}, ...].
CREATE FUNCTION dsync_internal.replace_role_rules(
    p_organization_id text, p_rules jsonb, p_cause jsonb
) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    PERFORM dsync_internal.lock_organization(p_organization_id);
    FOR r IN SELECT x.role FROM jsonb_to_recordset(p_rules) AS x(role text) LOOP
        PERFORM dsync_internal.check_role(p_organization_id, 'organization', r.role);
    END LOOP;
    DELETE FROM dsync.role_rules WHERE organization_id = p_organization_id;
    INSERT INTO dsync.role_rules (organization_id, position, source_attribute, match_value, role)
    SELECT p_organization_id, x.n, x.rule ->> 'attribute', x.rule ->> 'value', x.rule ->> 'role'
    FROM jsonb_array_elements(p_rules) WITH ORDINALITY AS x(rule, n);
    PERFORM dsync_internal.audit(p_organization_id, 'rules.replaced', NULL,
                                 jsonb_build_object('rules', p_rules), p_cause);
    RETURN dsync_internal.recompute_roles(
        dsync_internal.accounts_of_organization(p_organization_id),
        jsonb_build_object('*', p_cause));
END
$$;

CREATE FUNCTION dsync_internal.assign_role(
    p_account_id text, p_scope_type text, p_scope_id text, p_role text, p_cause jsonb
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    a dsync.accounts;
    v_old text;
    v_scope_id text;
BEGIN
    SELECT * INTO a FROM dsync.accounts WHERE id = p_account_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no account %', p_account_id USING ERRCODE = 'no_data_found';
    END IF;
    PERFORM dsync_internal.lock_organization(a.organization_id);
    PERFORM dsync_internal.check_role(a.organization_id, p_scope_type, p_role);
    v_scope_id := CASE WHEN p_scope_type = 'organization' THEN a.organization_id
                       ELSE p_scope_id END;
    IF p_scope_type = 'organization' AND p_role = 'admin' AND (
        SELECT require_group_admin FROM dsync.organization_settings
        WHERE organization_id = a.organization_id) THEN
        RAISE EXCEPTION 'direct admin assignment is blocked: the organization requires '
                        'group-based assignment for admin roles'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT role INTO v_old FROM dsync.role_assignments
    WHERE account_id = p_account_id AND scope_type = p_scope_type AND scope_id = v_scope_id;
    INSERT INTO dsync.role_assignments (account_id, scope_type, scope_id, role, granted_by)
    VALUES (p_account_id, p_scope_type, v_scope_id, p_role,
            coalesce(p_cause ->> 'actor', 'admin'))
    ON CONFLICT (account_id, scope_type, scope_id)
    DO UPDATE SET role = excluded.role, granted_by = excluded.granted_by, created_at = now();
    PERFORM dsync_internal.audit(a.organization_id, 'role.assigned', p_account_id,
        jsonb_build_object('scope_type', p_scope_type, 'scope_id', v_scope_id,
                           'old_role', v_old, 'new_role', p_role), p_cause);
    PERFORM dsync_internal.recompute_roles(ARRAY[p_account_id], jsonb_build_object('*', p_cause));
END
$$;

CREATE FUNCTION dsync_internal.unassign_role(
    p_account_id text, p_scope_type text, p_scope_id text, p_cause jsonb
) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    a dsync.accounts;
    v_old text;
BEGIN
    SELECT * INTO a FROM dsync.accounts WHERE id = p_account_id;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM dsync_internal.lock_organization(a.organization_id);
    DELETE FROM dsync.role_assignments
    WHERE account_id = p_account_id AND scope_type = p_scope_type
      AND scope_id = CASE WHEN p_scope_type = 'organization' THEN a.organization_id
                          ELSE p_scope_id END
    RETURNING role INTO v_old;
    IF v_old IS NULL THEN
        RETURN false;
    END IF;
    PERFORM dsync_internal.audit(a.organization_id, 'role.unassigned', p_account_id,
        jsonb_build_object('scope_type', p_scope_type, 'scope_id', p_scope_id,
                           'old_role', v_old), p_cause);
    PERFORM dsync_internal.recompute_roles(ARRAY[p_account_id], jsonb_build_object('*', p_cause));
    RETURN true;
END
$$;

-- Change organization settings with a JSON patch of organization_settings columns.
-- Enabling require_group_admin refuses unless a live directory group holds admin, then
-- converts every direct admin to member.
CREATE FUNCTION dsync_internal.update_organization_settings(
    p_organization_id text, p_patch jsonb, p_cause jsonb
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    before dsync.organization_settings;
    after dsync.organization_settings;
    v_converted text[];
    v_users text[];
BEGIN
    PERFORM dsync_internal.lock_organization(p_organization_id);
    PERFORM dsync_internal.ensure_organization(p_organization_id);
    SELECT * INTO before FROM dsync.organization_settings
    WHERE organization_id = p_organization_id FOR UPDATE;
    after := jsonb_populate_record(before, p_patch - 'organization_id' - 'updated_at');
    after.updated_at := now();

    IF after.require_group_admin AND NOT before.require_group_admin THEN
        IF NOT EXISTS (
            SELECT 1 FROM dsync.group_role_mappings AS mp
            JOIN dsync.groups AS g
              ON g.organization_id = mp.organization_id AND g.deleted_at IS NULL
             AND (g.id = mp.group_id OR g.name = mp.group_name)
            WHERE mp.organization_id = p_organization_id AND mp.scope_type = 'organization'
              AND mp.role = 'admin') THEN
            RAISE EXCEPTION 'no directory group holds the admin role in organization %: map '
                            'one before requiring group-based admin assignment',
                            p_organization_id USING ERRCODE = 'check_violation';
        END IF;
        WITH converted AS (
            UPDATE dsync.role_assignments AS r SET role = 'member',
                granted_by = 'policy:require_group_admin', created_at = now()
            FROM dsync.accounts AS a
            WHERE a.id = r.account_id AND a.organization_id = p_organization_id
              AND r.scope_type = 'organization' AND r.role = 'admin'
            RETURNING r.account_id
        )
        SELECT array_agg(account_id ORDER BY account_id) INTO v_converted FROM converted;
        PERFORM dsync_internal.audit(p_organization_id, 'role.assignment_converted', c,
            jsonb_build_object('old_role', 'admin', 'new_role', 'member',
                               'policy', 'require_group_admin'), p_cause)
        FROM unnest(v_converted) AS c;
    END IF;

    UPDATE dsync.organization_settings SET
        role_ranks = after.role_ranks, default_role = after.default_role,
        default_team_id = after.default_team_id, elevated_roles = after.elevated_roles,
        require_group_admin = after.require_group_admin,
        require_role_approval = after.require_role_approval,
        deprovision_without_groups = after.deprovision_without_groups,
        updated_at = after.updated_at
    WHERE organization_id = p_organization_id;
    PERFORM dsync_internal.audit(p_organization_id, 'policy.changed', NULL,
        jsonb_build_object('before', to_jsonb(before) - 'updated_at',
                           'after', to_jsonb(after) - 'updated_at'), p_cause);

    IF after.deprovision_without_groups IS DISTINCT FROM before.deprovision_without_groups THEN
        SELECT array_agg(u.id) INTO v_users FROM dsync.users AS u
        WHERE u.organization_id = p_organization_id;
        PERFORM dsync_internal.sync_access(coalesce(v_users, '{}'), '{}', '{}',
                                           jsonb_build_object('users', '{}'::jsonb));
    END IF;
    PERFORM dsync_internal.recompute_roles(
        dsync_internal.accounts_of_organization(p_organization_id),
        jsonb_build_object('*', p_cause));
    RETURN to_jsonb(after);
END
$$;

CREATE FUNCTION dsync_internal.decide_approval(
    p_account_id text, p_scope_type text, p_scope_id text, p_role text, p_approve boolean,
    p_cause jsonb
) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    a dsync.accounts;
BEGIN
    SELECT * INTO a FROM dsync.accounts WHERE id = p_account_id;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM dsync_internal.lock_organization(a.organization_id);
    UPDATE dsync.role_approvals
    SET status = CASE WHEN p_approve THEN 'approved' ELSE 'rejected' END,
        decided_at = now(), decided_by = coalesce(p_cause ->> 'actor', 'admin')
    WHERE account_id = p_account_id AND scope_type = p_scope_type
      AND scope_id = coalesce(p_scope_id, a.organization_id) AND role = p_role;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM dsync_internal.audit(a.organization_id,
        CASE WHEN p_approve THEN 'approval.approved' ELSE 'approval.rejected' END, p_account_id,
        jsonb_build_object('scope_type', p_scope_type,
                           'scope_id', coalesce(p_scope_id, a.organization_id), 'role', p_role),
        p_cause);
    PERFORM dsync_internal.recompute_roles(ARRAY[p_account_id], jsonb_build_object('*', p_cause));
    RETURN true;
END
$$;

-- Disabling sync removes the directory's groups, their memberships and the mappings that
-- name its groups by id; accounts and direct roles stay. Its events are ignored until enabled
-- again (then replay the directory to bring its groups back).
CREATE FUNCTION dsync_internal.disable_directory(p_directory_id text, p_cause jsonb)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_organization text;
    v_groups text[];
    v_accounts text[];
BEGIN
    SELECT organization_id INTO v_organization FROM dsync.directories WHERE id = p_directory_id;
    v_organization := coalesce(v_organization, (SELECT organization_id FROM dsync.groups
                                                WHERE directory_id = p_directory_id LIMIT 1));
    IF v_organization IS NOT NULL THEN
        PERFORM dsync_internal.lock_organization(v_organization);
    END IF;
    INSERT INTO dsync_internal.disabled_directories (directory_id, disabled_by)
    VALUES (p_directory_id, coalesce(p_cause ->> 'actor', 'admin'))
    ON CONFLICT DO NOTHING;
    SELECT array_agg(id) INTO v_groups FROM dsync.groups WHERE directory_id = p_directory_id;
    v_accounts := dsync_internal.accounts_in_groups(coalesce(v_groups, '{}'));
    DELETE FROM dsync.group_role_mappings WHERE group_id = ANY (v_groups);
    DELETE FROM dsync_internal.memberships WHERE directory_id = p_directory_id;
    DELETE FROM dsync.groups WHERE directory_id = p_directory_id;
    IF v_organization IS NOT NULL THEN
        PERFORM dsync_internal.audit(v_organization, 'directory.sync_disabled', NULL,
            jsonb_build_object('directory_id', p_directory_id,
                               'groups_removed', coalesce(cardinality(v_groups), 0)), p_cause);
    END IF;
    PERFORM dsync_internal.recompute_roles(v_accounts, jsonb_build_object('*', p_cause));
    RETURN coalesce(cardinality(v_groups), 0);
END
$$;

CREATE FUNCTION dsync_internal.enable_directory(p_directory_id text, p_cause jsonb)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_organization text;
BEGIN
    DELETE FROM dsync_internal.disabled_directories WHERE directory_id = p_directory_id;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT organization_id INTO v_organization FROM dsync.directories WHERE id = p_directory_id;
    IF v_organization IS NOT NULL THEN
        PERFORM dsync_internal.audit(v_organization, 'directory.sync_enabled', NULL,
            jsonb_build_object('directory_id', p_directory_id), p_cause);
    END IF;
    RETURN true;
END
$$;

-- An admin deactivates an account by hand (seed 000: "deletion revokes any logged-in sessions
-- and personal API keys"): the same revocation as deprovisioning, and sync never
-- reactivates it. Owners are refused: demote first. Returns false for an unknown account.
CREATE FUNCTION dsync_internal.deactivate_account(p_account_id text, p_cause jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    a dsync.accounts;
    v_revoked jsonb;
BEGIN
    SELECT * INTO a FROM dsync.accounts WHERE id = p_account_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no account %', p_account_id USING ERRCODE = 'no_data_found';
    END IF;
    PERFORM dsync_internal.lock_organization(a.organization_id);
    IF dsync_internal.is_owner(p_account_id) THEN
        RAISE EXCEPTION 'account % is an owner: remove the owner role first', p_account_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE dsync.accounts
    SET status = 'deactivated', deactivated_at = coalesce(deactivated_at, now()),
        deactivated_by = 'admin'
    WHERE id = p_account_id;
    v_revoked := dsync_internal.revoke_credentials(ARRAY[p_account_id], 'deactivated',
                                                   jsonb_build_object('*', p_cause));
    IF a.status = 'active' THEN
        PERFORM dsync_internal.audit(a.organization_id, 'account.deactivated', p_account_id,
                                     jsonb_build_object('by', 'admin'), p_cause);
        PERFORM dsync_internal.emit_change('account.deprovisioned', a.organization_id,
                                           p_account_id, '{}'::jsonb, p_cause);
    END IF;
    PERFORM dsync_internal.recompute_roles(ARRAY[p_account_id], jsonb_build_object('*', p_cause));
    RETURN jsonb_build_object('account_id', p_account_id, 'revoked', v_revoked);
END
$$;

-- ---------------------------------------------------------------------------------------
-- Just-in-time provisioning: the application calls this from its first-SSO-login
-- transaction. Returns the account (existing or new). A new account gets the organization's
-- default role and default team, is linked to the person's directory user (backfilling
-- its group memberships and their roles), and is deactivated if the directory says so.
CREATE FUNCTION dsync.jit_provision(p_organization_id text, p_email text)
RETURNS TABLE (account_id text, status text, created boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_account dsync.accounts;
    v_user text;
    v_team text;
    v_cause jsonb := jsonb_build_object('sso', 'jit');
BEGIN
    IF coalesce(p_organization_id, '') = '' OR coalesce(p_email, '') = '' THEN
        RAISE EXCEPTION 'organization and email are required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM dsync_internal.lock_organization(p_organization_id);
    PERFORM dsync_internal.ensure_organization(p_organization_id);
    SELECT * INTO v_account FROM dsync.accounts AS a
    WHERE a.organization_id = p_organization_id AND lower(a.email) = lower(p_email);
    IF FOUND THEN
        RETURN QUERY SELECT v_account.id, v_account.status, false;
        RETURN;
    END IF;

    SELECT u.id INTO v_user FROM dsync.users AS u
    WHERE u.organization_id = p_organization_id AND lower(u.email) = lower(p_email)
      AND u.deleted_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM dsync.accounts AS b WHERE b.directory_user_id = u.id)
    ORDER BY (u.state = 'active') DESC, u.updated_at DESC, u.id
    LIMIT 1;
    INSERT INTO dsync.accounts (organization_id, email, created_via, directory_user_id)
    VALUES (p_organization_id, p_email, 'jit', v_user)
    RETURNING * INTO v_account;
    PERFORM dsync_internal.audit(p_organization_id, 'account.created', v_account.id,
        jsonb_build_object('created_via', 'jit', 'directory_user_id', v_user), v_cause);
    PERFORM dsync_internal.emit_change('account.created', p_organization_id, v_account.id,
        jsonb_build_object('created_via', 'jit'), v_cause);

    SELECT o.default_team_id INTO v_team FROM dsync.organization_settings AS o
    WHERE o.organization_id = p_organization_id;
    IF v_team IS NOT NULL THEN
        INSERT INTO dsync.role_assignments (account_id, scope_type, scope_id, role, granted_by)
        VALUES (v_account.id, 'team', v_team, 'team_member', 'jit');
        PERFORM dsync_internal.audit(p_organization_id, 'role.assigned', v_account.id,
            jsonb_build_object('scope_type', 'team', 'scope_id', v_team,
                               'new_role', 'team_member'), v_cause);
    END IF;

    IF v_user IS NOT NULL THEN
        PERFORM dsync_internal.sync_access(ARRAY[v_user], '{}', '{}',
            jsonb_build_object('users', jsonb_build_object(v_user, v_cause)));
    ELSE
        PERFORM dsync_internal.recompute_roles(ARRAY[v_account.id],
                                               jsonb_build_object('*', v_cause));
    END IF;
    SELECT * INTO v_account FROM dsync.accounts AS a WHERE a.id = v_account.id;
    RETURN QUERY SELECT v_account.id, v_account.status, true;
END
$$;

-- The application's role: read everything in dsync, store credentials, call jit_provision.
DO $$
BEGIN
    CREATE ROLE dsync_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
GRANT dsync_reader TO dsync_app;
GRANT INSERT, UPDATE ON dsync.sessions, dsync.api_keys, dsync.device_tokens TO dsync_app;
REVOKE ALL ON FUNCTION dsync.jit_provision(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dsync.jit_provision(text, text) TO dsync_app;
