-- The link writer of scripts/bench-live.sh: gives a random video the tags
-- it has (what `Tag::replace` writes: its links deleted and inserted
-- again, in one statement), so it waits for any lock on the table beyond
-- ROW EXCLUSIVE's and for a lock held on those rows, and leaves the
-- dataset's content as it was.
\set n random(0, :videos - 1)
WITH gone AS (DELETE FROM video_summary_tag WHERE video_summary_id = 'v' || lpad(:n::text, 20, '0') RETURNING video_summary_id, tag_id) INSERT INTO video_summary_tag (video_summary_id, tag_id) SELECT video_summary_id, tag_id FROM gone;
