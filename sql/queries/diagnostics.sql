-- name: directory_status
-- One row per (directory, provider) seen in the inbox, the dead letters or the health
-- table. $1: start of the recent window. Lifetime figures scan the inbox (seconds on
-- tens of millions of rows: this serves an operator's command, not the hot path); the
-- window uses applied_events_applied_at_idx. Null directory ids and providers (events that
-- name no directory, unreadable envelopes) group together under ''.
WITH lifetime AS (
    SELECT coalesce(directory_id, '') AS directory_key, source AS provider_key,
           max(received_at) AS last_received_at, max(applied_at) AS last_applied_at,
           count(*) AS events_total
    FROM dsync_internal.applied_events
    GROUP BY 1, 2
), recent AS (
    SELECT coalesce(directory_id, '') AS directory_key, source AS provider_key,
           count(*) FILTER (WHERE outcome = 'applied') AS applied,
           count(*) FILTER (WHERE outcome = 'stale') AS stale,
           count(*) FILTER (WHERE outcome = 'ignored') AS ignored,
           percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM applied_at - received_at)
           ) FILTER (WHERE outcome = 'applied') AS p50_seconds,
           percentile_cont(0.99) WITHIN GROUP (
               ORDER BY extract(epoch FROM applied_at - received_at)
           ) FILTER (WHERE outcome = 'applied') AS p99_seconds
    FROM dsync_internal.applied_events
    WHERE applied_at >= $1
    GROUP BY 1, 2
), letters AS (
    SELECT coalesce(directory_id, '') AS directory_key, coalesce(source, '') AS provider_key,
           count(*) AS dead_letters,
           count(*) FILTER (WHERE redriven_at IS NULL) AS dead_letters_not_redriven,
           count(*) FILTER (WHERE created_at >= $1) AS dead_lettered
    FROM dsync_internal.dead_letters
    GROUP BY 1, 2
), health AS (
    SELECT directory_id AS directory_key, coalesce(provider, '') AS provider_key,
           degraded_since, last_breach_event_id, last_breach_seconds
    FROM dsync_internal.directory_health
), keys AS (
    SELECT directory_key, provider_key FROM lifetime
    UNION SELECT directory_key, provider_key FROM letters
    UNION SELECT directory_key, provider_key FROM health
)
SELECT nullif(k.directory_key, '') AS directory_id,
       nullif(k.provider_key, '') AS provider,
       l.last_received_at,
       l.last_applied_at,
       coalesce(l.events_total, 0) AS events_total,
       coalesce(r.applied, 0) AS applied,
       coalesce(r.stale, 0) AS stale,
       coalesce(r.ignored, 0) AS ignored,
       coalesce(d.dead_lettered, 0) AS dead_lettered,
       r.p50_seconds::float8 AS p50_seconds,
       r.p99_seconds::float8 AS p99_seconds,
       coalesce(d.dead_letters, 0) AS dead_letters,
       coalesce(d.dead_letters_not_redriven, 0) AS dead_letters_not_redriven,
       h.degraded_since,
       h.last_breach_event_id,
       h.last_breach_seconds
FROM keys AS k
LEFT JOIN lifetime AS l USING (directory_key, provider_key)
LEFT JOIN recent AS r USING (directory_key, provider_key)
LEFT JOIN letters AS d USING (directory_key, provider_key)
LEFT JOIN health AS h USING (directory_key, provider_key)
ORDER BY h.degraded_since IS NULL, k.directory_key, k.provider_key;
