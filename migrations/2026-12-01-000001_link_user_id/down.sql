DROP TRIGGER video_summary_links_follow_user ON video_summary;
DROP FUNCTION video_summary_links_follow_user();
DROP TRIGGER video_summary_link_user_id ON video_summary_category;
DROP TRIGGER video_summary_link_user_id ON video_summary_tag;
DROP FUNCTION video_summary_link_user_id();
ALTER TABLE video_summary_category DROP COLUMN user_id;
ALTER TABLE video_summary_tag DROP COLUMN user_id;
