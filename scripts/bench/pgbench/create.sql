-- create: NewVideo::insert. The id is 'b' and 20 digits (restore.sql removes
-- it), the YouTube id 11 digits; the other values are those mv-admin bench
-- passes.
\set u random(0, :users - 1)
\set r random(0, 9223372036854775806)
\set yt random(10000000000, 99999999999)
INSERT INTO "video_summary" ("id", "user_id", "youtube_url", "youtube_id", "title", "description", "channel_name", "duration", "thumbnail_url", "processing_status", "created_at", "updated_at") VALUES (('b' || lpad(:r::text, 20, '0')), ('u' || lpad(:u::text, 20, '0')), ('https://www.youtube.com/watch?v=' || :yt), :yt, 'Bench video', NULL, NULL, NULL, NULL, 'pending', coalesce(NULL, CURRENT_TIMESTAMP), coalesce(NULL, CURRENT_TIMESTAMP)) ON CONFLICT ("user_id", "youtube_id") DO NOTHING RETURNING "video_summary"."id", "video_summary"."user_id", "video_summary"."youtube_url", "video_summary"."youtube_id", "video_summary"."title", "video_summary"."description", "video_summary"."channel_name", "video_summary"."duration", "video_summary"."thumbnail_url", "video_summary"."processing_status", "video_summary"."processing_error", "video_summary"."ai_generated_content", "video_summary"."created_at", "video_summary"."updated_at";
