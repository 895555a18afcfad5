-- name: reconcile_open_run
-- The unfinished run of a (provider, directory), to resume from its checkpoint.
SELECT run_id, unchanged_since, phase, cursor, drift, drift_ids, repaired
FROM dsync_internal.reconcile_runs
WHERE provider = $1 AND directory_id = $2 AND dry_run = $3 AND finished_at IS NULL
ORDER BY started_at DESC
LIMIT 1;

-- name: reconcile_start_run
INSERT INTO dsync_internal.reconcile_runs (run_id, provider, directory_id, dry_run, unchanged_since)
VALUES ($1, $2, $3, $4, $5);

-- name: reconcile_checkpoint
-- After a page's corrective events were acknowledged by the broker: where to go on.
UPDATE dsync_internal.reconcile_runs
SET phase = $2, cursor = $3, drift = $4::jsonb, drift_ids = $5::jsonb, repaired = $6::jsonb
WHERE run_id = $1;

-- name: reconcile_finish
UPDATE dsync_internal.reconcile_runs
SET phase = 'done', cursor = NULL, finished_at = now(),
    drift = $2::jsonb, drift_ids = $3::jsonb, repaired = $4::jsonb
WHERE run_id = $1;

-- name: reconcile_forget_listed
DELETE FROM dsync_internal.reconcile_listed WHERE run_id = $1;

-- name: reconcile_forget_members
DELETE FROM dsync_internal.reconcile_listed_members WHERE run_id = $1;

-- name: reconcile_record_listed
INSERT INTO dsync_internal.reconcile_listed (run_id, kind, id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS t (run_id, kind, id)
ON CONFLICT DO NOTHING;

-- name: reconcile_record_members
INSERT INTO dsync_internal.reconcile_listed_members (run_id, group_id, user_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS t (run_id, group_id, user_id)
ON CONFLICT DO NOTHING;

-- name: reconcile_stored_users
-- The rows a page of listed users names (no lock: the worker decides, not this read).
SELECT id, provider, directory_id, organization_id, idp_id, email, first_name, last_name,
       state, custom_attributes, created_at, updated_at, deleted_at
FROM dsync.users
WHERE id = ANY($1::text[]);

-- name: reconcile_stored_groups
SELECT id, provider, directory_id, organization_id, idp_id, name, created_at, updated_at,
       deleted_at
FROM dsync.groups
WHERE id = ANY($1::text[]);

-- name: reconcile_unlisted_users
-- Live users of the directory the run did not list: the candidates for "vanished".
SELECT u.id, u.updated_at
FROM dsync.users AS u
WHERE u.provider = $2 AND u.directory_id = $3 AND u.deleted_at IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM dsync_internal.reconcile_listed AS l
      WHERE l.run_id = $1 AND l.kind = 'users' AND l.id = u.id)
ORDER BY u.id;

-- name: reconcile_unlisted_groups
SELECT g.id, g.updated_at
FROM dsync.groups AS g
WHERE g.provider = $2 AND g.directory_id = $3 AND g.deleted_at IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM dsync_internal.reconcile_listed AS l
      WHERE l.run_id = $1 AND l.kind = 'groups' AND l.id = g.id)
ORDER BY g.id;

-- name: reconcile_analyze_listing
-- The run fills these two tables in bulk; autovacuum analyzes them on its own schedule,
-- often after the diffs below are planned. Planned against statistics of an empty table,
-- the membership diff nests loops over 200,000 listed pairs (minutes, not a second).
ANALYZE dsync_internal.reconcile_listed, dsync_internal.reconcile_listed_members;

-- name: reconcile_membership_drift
-- Per listed group: pairs the provider lists whose register is not present (adds; only
-- users the run listed, so a stale member row of a deleted user adds nothing), and pairs
-- the register holds present that the provider does not list (removes). With the
-- register's state, which the corrective event's id is derived from.
SELECT lm.group_id, lm.user_id, true AS present, m.present AS stored_present,
       m.event_at AS stored_at
FROM dsync_internal.reconcile_listed_members AS lm
JOIN dsync_internal.reconcile_listed AS lu
  ON lu.run_id = lm.run_id AND lu.kind = 'users' AND lu.id = lm.user_id
LEFT JOIN dsync_internal.memberships AS m
  ON m.group_id = lm.group_id AND m.user_id = lm.user_id
WHERE lm.run_id = $1 AND m.present IS DISTINCT FROM true
UNION ALL
SELECT m.group_id, m.user_id, false, m.present, m.event_at
FROM dsync_internal.memberships AS m
JOIN dsync_internal.reconcile_listed AS lg
  ON lg.run_id = $1 AND lg.kind = 'groups' AND lg.id = m.group_id
WHERE m.provider = $2 AND m.directory_id = $3 AND m.present
  AND NOT EXISTS (
      SELECT 1 FROM dsync_internal.reconcile_listed_members AS lm
      WHERE lm.run_id = $1 AND lm.group_id = m.group_id AND lm.user_id = m.user_id)
ORDER BY 1, 2;

-- name: reconcile_last_runs
-- The last finished run of each (provider, directory), and whether the one before it
-- found drift too (the alert: drift on two runs in a row).
SELECT provider, directory_id, run_id, started_at, finished_at, drift, repaired, drifted,
       previous_drifted
FROM (
    SELECT r.*, (SELECT coalesce(sum(value::bigint), 0) FROM jsonb_each_text(r.drift)) > 0
                AS drifted,
           row_number() OVER w AS recency,
           lead((SELECT coalesce(sum(value::bigint), 0) FROM jsonb_each_text(r.drift)) > 0)
               OVER w AS previous_drifted
    FROM dsync_internal.reconcile_runs AS r
    WHERE r.finished_at IS NOT NULL AND NOT r.dry_run
    WINDOW w AS (PARTITION BY r.provider, r.directory_id ORDER BY r.started_at DESC)
) AS runs
WHERE recency = 1
ORDER BY provider, directory_id;

-- name: reconcile_directories
-- The directories of a provider dsync knows and has not seen deleted: what a run without
-- --directory reconciles.
SELECT id FROM dsync.directories WHERE provider = $1 AND deleted_at IS NULL ORDER BY id;
