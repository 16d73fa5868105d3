-- save: NewVideo::insert_tagged, a new video with three tags (tag-k,
-- tag-(k+67), tag-(k+134), as mv-admin bench picks them) in one statement.
-- The video id is 'b' and 20 digits (restore.sql removes it), the YouTube id
-- 11 digits; the tag ids are used only for a missing tag, and the dataset
-- has all 200.
\set u random(0, :users - 1)
\set r random(0, 9223372036854775806)
\set yt random(10000000000, 99999999999)
\set k random(0, 199)
WITH video AS (INSERT INTO video_summary (id, user_id, youtube_url, youtube_id, title, description, channel_name, duration, thumbnail_url, processing_status, created_at, updated_at) VALUES (('b' || lpad(:r::text, 20, '0')), ('u' || lpad(:u::text, 20, '0')), ('https://www.youtube.com/watch?v=' || :yt), :yt, 'Bench video', NULL, NULL, NULL, NULL, 'pending', coalesce(NULL, CURRENT_TIMESTAMP), coalesce(NULL, CURRENT_TIMESTAMP)) ON CONFLICT (user_id, youtube_id) DO NOTHING RETURNING id, user_id, youtube_url, youtube_id, title, description, channel_name, duration, thumbnail_url, processing_status, processing_error, ai_generated_content, created_at, updated_at), named AS (SELECT * FROM unnest(ARRAY['g' || lpad(:r::text, 20, '0'), 'h' || lpad(:r::text, 20, '0'), 'i' || lpad(:r::text, 20, '0')]::text[], ARRAY['tag-' || :k, 'tag-' || ((:k + 67) % 200), 'tag-' || ((:k + 134) % 200)]::text[]) AS named (id, name)), created AS (INSERT INTO tag (id, name) SELECT id, name FROM named WHERE EXISTS (SELECT FROM video) ON CONFLICT (name) DO NOTHING RETURNING id), linked AS (INSERT INTO video_summary_tag (video_summary_id, tag_id) SELECT video.id, labels.id FROM video, (SELECT id FROM created UNION SELECT tag.id FROM tag JOIN named USING (name)) AS labels RETURNING tag_id) SELECT video.*, (SELECT count(*) FROM linked) AS tags_linked FROM video;
