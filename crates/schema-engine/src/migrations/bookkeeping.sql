-- The migration engine's own tables, beside Diesel's __diesel_schema_migrations
-- (which still lists the applied versions, so Diesel's tools keep working).
-- Their names start with __ so schema.rs generation skips them. Every name is
-- qualified, so the session's search_path does not matter.

-- Diesel's table, as Diesel makes it.
CREATE TABLE IF NOT EXISTS public.__diesel_schema_migrations (
    version VARCHAR(50) PRIMARY KEY NOT NULL,
    run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS public.__mv_migration_history (
    version text PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    state text NOT NULL CHECK (state IN ('applied', 'running', 'failed')),
    direction text NOT NULL CHECK (direction IN ('up', 'down')),
    run_in_transaction boolean NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    error text
);
COMMENT ON TABLE public.__mv_migration_history IS 'One row per applied migration (with the checksum of its up.sql) and per migration left failed or running by a run outside a transaction.';

CREATE TABLE IF NOT EXISTS public.__mv_migration_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    version text NOT NULL,
    action text NOT NULL CHECK (action IN (
        'adopted', 'applied', 'reverted', 'failed',
        'accepted_edit', 'resolved_rolled_back', 'resolved_completed', 'baselined'
    )),
    checksum text,
    previous_checksum text,
    reason text,
    by_user text NOT NULL DEFAULT current_user
);
COMMENT ON TABLE public.__mv_migration_log IS 'Append-only record of what the migration engine and its operators did.';
