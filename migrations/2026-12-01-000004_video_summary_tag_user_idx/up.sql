-- A user's links to the tags of their videos, each video's together: the
-- filter of a page by tag probes (user, video, tag), and the probes of one
-- page stay in the user's few pages of this index. Built CONCURRENTLY (reads
-- and writes go on), so outside a transaction; a failed build leaves an
-- INVALID index, which `mv-admin migrate resolve` explains how to clear.
-- squawk-ignore prefer-robust-stmts -- IF NOT EXISTS would keep the INVALID index a failed build leaves; the runner records the failure instead
CREATE INDEX CONCURRENTLY video_summary_tag_user_id_video_summary_id_tag_id_idx
    ON video_summary_tag (user_id, video_summary_id, tag_id);
