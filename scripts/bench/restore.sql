-- Puts the benchmark dataset back as `mv-admin seed --users N --videos N`
-- loaded it: removes the videos the create workload added and puts the
-- videos the status workload moved back as they were loaded. `mv-admin
-- bench` runs it before and after its workloads, scripts/bench.sh after each
-- pgbench run. It refuses a database that holds anything but the dataset's
-- users. One transaction: all of it or nothing.
BEGIN;
DO $$
BEGIN
    IF EXISTS (SELECT FROM "user" WHERE id !~ '^u[0-9]{20}$') THEN
        RAISE EXCEPTION 'this database holds users that are not the benchmark dataset''s: '
            'the benchmark runs only on a database loaded with mv-admin seed --users N --videos N';
    END IF;
END $$;
-- Dataset videos have the ids v<20 digits>; created ones do not.
DELETE FROM video_summary WHERE id !~ '^v[0-9]{20}$';
-- Only the pending videos (n % 10 = 7, so ids ending in 7) can move. A move
-- to processing counts an attempt, which the trigger
-- video_summary_check_transition lets no UPDATE take back (attempts are
-- fencing tokens). So the moved videos are copied, deleted (their links
-- with them) and inserted again as loaded: pending, at attempt 0.
CREATE TEMPORARY TABLE bench_moved ON COMMIT DROP AS
    SELECT * FROM video_summary
    WHERE id LIKE '%7' AND (processing_status <> 'pending' OR attempt <> 0);
CREATE TEMPORARY TABLE bench_moved_tag ON COMMIT DROP AS
    SELECT l.* FROM video_summary_tag l JOIN bench_moved m ON m.id = l.video_summary_id;
CREATE TEMPORARY TABLE bench_moved_category ON COMMIT DROP AS
    SELECT l.* FROM video_summary_category l JOIN bench_moved m ON m.id = l.video_summary_id;
CREATE TEMPORARY TABLE bench_moved_keyframe ON COMMIT DROP AS
    SELECT k.* FROM keyframe k JOIN bench_moved m ON m.id = k.video_summary_id;
UPDATE bench_moved
SET processing_status = 'pending', processing_error = NULL, updated_at = created_at,
    attempt = 0, worker_id = NULL, lease_expires_at = NULL, retry_after = NULL,
    last_error = NULL;
DELETE FROM video_summary v USING bench_moved m WHERE v.id = m.id;
INSERT INTO video_summary SELECT * FROM bench_moved;
INSERT INTO video_summary_tag SELECT * FROM bench_moved_tag;
INSERT INTO video_summary_category SELECT * FROM bench_moved_category;
INSERT INTO keyframe SELECT * FROM bench_moved_keyframe;
COMMIT;
