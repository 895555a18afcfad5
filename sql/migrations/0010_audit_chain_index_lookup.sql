-- The audit chain trigger always finds the previous row of its organization through the
-- primary key.
--
-- Since 0009 the trigger's lookup keeps its cached plan for the connection's lifetime. A
-- plan made while the audit log was nearly empty is a sequential scan, and it stays one as
-- the log grows until an ANALYZE invalidates it, which cannot happen inside one statement.
-- So the first large sync_access of an installation (the final pass of a rebuild over
-- 100,000 users, say) read the whole log again for every row it appended: quadratic, more
-- than ten minutes for 100,000 accounts, against 31 s with the index. The lookup is a
-- probe of the primary key (organization, highest seq), right at every size of the log.

ALTER FUNCTION dsync_internal.audit_chain() SET enable_seqscan = off;
