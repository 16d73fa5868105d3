-- The processing pipeline, last step: the status graph, enforced by the
-- database. Last, so the workers' claims and the old application's
-- updates are checked only once the columns, constraints and indexes they
-- rely on exist. CREATE TRIGGER takes a SHARE ROW EXCLUSIVE lock for an
-- instant (it reads no rows).

CREATE FUNCTION video_summary_check_transition() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.processing_status IS DISTINCT FROM OLD.processing_status
        AND (OLD.processing_status, NEW.processing_status) NOT IN (
            ('pending', 'processing'),
            ('processing', 'completed'),
            ('processing', 'failed'),
            ('processing', 'pending'),
            ('failed', 'pending'))
    THEN
        RAISE EXCEPTION 'video % cannot move from % to %',
                OLD.id, OLD.processing_status, NEW.processing_status
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'video_summary_processing_transition';
    END IF;
    IF OLD.processing_status = 'pending' AND NEW.processing_status = 'processing' THEN
        IF NEW.attempt IS DISTINCT FROM OLD.attempt + 1 THEN
            RAISE EXCEPTION 'video % must be claimed as attempt %, not %',
                    OLD.id, OLD.attempt + 1, NEW.attempt
                USING ERRCODE = 'check_violation',
                      CONSTRAINT = 'video_summary_attempt_fence';
        END IF;
    ELSIF NEW.attempt IS DISTINCT FROM OLD.attempt THEN
        RAISE EXCEPTION 'video % keeps attempt % unless it is claimed (pending -> processing)',
                OLD.id, OLD.attempt
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'video_summary_attempt_fence';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION video_summary_check_transition() IS
    'Rejects a processing_status move outside the pipeline graph, and any change of attempt other than +1 on a claim.';

CREATE TRIGGER video_summary_check_transition
    BEFORE UPDATE ON video_summary
    FOR EACH ROW
    WHEN (OLD.processing_status IS DISTINCT FROM NEW.processing_status
          OR OLD.attempt IS DISTINCT FROM NEW.attempt)
    EXECUTE FUNCTION video_summary_check_transition();

COMMENT ON COLUMN video_summary.processing_status IS
    'pending, processing, completed or failed; the trigger video_summary_check_transition allows only pending -> processing -> completed | failed | pending, and failed -> pending.';
