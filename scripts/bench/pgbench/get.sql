-- get: VideoSummary::find, as the data layer sends it (tests/bench_scripts.rs
-- checks it against the statement the DAO sends). pgbench cannot make text
-- values, so each id is built on the server from the number picked.
\set n random(0, :videos - 1)
\set u :n % :users
SELECT "video_summary"."id", "video_summary"."user_id", "video_summary"."youtube_url", "video_summary"."youtube_id", "video_summary"."title", "video_summary"."description", "video_summary"."channel_name", "video_summary"."duration", "video_summary"."thumbnail_url", "video_summary"."processing_status", "video_summary"."processing_error", "video_summary"."ai_generated_content", "video_summary"."created_at", "video_summary"."updated_at" FROM "video_summary" WHERE (("video_summary"."id" = ('v' || lpad(:n::text, 20, '0'))) AND ("video_summary"."user_id" = ('u' || lpad(:u::text, 20, '0'))));
