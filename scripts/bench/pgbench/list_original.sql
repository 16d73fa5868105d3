-- The design document's list query (Drizzle): every video of the user joined
-- to its tags, grouped, sorted, then limited to the same page size as list.
\set u random(0, :users - 1)
\set limit 21
select "video_summary"."id", "video_summary"."title", "video_summary"."processing_status", "video_summary"."created_at", count("video_summary_tag"."tag_id") from "video_summary" left join "video_summary_tag" on "video_summary"."id" = "video_summary_tag"."video_summary_id" where "video_summary"."user_id" = ('u' || lpad(:u::text, 20, '0')) group by "video_summary"."id" order by "video_summary"."created_at" desc, "video_summary"."id" desc limit :limit;
