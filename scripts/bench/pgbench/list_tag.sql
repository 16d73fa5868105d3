-- list_tag: VideoSummary::list with a tag filter, the first page: user
-- pick % users, tag pick / users (`tag-<k>`).
\set u random(0, :users - 1)
\set k random(0, 199)
\set one 1
\set limit 21
SELECT "video_summary"."id", "video_summary"."title", "video_summary"."processing_status", "video_summary"."created_at", (SELECT COUNT(*) FROM "video_summary_tag" WHERE (("video_summary_tag"."user_id" = "video_summary"."user_id") AND ("video_summary_tag"."video_summary_id" = "video_summary"."id")) LIMIT :one) FROM "video_summary" WHERE (("video_summary"."user_id" = ('u' || lpad(:u::text, 20, '0'))) AND ("video_summary"."id" = ANY(SELECT "video_summary"."id" FROM "video_summary" WHERE (("video_summary"."user_id" = ('u' || lpad(:u::text, 20, '0'))) AND EXISTS (SELECT "video_summary_tag"."video_summary_id", "video_summary_tag"."tag_id", "video_summary_tag"."user_id" FROM "video_summary_tag" WHERE ((("video_summary_tag"."user_id" = "video_summary"."user_id") AND ("video_summary_tag"."video_summary_id" = "video_summary"."id")) AND ("video_summary_tag"."tag_id" = (SELECT "tag"."id" FROM "tag" WHERE ("tag"."name" = ('tag-' || :k)) LIMIT :one))))) ORDER BY "video_summary"."created_at" DESC, "video_summary"."id" DESC LIMIT :limit))) ORDER BY "video_summary"."created_at" DESC, "video_summary"."id" DESC LIMIT :limit;
