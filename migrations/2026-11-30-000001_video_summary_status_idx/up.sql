-- A user's newest-first page of one status (`videos list --status`) is one
-- range of this index. Without it the page walks all of the user's videos
-- newest first and reads each row from the heap for its status: at a
-- million videos that read most pages from outside shared buffers
-- (BENCHMARKS.md, "Scale").
-- Built CONCURRENTLY (reads and writes go on), so outside a transaction;
-- one statement, so a failure leaves nothing half-done but an INVALID
-- index, which `mv-admin migrate resolve` explains how to clear.
-- squawk-ignore prefer-robust-stmts -- IF NOT EXISTS would keep the INVALID index a failed build leaves; the runner records the failure instead
CREATE INDEX CONCURRENTLY video_summary_user_id_processing_status_created_at_id_idx
    ON video_summary (user_id, processing_status, created_at DESC, id DESC);
