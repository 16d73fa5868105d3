-- Not CONCURRENTLY: a revert's down.sql is first tried in a transaction that
-- is rolled back, to count what it would delete; dropping an index deletes
-- no rows and holds its lock for an instant.
DROP INDEX IF EXISTS video_summary_user_id_processing_status_created_at_id_idx;
