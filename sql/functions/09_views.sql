-- Views of the read contract.

-- Current memberships only: added last, and neither the group nor the user is deleted.
CREATE OR REPLACE VIEW dsync.group_memberships AS
SELECT m.directory_id, m.group_id, m.user_id, m.event_at AS created_at
FROM dsync_internal.memberships AS m
JOIN dsync.groups AS g ON g.id = m.group_id AND g.deleted_at IS NULL
JOIN dsync.users AS u ON u.id = m.user_id AND u.deleted_at IS NULL
WHERE m.present;

COMMENT ON VIEW dsync.group_memberships IS
    'Current group memberships: the last membership event for the pair was an add, and neither the group nor the user is deleted.';
