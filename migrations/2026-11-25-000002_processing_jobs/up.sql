-- The processing pipeline: leases, attempts as fencing tokens, retries with
-- backoff, and the status graph enforced by the database itself.

ALTER TABLE video_summary
    -- squawk-ignore prefer-bigint-over-int -- a count of claims of one video, capped by the retry policy; the models read i32
    ADD COLUMN attempt integer NOT NULL DEFAULT 0,
    ADD COLUMN worker_id text,
    ADD COLUMN lease_expires_at timestamptz,
    ADD COLUMN retry_after timestamptz,
    ADD COLUMN last_error text;

-- Videos processed before leases existed count one attempt; one left in
-- processing has no worker any more, so its lease is over and the next
-- rescue gives it back to the queue.
UPDATE video_summary SET attempt = 1 WHERE processing_status <> 'pending';
UPDATE video_summary SET lease_expires_at = now() WHERE processing_status = 'processing';

-- The backfill above already rewrote the rows under this transaction's lock,
-- so NOT VALID and a later VALIDATE would not shorten the time writes wait.
ALTER TABLE video_summary
    -- squawk-ignore constraint-missing-not-valid -- the table is already locked and rewritten by this migration's backfill
    ADD CONSTRAINT video_summary_attempt_check CHECK (attempt >= 0),
    -- squawk-ignore constraint-missing-not-valid -- the table is already locked and rewritten by this migration's backfill
    ADD CONSTRAINT video_summary_lease_check
        CHECK (lease_expires_at IS NULL OR processing_status = 'processing'),
    -- squawk-ignore constraint-missing-not-valid -- the table is already locked and rewritten by this migration's backfill
    ADD CONSTRAINT video_summary_retry_after_check
        CHECK (retry_after IS NULL OR processing_status = 'pending');

COMMENT ON COLUMN video_summary.processing_status IS
    'pending, processing, completed or failed; the trigger video_summary_check_transition allows only pending -> processing -> completed | failed | pending, and failed -> pending.';
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

-- claim: the oldest pending videos are the first entries of this index.
-- squawk-ignore require-concurrent-index-creation -- partial, over the few pending rows, built under the lock this migration already holds; CONCURRENTLY cannot run in its transaction
CREATE INDEX video_summary_pending_idx
    ON video_summary (created_at, id) WHERE processing_status = 'pending';
-- rescue and `mv-admin jobs`: leases that have expired.
-- squawk-ignore require-concurrent-index-creation -- partial, over the few processing rows, built under the lock this migration already holds; CONCURRENTLY cannot run in its transaction
CREATE INDEX video_summary_lease_idx
    ON video_summary (lease_expires_at) WHERE processing_status = 'processing';

CREATE FUNCTION video_summary_retry_delay(attempt integer, base interval, cap interval)
    RETURNS interval
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN least(cap, base * power(2, least(greatest(attempt - 1, 0), 30)));
COMMENT ON FUNCTION video_summary_retry_delay(integer, interval, interval) IS
    'Exponential backoff: base after the first attempt, doubling after each further one, at most cap.';

CREATE FUNCTION video_summary_check_transition() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.processing_status IS DISTINCT FROM OLD.processing_status
        AND (OLD.processing_status, NEW.processing_status) NOT IN (
            ('pending', 'processing'),
            ('processing', 'completed'),
            ('processing', 'failed'),
            ('processing', 'pending'),
            ('failed', 'pending'))
    THEN
        RAISE EXCEPTION 'video % cannot move from % to %',
                OLD.id, OLD.processing_status, NEW.processing_status
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'video_summary_processing_transition';
    END IF;
    IF OLD.processing_status = 'pending' AND NEW.processing_status = 'processing' THEN
        IF NEW.attempt IS DISTINCT FROM OLD.attempt + 1 THEN
            RAISE EXCEPTION 'video % must be claimed as attempt %, not %',
                    OLD.id, OLD.attempt + 1, NEW.attempt
                USING ERRCODE = 'check_violation',
                      CONSTRAINT = 'video_summary_attempt_fence';
        END IF;
    ELSIF NEW.attempt IS DISTINCT FROM OLD.attempt THEN
        RAISE EXCEPTION 'video % keeps attempt % unless it is claimed (pending -> processing)',
                OLD.id, OLD.attempt
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'video_summary_attempt_fence';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION video_summary_check_transition() IS
    'Rejects a processing_status move outside the pipeline graph, and any change of attempt other than +1 on a claim.';

CREATE TRIGGER video_summary_check_transition
    BEFORE UPDATE ON video_summary
    FOR EACH ROW
    WHEN (OLD.processing_status IS DISTINCT FROM NEW.processing_status
          OR OLD.attempt IS DISTINCT FROM NEW.attempt)
    EXECUTE FUNCTION video_summary_check_transition();
