DROP TRIGGER video_summary_check_transition ON video_summary;
DROP FUNCTION video_summary_check_transition();
DROP FUNCTION video_summary_retry_delay(integer, interval, interval);
DROP INDEX video_summary_lease_idx;
DROP INDEX video_summary_pending_idx;
ALTER TABLE video_summary
    DROP CONSTRAINT video_summary_retry_after_check,
    DROP CONSTRAINT video_summary_lease_check,
    DROP CONSTRAINT video_summary_attempt_check,
    DROP COLUMN last_error,
    DROP COLUMN retry_after,
    DROP COLUMN lease_expires_at,
    DROP COLUMN worker_id,
    DROP COLUMN attempt;
COMMENT ON COLUMN video_summary.processing_status IS 'pending, processing, completed or failed.';
