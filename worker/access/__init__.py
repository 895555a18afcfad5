"""The access model: accounts, roles, deprovisioning, audit, for the directory dsync keeps.

The rules run in SQL, in the same transaction as the change that calls them (the worker's
batch, an operator command, or the application's own login transaction). Where each part is:

- `sync.py`: the batch's access step (`sync_access`, `sync_all_access` after a rebuild).
- `admin.py`: the operator commands' operations (`dsync roles|accounts|directories|hooks`);
  `rules_file.py`: the declarative roles file; `audit_chain.py`: `dsync audit verify`.
- `payloads.py`: every JSON shape that crosses between these modules and SQL.
- SQL: the functions in `sql/functions/0N_access_*.sql` (one current definition each:
  organizations' lock, audit chain, change feed, credentials, roles, accounts, administration,
  directory switches) and the queries in `sql/queries/access.sql`. Its tables, like every
  table, are in the numbered migrations (docs/schema.md describes them).

The kernel applies the SQL (`dsync migrate`), so it stays in the `sql` package; the shell
(`dsync/shell/access.py`) calls `admin`; the worker's batch calls `sync`.
"""

from worker.access.sync import (
    AccessSummary,
    Causes,
    disabled_directories,
    sync_access,
    sync_all_access,
)

__all__ = ["AccessSummary", "Causes", "disabled_directories", "sync_access", "sync_all_access"]
