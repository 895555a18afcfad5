-- Placeholder for migration 0018, assigned to another branch: keeps versions 1..n gapless on
-- the scim branch only. The lead drops this file when merging (the real 0018 wins).
SELECT 1;
