-- Placeholder on branch `reconcile` only, so that 0018 has no gap: branch `puller` owns
-- 0017. At the merge, take puller's file.
SELECT 1;
