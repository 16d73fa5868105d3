-- The processing pipeline, second step: the CHECKs 000002 added NOT VALID
-- are validated. VALIDATE CONSTRAINT takes SHARE UPDATE EXCLUSIVE, which
-- lets reads and writes go on while it scans.
--
-- No row is written. Videos left in processing before leases existed have
-- no lease, and rescue treats a video in processing without a lease as one
-- whose lease is over, so the next rescue gives them back to the queue (at
-- attempt 0: their lost attempt is not counted). Videos completed or failed
-- before keep attempt 0 too: the pipeline never claimed them, and the retry
-- delay treats 0 as a first attempt. An UPDATE of the videos in processing
-- here would keep them locked, against the application's writes, until
-- this migration commits, after the three scans below.

ALTER TABLE video_summary VALIDATE CONSTRAINT video_summary_attempt_check;
ALTER TABLE video_summary VALIDATE CONSTRAINT video_summary_lease_check;
ALTER TABLE video_summary VALIDATE CONSTRAINT video_summary_retry_after_check;
