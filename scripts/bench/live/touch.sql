-- The writer of scripts/bench-live.sh: rewrites one video's title as it
-- is (a row update that any lock on the table beyond ROW EXCLUSIVE's
-- conflicts blocks), on the same rows get.sql reads.
\set n random(0, :videos - 1)
\set u :n % :users
UPDATE "video_summary" SET "title" = "title", "updated_at" = CURRENT_TIMESTAMP WHERE (("video_summary"."id" = ('v' || lpad(:n::text, 20, '0'))) AND ("video_summary"."user_id" = ('u' || lpad(:u::text, 20, '0'))));
