-- rescue and `mv-admin jobs`: leases that have expired. Built
-- CONCURRENTLY, outside a transaction, as 000004.
-- squawk-ignore prefer-robust-stmts -- IF NOT EXISTS would keep the INVALID index a failed build leaves; the runner records the failure instead
CREATE INDEX CONCURRENTLY video_summary_lease_idx
    ON video_summary (lease_expires_at) WHERE processing_status = 'processing';
