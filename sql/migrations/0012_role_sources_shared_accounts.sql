-- role_sources looks the batch's accounts up once, and skips the sources an organization
-- does not use.
--
-- Each of its three branches probed dsync.accounts for every id of the batch, and the
-- group branch then walked every account's user, memberships and groups before finding
-- that the organization maps no group to a role (the common case: in an initial sync each
-- membership batch recomputes the roles of about 2,000 accounts and none changes). The
-- accounts are now read once into a materialized set; the direct branch starts from the
-- account's assignments; the group and rule branches run only for accounts of
-- organizations that have group mappings or rules. Same rows as before.

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
