DROP TRIGGER video_summary_check_transition ON video_summary;
DROP FUNCTION video_summary_check_transition();
COMMENT ON COLUMN video_summary.processing_status IS 'pending, processing, completed or failed.';
