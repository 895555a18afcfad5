-- A batch's membership changes reach the access step only where memberships decide access.
--
-- A user whose only change is a membership (their own row unchanged) can gain or lose access
-- through that membership in three ways: their organization maps groups to roles, has a role
-- rule on group names, or deactivates users left without groups. Anywhere else the access
-- step recomputed the same account and roles for nothing: in an initial sync every membership
-- batch ran all of sync_access for about 2,000 accounts and changed none (3.8 s of B4's
-- 32 s of database time).
--
-- sync_batch_access takes the users whose rows changed and the users whose memberships
-- changed apart, and hands sync_access only the members that count. It locks the batch's
-- organizations first, in order, and decides after: an administrator adding the first group
-- mapping of an organization holds the same lock, so either the mapping is committed and
-- seen here, or the mapping's own recompute runs after this batch commits and sees its
-- memberships. The lock set covers every organization sync_access can lock for this batch
-- (its targets are users of these arrays, of the groups' memberships and of the directories),
-- so sync_access takes no organization lock out of order.

CREATE FUNCTION dsync_internal.sync_batch_access(
    p_users text[], p_members text[], p_groups text[], p_directories text[], p_causes jsonb
) RETURNS jsonb
LANGUAGE plpgsql  -- planned like sync_access (see 0008 and 0011)
SET plan_cache_mode = force_custom_plan SET join_collapse_limit = 1
SET from_collapse_limit = 1 SET random_page_cost = 1.1 AS $$
DECLARE
    v_ids text[];  -- every user whose organization sync_access may lock for this batch
    v_organizations text[];  -- where memberships decide access
    v_counted text[];
BEGIN
    v_ids := p_users || p_members;
    IF cardinality(p_groups) + cardinality(p_directories) > 0 THEN
        v_ids := v_ids || ARRAY(SELECT m.user_id FROM dsync_internal.memberships AS m
                                WHERE m.group_id = ANY (p_groups)
                                UNION SELECT x.id FROM dsync.users AS x
                                      WHERE x.directory_id = ANY (p_directories));
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
                                      p_directories, p_causes);
END
$$;
