-- Not CONCURRENTLY: a revert's down.sql is first tried in a transaction that
-- is rolled back, to count what it would delete; dropping an index deletes
-- no rows and holds its lock for an instant.
DROP INDEX IF EXISTS video_summary_tag_user_id_video_summary_id_tag_id_idx;
