-- Reconciliation runs (`dsync reconcile`, docs/operations.md "Reconciliation"): one row per
-- run of one (provider, directory), its checkpoint (phase and the provider's page cursor),
-- and, once finished, the drift it found and repaired by kind. `dsync status` and
-- GET /diagnostics show the last finished run per directory.
CREATE TABLE dsync_internal.reconcile_runs (
    run_id          text        PRIMARY KEY,
    provider        text        NOT NULL,
    directory_id    text        NOT NULL,
    dry_run         boolean     NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT now(),
    -- The listing's start minus the clock margin: corrective events never override what
    -- happened after it (worker.merge, "vanished"; docs/schema.md "Convergence rules").
    unchanged_since timestamptz NOT NULL,
    phase           text        NOT NULL DEFAULT 'users'
                    CHECK (phase IN ('users', 'groups', 'memberships', 'vanished', 'done')),
    cursor          text,       -- the next page of the phase; NULL: its first page
    finished_at     timestamptz,
    drift           jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- kind -> count
    drift_ids       jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- kind -> first ids (no PII)
    repaired        jsonb       NOT NULL DEFAULT '{}'::jsonb   -- kind -> events produced
);
CREATE INDEX reconcile_runs_directory_idx
    ON dsync_internal.reconcile_runs (provider, directory_id, started_at DESC);

-- What the provider listed in a run (ids only: a 100,000-user directory is never held in
-- memory). Deleted when the run finishes.
CREATE TABLE dsync_internal.reconcile_listed (
    run_id text NOT NULL REFERENCES dsync_internal.reconcile_runs ON DELETE CASCADE,
    kind   text NOT NULL CHECK (kind IN ('users', 'groups')),
    id     text NOT NULL,
    PRIMARY KEY (run_id, kind, id)
);

CREATE TABLE dsync_internal.reconcile_listed_members (
    run_id   text NOT NULL REFERENCES dsync_internal.reconcile_runs ON DELETE CASCADE,
    group_id text NOT NULL,
    user_id  text NOT NULL,
    PRIMARY KEY (run_id, group_id, user_id)
);
