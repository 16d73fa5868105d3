-- page: VideoDetails::find, the video page (`videos show`): the video, its
-- tags, categories and keyframes, four statements sent as one pipeline, as
-- the data layer sends them.
\set n random(0, :videos - 1)
\set u :n % :users
\startpipeline
SELECT "video_summary"."id", "video_summary"."user_id", "video_summary"."youtube_url", "video_summary"."youtube_id", "video_summary"."title", "video_summary"."description", "video_summary"."channel_name", "video_summary"."duration", "video_summary"."thumbnail_url", "video_summary"."processing_status", "video_summary"."processing_error", "video_summary"."ai_generated_content", "video_summary"."created_at", "video_summary"."updated_at" FROM "video_summary" WHERE (("video_summary"."id" = ('v' || lpad(:n::text, 20, '0'))) AND ("video_summary"."user_id" = ('u' || lpad(:u::text, 20, '0'))));
SELECT "tag"."id", "tag"."name", "tag"."description", "tag"."created_at" FROM ("tag" INNER JOIN "video_summary_tag" ON ("video_summary_tag"."tag_id" = "tag"."id")) WHERE (("video_summary_tag"."user_id" = ('u' || lpad(:u::text, 20, '0'))) AND ("video_summary_tag"."video_summary_id" = ('v' || lpad(:n::text, 20, '0')))) ORDER BY "tag"."name";
SELECT "category"."id", "category"."name", "category"."description", "category"."created_at" FROM ("category" INNER JOIN "video_summary_category" ON ("video_summary_category"."category_id" = "category"."id")) WHERE (("video_summary_category"."user_id" = ('u' || lpad(:u::text, 20, '0'))) AND ("video_summary_category"."video_summary_id" = ('v' || lpad(:n::text, 20, '0')))) ORDER BY "category"."name";
SELECT "keyframe"."id", "keyframe"."video_summary_id", "keyframe"."timestamp", "keyframe"."image_url", "keyframe"."description", "keyframe"."created_at" FROM ("keyframe" INNER JOIN "video_summary" ON ("keyframe"."video_summary_id" = "video_summary"."id")) WHERE (("video_summary"."id" = ('v' || lpad(:n::text, 20, '0'))) AND ("video_summary"."user_id" = ('u' || lpad(:u::text, 20, '0')))) ORDER BY "keyframe"."timestamp", "keyframe"."id";
\endpipeline
