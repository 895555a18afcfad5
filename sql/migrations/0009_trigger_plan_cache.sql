-- Triggers keep their statements' cached plans.
--
-- sync_access and recompute_roles plan every statement per call (SET plan_cache_mode =
-- force_custom_plan, 0005 and 0008), so that a plan made while the tables were small is
-- never reused once they are large. A function's SET applies to everything it runs,
-- triggers included, so the audit chain trigger planned its two statements afresh for
-- every audit row: B4's profile showed 7.2 s of planning for 200,000 rows, and the trigger
-- took 69 us a row. The triggers' statements are single-row index lookups whose plan does
-- not depend on table size; with their own setting they plan once per session.

ALTER FUNCTION dsync_internal.audit_chain() SET plan_cache_mode = auto;
ALTER FUNCTION dsync_internal.refuse_credential_for_inactive() SET plan_cache_mode = auto;
