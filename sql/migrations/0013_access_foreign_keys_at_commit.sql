-- The foreign keys of the rows recompute_roles writes are checked at commit.
--
-- recompute_roles plans its statements per call (SET plan_cache_mode = force_custom_plan,
-- 0005 and 0008). A function's setting also applies to the foreign-key check PostgreSQL
-- runs for each row it inserts, so that check, a one-row probe of accounts' primary key,
-- was planned again for every effective role written: 0.97 s of planning against 0.43 s
-- of execution for B4's 100,000 roles (pg_stat_statements). Checked at commit, after the
-- function has returned, the check keeps its plan as every other foreign-key check does.
-- The rule is unchanged; a violation now fails the transaction at commit rather than at
-- the statement, and the worker's transaction fails as a whole either way.

ALTER TABLE dsync.effective_roles
    ALTER CONSTRAINT effective_roles_account_id_fkey DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE dsync.role_approvals
    ALTER CONSTRAINT role_approvals_account_id_fkey DEFERRABLE INITIALLY DEFERRED;
