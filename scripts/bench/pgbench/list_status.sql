-- list_status: VideoSummary::list with a status filter, the first page:
-- user pick % users, status pick / users in the order of mv-admin bench's
-- STATUSES.
\set u random(0, :users - 1)
\set s random(1, 4)
\set one 1
\set limit 21
SELECT "video_summary"."id", "video_summary"."title", "video_summary"."processing_status", "video_summary"."created_at", (SELECT COUNT(*) FROM "video_summary_tag" WHERE (("video_summary_tag"."user_id" = "video_summary"."user_id") AND ("video_summary_tag"."video_summary_id" = "video_summary"."id")) LIMIT :one) FROM "video_summary" WHERE (("video_summary"."user_id" = ('u' || lpad(:u::text, 20, '0'))) AND ("video_summary"."processing_status" = ('{pending,processing,completed,failed}'::text[])[:s])) ORDER BY "video_summary"."created_at" DESC, "video_summary"."id" DESC LIMIT :limit;
