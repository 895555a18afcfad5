-- Roles: where they come from and what each account holds (dsync.effective_roles).

-- Position of a role in its scope's order, 1 = most permissive; NULL = not a role there.
CREATE OR REPLACE FUNCTION dsync_internal.role_rank(p_ranks text[], p_scope_type text, p_role text)
RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_scope_type
        WHEN 'organization' THEN array_position(p_ranks, p_role)
        WHEN 'team' THEN array_position(ARRAY['team_admin', 'team_member'], p_role)
        WHEN 'environment' THEN array_position(ARRAY['access'], p_role)
    END
$$;

-- A string attribute equals the value; an array attribute holds it.
CREATE OR REPLACE FUNCTION dsync_internal.attribute_matches(p_value jsonb, p_match text) RETURNS boolean
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

CREATE OR REPLACE FUNCTION dsync_internal.is_owner(p_account_id text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM dsync.role_assignments AS r
                   WHERE r.account_id = p_account_id AND r.scope_type = 'organization'
                     AND r.role = 'owner')
$$;

-- Accounts whose directory user belongs (now or before) to one of these groups.
CREATE OR REPLACE FUNCTION dsync_internal.accounts_in_groups(p_groups text[]) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(DISTINCT a.id), '{}')
    FROM dsync_internal.memberships AS m
    JOIN dsync.accounts AS a ON a.directory_user_id = m.user_id
    WHERE m.group_id = ANY (p_groups)
$$;

CREATE OR REPLACE FUNCTION dsync_internal.accounts_of_organization(p_organization_id text)
RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(a.id ORDER BY a.id), '{}')
    FROM dsync.accounts AS a WHERE a.organization_id = p_organization_id
$$;

-- Every source of every role of active accounts, before policy: direct assignments, group
-- mappings over current memberships, and the first matching attribute rule. The accounts are
-- read once into a materialized set; the group and rule branches run only for accounts of
-- organizations that have group mappings or rules (the common case maps none). Plain joins
-- on indexed tables only: a batch passes hundreds of accounts, and joins between CTEs
-- without statistics degrade into nested loops over rescanned CTEs.
CREATE OR REPLACE FUNCTION dsync_internal.role_sources(p_accounts text[])
RETURNS TABLE (account_id text, organization_id text, scope_type text, scope_id text,
               role text, source jsonb, from_idp boolean)
LANGUAGE sql STABLE AS $$
    WITH active AS MATERIALIZED (
        SELECT a.id, a.organization_id, a.directory_user_id
        FROM unnest(p_accounts) AS ids(id)
        JOIN dsync.accounts AS a ON a.id = ids.id AND a.status = 'active'
    ),
    mapped AS MATERIALIZED (  -- accounts whose organization maps groups to roles
        SELECT x.id, x.organization_id, x.directory_user_id FROM active AS x
        WHERE x.organization_id IN (SELECT mp.organization_id FROM dsync.group_role_mappings AS mp)
    ),
    ruled AS MATERIALIZED (  -- accounts whose organization has attribute rules
        SELECT x.id, x.organization_id, x.directory_user_id FROM active AS x
        WHERE x.organization_id IN (SELECT rl.organization_id FROM dsync.role_rules AS rl)
    )
    SELECT r.account_id, a.organization_id, r.scope_type, r.scope_id, r.role,
           jsonb_build_object('type', 'direct', 'granted_by', r.granted_by), false
    FROM active AS a
    JOIN dsync.role_assignments AS r ON r.account_id = a.id
    UNION ALL
    SELECT a.id, a.organization_id, mp.scope_type, mp.scope_id, mp.role,
           jsonb_build_object('type', 'group', 'group_id', g.id, 'group_name', g.name,
                              'mapping_id', mp.id), true
    FROM mapped AS a
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
     FROM ruled AS a
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

-- Phases of recompute_roles, in the order it runs them. Each runs under recompute_roles'
-- settings (SET clauses hold for everything a function calls), so none has its own.

