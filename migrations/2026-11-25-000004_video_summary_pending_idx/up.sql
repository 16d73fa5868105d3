-- claim: the oldest pending videos are the first entries of this index.
-- Built CONCURRENTLY (reads and writes go on), so outside a transaction;
-- one statement, so a failure leaves nothing half-done but an INVALID
-- index, which `mv-admin migrate resolve` explains how to clear.
-- squawk-ignore prefer-robust-stmts -- IF NOT EXISTS would keep the INVALID index a failed build leaves; the runner records the failure instead
CREATE INDEX CONCURRENTLY video_summary_pending_idx
    ON video_summary (created_at, id) WHERE processing_status = 'pending';
