"""Reconciliation (`dsync reconcile`): list a directory at its provider, compare with the
dsync tables, and repair the drift by producing corrective events to the events topic
(never by writing the tables), so replay, rebuild, the audit log and the change feed all
see the repair. docs/operations.md "Reconciliation" is the operator's side."""
