DROP FUNCTION video_summary_retry_delay(integer, interval, interval);
ALTER TABLE video_summary
    DROP CONSTRAINT video_summary_retry_after_check,
    DROP CONSTRAINT video_summary_lease_check,
    DROP CONSTRAINT video_summary_attempt_check,
    DROP COLUMN last_error,
    DROP COLUMN retry_after,
    DROP COLUMN lease_expires_at,
    DROP COLUMN worker_id,
    DROP COLUMN attempt;
