-- Puts the benchmark dataset back as `mv-admin seed --users N --videos N`
-- loaded it: removes the videos the create workload added and moves the
-- videos the status workload moved back to pending. `mv-admin bench` runs it
-- before and after its workloads, scripts/bench.sh after each pgbench run.
-- It refuses a database that holds anything but the dataset's users.
DO $$
BEGIN
    IF EXISTS (SELECT FROM "user" WHERE id !~ '^u[0-9]{20}$') THEN
        RAISE EXCEPTION 'this database holds users that are not the benchmark dataset''s: '
            'the benchmark runs only on a database loaded with mv-admin seed --users N --videos N';
    END IF;
END $$;
-- Dataset videos have the ids v<20 digits>; created ones do not.
DELETE FROM video_summary WHERE id !~ '^v[0-9]{20}$';
-- Only the pending videos (n % 10 = 7, so ids ending in 7) can move.
UPDATE video_summary
SET processing_status = 'pending', processing_error = NULL, updated_at = created_at
WHERE id LIKE '%7' AND processing_status <> 'pending';
