DROP TABLE video_summary_category;
DROP TABLE video_summary_tag;
DROP TABLE keyframe;
DROP TABLE category;
DROP TABLE tag;
DROP TABLE video_summary;
DROP TABLE "user";
