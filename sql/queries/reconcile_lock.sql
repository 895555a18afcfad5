-- name: reconcile_try_lock
-- One reconciliation of a (provider, directory) at a time, dry runs apart from repairs
-- (each mode has its own run records): a session-level advisory lock, released by
-- PostgreSQL when the holder's connection ends (a crash included). Never waits.
SELECT pg_try_advisory_lock(
    hashtextextended('dsync.reconcile:' || $1 || ':' || $2 || CASE WHEN $3 THEN ':dry' ELSE '' END, 0));

-- name: reconcile_unlock
SELECT pg_advisory_unlock(
    hashtextextended('dsync.reconcile:' || $1 || ':' || $2 || CASE WHEN $3 THEN ':dry' ELSE '' END, 0));

-- name: reconcile_unfinished_runs
-- Unfinished repairing runs, newest per (provider, directory), and whether a process holds
-- the directory's lock now (running) or none does (stopped: the next run resumes it). A
-- bigint advisory key shows in pg_locks as classid = its high and objid = its low 32 bits.
SELECT r.provider, r.directory_id, r.run_id, r.started_at, r.phase,
       EXISTS (
           SELECT 1 FROM pg_locks AS l
           WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
             AND l.classid = ((k.key >> 32) & 4294967295)::oid
             AND l.objid = (k.key & 4294967295)::oid
       ) AS running
FROM (
    SELECT DISTINCT ON (provider, directory_id) *
    FROM dsync_internal.reconcile_runs
    WHERE finished_at IS NULL AND NOT dry_run
    ORDER BY provider, directory_id, started_at DESC
) AS r
CROSS JOIN LATERAL (
    SELECT hashtextextended('dsync.reconcile:' || r.provider || ':' || r.directory_id, 0) AS key
) AS k
ORDER BY r.provider, r.directory_id;
