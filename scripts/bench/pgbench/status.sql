-- status: VideoSummary::update_processing_status(.., processing). The
-- UPDATE moves only a pending video; the video's status is read in the same
-- pipeline (the data layer reports it when the move is refused), the two
-- statements sent as one round trip, as the data layer sends them.
\set n random(0, :videos - 1)
\set u :n % :users
\startpipeline
UPDATE "video_summary" SET "processing_status" = 'processing', "updated_at" = CURRENT_TIMESTAMP, "processing_error" = NULL, "last_error" = coalesce(NULL, "video_summary"."last_error"), "attempt" = ("video_summary"."attempt" + 1), "lease_expires_at" = NULL, "retry_after" = NULL WHERE ((("video_summary"."id" = ('v' || lpad(:n::text, 20, '0'))) AND ("video_summary"."user_id" = ('u' || lpad(:u::text, 20, '0')))) AND ("video_summary"."processing_status" = ANY('{pending}'))) RETURNING "video_summary"."id", "video_summary"."user_id", "video_summary"."youtube_url", "video_summary"."youtube_id", "video_summary"."title", "video_summary"."description", "video_summary"."channel_name", "video_summary"."duration", "video_summary"."thumbnail_url", "video_summary"."processing_status", "video_summary"."processing_error", "video_summary"."ai_generated_content", "video_summary"."created_at", "video_summary"."updated_at";
SELECT "video_summary"."processing_status" FROM "video_summary" WHERE (("video_summary"."id" = ('v' || lpad(:n::text, 20, '0'))) AND ("video_summary"."user_id" = ('u' || lpad(:u::text, 20, '0'))));
\endpipeline
