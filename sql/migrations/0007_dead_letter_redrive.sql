-- Dead letters can be redriven (`dsync dlq redrive`): produced back to the events topic,
-- where the worker applies them through the normal path. The row stays as the record of
-- what happened; these say whether and how often it was redriven.
ALTER TABLE dsync_internal.dead_letters
    ADD COLUMN redriven_at   timestamptz,
    ADD COLUMN redrive_count integer NOT NULL DEFAULT 0;

-- `dsync dlq list --directory` and `dsync dlq redrive --all --directory`.
CREATE INDEX dead_letters_directory_id_idx ON dsync_internal.dead_letters (directory_id, id);
