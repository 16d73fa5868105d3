-- Each link carries its video's user, second step: the links made before
-- 000001 get their user.
--
-- Outside a transaction, so each batch of 1,000 videos' links commits on
-- its own and keeps those rows locked for milliseconds, not until the end of
-- millions of rows. The walk is by the videos' primary key, so no batch
-- reads again what an earlier one filled. Links inserted meanwhile are
-- filled by 000001's trigger, which also recomputes the value set here.
DO $$
DECLARE
    last_id text := '';
    batch text[];
BEGIN
    LOOP
        SELECT array_agg(id ORDER BY id) INTO batch
        FROM (SELECT id FROM video_summary WHERE id > last_id ORDER BY id LIMIT 1000) AS next;
        EXIT WHEN batch IS NULL;
        UPDATE video_summary_tag AS link SET user_id = video.user_id
        FROM video_summary AS video
        WHERE video.id = ANY (batch) AND link.video_summary_id = video.id AND link.user_id IS NULL;
        UPDATE video_summary_category AS link SET user_id = video.user_id
        FROM video_summary AS video
        WHERE video.id = ANY (batch) AND link.video_summary_id = video.id AND link.user_id IS NULL;
        last_id := batch[array_upper(batch, 1)];
        COMMIT;
    END LOOP;
END
$$;

-- The backfill left a dead version of every link. Vacuumed here, before
-- 000003 needs its brief ACCESS EXCLUSIVE locks: an autovacuum of these
-- tables, which the backfill would otherwise start, holds a lock those wait
-- for until PostgreSQL cancels it (deadlock_timeout, 1 s), and the
-- application's reads and writes queue behind the waiting ALTER meanwhile
-- (measured: BENCHMARKS.md, "Schema changes under load"). VACUUM takes
-- SHARE UPDATE EXCLUSIVE, which lets reads and writes go on; ANALYZE gives
-- the planner the new column's statistics.
VACUUM (ANALYZE) video_summary_tag;
VACUUM (ANALYZE) video_summary_category;
