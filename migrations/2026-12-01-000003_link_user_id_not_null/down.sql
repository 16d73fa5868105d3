ALTER TABLE video_summary_category ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE video_summary_tag ALTER COLUMN user_id DROP NOT NULL;
