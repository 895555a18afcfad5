-- The access functions price an index probe as the cached read it is.
--
-- Every statement of sync_access and recompute_roles is driven by the ids of one batch
-- (at most a few thousand) and probes indexes of tables that stay in memory while dsync
-- runs. With the default random_page_cost (4, a price for spinning disks) the planner
-- preferred hashing the whole table once the tables had grown: recompute_roles for 2,000
-- accounts of 100,000 scanned all of accounts and effective_roles, 173-187 ms a batch and
-- growing with the tables, against 58-83 ms with 1.1 (the usual setting for SSD and
-- cached data), where each id is probed through its index. Large calls (a rebuild's pass
-- over every user) still get hash joins: the price of a probe is lower, not zero.

ALTER FUNCTION dsync_internal.sync_access(text[], text[], text[], jsonb)
    SET random_page_cost = 1.1;
ALTER FUNCTION dsync_internal.recompute_roles(text[], jsonb) SET random_page_cost = 1.1;
