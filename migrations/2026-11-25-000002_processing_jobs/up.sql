-- The processing pipeline, first step: its columns, constraints and the
-- backoff function. Every statement here is quick on a table of any size:
-- the columns come without a table rewrite (a constant default is stored
-- in the catalog), and the CHECKs are added NOT VALID, so only new and
-- updated rows are checked now; 000003 validates the existing ones without
-- blocking writes. The ACCESS EXCLUSIVE lock of the ALTERs lasts
-- milliseconds (the runner's lock_timeout bounds the wait for it).

ALTER TABLE video_summary
    -- squawk-ignore prefer-bigint-over-int -- a count of claims of one video, capped by the retry policy; the models read i32
    ADD COLUMN attempt integer NOT NULL DEFAULT 0,
    ADD COLUMN worker_id text,
    ADD COLUMN lease_expires_at timestamptz,
    ADD COLUMN retry_after timestamptz,
    ADD COLUMN last_error text;

ALTER TABLE video_summary
    ADD CONSTRAINT video_summary_attempt_check CHECK (attempt >= 0) NOT VALID,
    ADD CONSTRAINT video_summary_lease_check
        CHECK (lease_expires_at IS NULL OR processing_status = 'processing') NOT VALID,
    ADD CONSTRAINT video_summary_retry_after_check
        CHECK (retry_after IS NULL OR processing_status = 'pending') NOT VALID;

COMMENT ON COLUMN video_summary.attempt IS
    'How many times the video has been claimed; the fencing token of the current attempt. It grows by one with each claim and never otherwise.';
COMMENT ON COLUMN video_summary.worker_id IS
    'The worker holding the lease, or the last one that held it.';
COMMENT ON COLUMN video_summary.lease_expires_at IS
    'While processing: when the lease ends (database clock); after it, rescue gives the video back to the queue. NULL in any other status.';
COMMENT ON COLUMN video_summary.retry_after IS
    'While pending after a failed attempt: the video is not claimed before this time (backoff). NULL otherwise.';
COMMENT ON COLUMN video_summary.last_error IS
    'Why the last unsuccessful attempt ended (an error or an expired lease); kept across retries for operators.';

CREATE FUNCTION video_summary_retry_delay(attempt integer, base interval, cap interval)
    RETURNS interval
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN least(cap, base * power(2, least(greatest(attempt - 1, 0), 30)));
COMMENT ON FUNCTION video_summary_retry_delay(integer, interval, interval) IS
    'Exponential backoff: base after the first attempt, doubling after each further one, at most cap.';
