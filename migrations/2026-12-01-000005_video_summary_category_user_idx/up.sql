-- A user's links to the categorys of their videos, each video's together: the
-- filter of a page by category probes (user, video, category), and the probes of one
-- page stay in the user's few pages of this index. Built CONCURRENTLY (reads
-- and writes go on), so outside a transaction; a failed build leaves an
-- INVALID index, which `mv-admin migrate resolve` explains how to clear.
-- squawk-ignore prefer-robust-stmts -- IF NOT EXISTS would keep the INVALID index a failed build leaves; the runner records the failure instead
CREATE INDEX CONCURRENTLY video_summary_category_user_id_video_summary_id_category_id_idx
    ON video_summary_category (user_id, video_summary_id, category_id);
