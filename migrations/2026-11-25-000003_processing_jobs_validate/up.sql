-- The processing pipeline, second step: videos left in processing before
-- leases existed have no worker any more; they count one attempt and their
-- lease is over, so the next rescue gives them back to the queue. Videos
-- completed or failed before keep attempt 0: the pipeline never claimed
-- them, and the retry delay treats 0 as a first attempt, so no backfill of
-- every row is needed.
--
-- Nothing here takes a lock that blocks the application: the UPDATE locks
-- only the few rows in processing, and VALIDATE CONSTRAINT takes SHARE
-- UPDATE EXCLUSIVE, which lets reads and writes go on while it scans.

UPDATE video_summary
SET attempt = 1, lease_expires_at = now()
WHERE processing_status = 'processing';

ALTER TABLE video_summary VALIDATE CONSTRAINT video_summary_attempt_check;
ALTER TABLE video_summary VALIDATE CONSTRAINT video_summary_lease_check;
ALTER TABLE video_summary VALIDATE CONSTRAINT video_summary_retry_after_check;