-- Approvals: ask for hinted elevated roles not yet decided; forget undecided or decided
-- approvals whose hint is gone. Skipped unless approvals can be involved.
CREATE OR REPLACE FUNCTION dsync_internal.request_role_approvals(
    p_accounts text[], p_causes jsonb
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_requested jsonb;
BEGIN
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
        SELECT jsonb_agg(to_jsonb(r)) INTO v_requested FROM requested AS r;
        PERFORM dsync_internal.audit(a.organization_id, 'approval.requested', a.id,
                                     jsonb_build_object('scope_type', r.scope_type,
                                                        'scope_id', r.scope_id, 'role', r.role),
                                     coalesce(p_causes -> a.id, p_causes -> '*'))
        FROM jsonb_to_recordset(coalesce(v_requested, '[]'))
             AS r(account_id text, scope_type text, scope_id text, role text)
        JOIN dsync.accounts AS a ON a.id = r.account_id;
    END IF;
END
$$;

-- The roles these accounts should hold against those they hold, as a jsonb array of
-- {account_id, organization_id, scope_type, scope_id, old_role, new_role, old_sources,
-- new_sources} in (account, scope) order; NULL when nothing differs. A role approval
-- requested by request_role_approvals in the same transaction is seen.
CREATE OR REPLACE FUNCTION dsync_internal.role_changes(p_accounts text[])
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_diff jsonb;
BEGIN
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
    RETURN v_diff;
END
$$;

-- Write the differences (role_changes) into dsync.effective_roles.
CREATE OR REPLACE FUNCTION dsync_internal.write_role_changes(p_diff jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM dsync.effective_roles AS e
    USING jsonb_to_recordset(p_diff) AS x(account_id text, scope_type text, scope_id text,
                                          new_role text)
    WHERE x.new_role IS NULL AND e.account_id = x.account_id
      AND e.scope_type = x.scope_type AND e.scope_id = x.scope_id;

    INSERT INTO dsync.effective_roles AS e
        (account_id, organization_id, scope_type, scope_id, role, sources)
    SELECT x.account_id, x.organization_id, x.scope_type, x.scope_id, x.new_role, x.new_sources
    FROM jsonb_to_recordset(p_diff) AS x(account_id text, organization_id text, scope_type text,
                                          scope_id text, new_role text, new_sources jsonb)
    WHERE x.new_role IS NOT NULL
    ON CONFLICT (account_id, scope_type, scope_id)
    DO UPDATE SET role = excluded.role, sources = excluded.sources, updated_at = now();
END
$$;

-- One audit row per difference, in the array's order.
CREATE OR REPLACE FUNCTION dsync_internal.audit_role_changes(p_diff jsonb, p_causes jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dsync.audit_log (organization_id, action, account_id, details, cause)
    SELECT x.organization_id,
           CASE WHEN x.old_role IS NULL THEN 'role.granted'
                WHEN x.new_role IS NULL THEN 'role.revoked'
                WHEN x.old_role <> x.new_role THEN 'role.changed'
                ELSE 'role.sources_changed' END,
           x.account_id,
           jsonb_build_object('scope_type', x.scope_type, 'scope_id', x.scope_id,
                              'old_role', x.old_role, 'new_role', x.new_role,
                              'old_sources', x.old_sources, 'new_sources', x.new_sources),
           coalesce(p_causes -> x.account_id, p_causes -> '*', '{}'::jsonb)
    FROM jsonb_to_recordset(p_diff)  -- in array order
         AS x(account_id text, organization_id text, scope_type text, scope_id text,
              old_role text, new_role text, old_sources jsonb, new_sources jsonb);
END
$$;

-- One message per account with its whole current role set (a cache replaces its copy).
CREATE OR REPLACE FUNCTION dsync_internal.emit_role_changes(p_diff jsonb, p_causes jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dsync_internal.outbox (stream, key, headers, value)
    SELECT 'changes', c.account_id, dsync_internal.change_headers('role.changed'),
           dsync_internal.change_value(
        'role.changed', c.organization_id, c.account_id,
        jsonb_build_object('roles', coalesce((
            SELECT jsonb_agg(jsonb_build_object('scope_type', e.scope_type,
                                                'scope_id', e.scope_id, 'role', e.role,
                                                'sources', e.sources)
                             ORDER BY e.scope_type, e.scope_id)
            FROM dsync.effective_roles AS e WHERE e.account_id = c.account_id), '[]'::jsonb)),
        coalesce(p_causes -> c.account_id, p_causes -> '*'))
    FROM (SELECT DISTINCT x.account_id, x.organization_id
          FROM jsonb_to_recordset(p_diff) AS x(account_id text, organization_id text)) AS c
    ORDER BY c.account_id;
END
$$;

-- Recompute `dsync.effective_roles` for these accounts: union of sources, the most permissive
-- role per scope wins, the organization default when nothing else gives an organization role,
-- elevated roles hinted by the IdP only once approved (when the organization requires it).
-- Writes the differences with audit rows and one `role.changed` message per account.
-- p_causes: account id -> cause, or '*' -> cause for all. Returns the accounts changed.
-- Planning: every statement is written driven by the ids (unnest / jsonb rows, then index
-- lookups in the order written), so the planner keeps that join order (collapse limits 1)
-- and plans each call for the actual ids. Measured per batch: a cached generic plan, made
-- while the tables were small, cost 7 ms; free join search cost 3 ms of planning. An index
-- probe is priced as the cached read it is (random_page_cost 1.1): with the default the
-- planner hashed whole tables once they had grown (173-187 ms a batch against 58-83 ms).
-- The settings hold for everything the function calls, its phases included.
CREATE OR REPLACE FUNCTION dsync_internal.recompute_roles(p_accounts text[], p_causes jsonb)
RETURNS integer
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan SET join_collapse_limit = 1
SET from_collapse_limit = 1 SET random_page_cost = 1.1 AS $$
DECLARE
    v_diff jsonb;
BEGIN
    IF coalesce(cardinality(p_accounts), 0) = 0 THEN
        RETURN 0;
    END IF;
    PERFORM dsync_internal.request_role_approvals(p_accounts, p_causes);
    v_diff := dsync_internal.role_changes(p_accounts);
    IF v_diff IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM dsync_internal.write_role_changes(v_diff);
    PERFORM dsync_internal.audit_role_changes(v_diff, p_causes);
    PERFORM dsync_internal.emit_role_changes(v_diff, p_causes);
    RETURN (SELECT count(DISTINCT x.account_id)
            FROM jsonb_to_recordset(v_diff) AS x(account_id text));
END
$$;
