-- Mind-vault's whole schema, as it should be: the file developers edit.
--
-- `mv-admin push` makes a development database match it at once;
-- `mv-admin generate <name>` writes the migration that takes the existing
-- migrations to it; `mv-admin generate --check` (run by CI) fails while this
-- file, migrations/ and crates/db/src/schema.rs disagree. PostgreSQL loads
-- this file into a scratch database, so any CREATE TABLE, ALTER TABLE,
-- CREATE INDEX, CREATE FUNCTION, CREATE TRIGGER or COMMENT ON statement is
-- fine; views, procedures, sequences and custom types are not managed.

CREATE TABLE "user" (
    id text PRIMARY KEY,
    name text NOT NULL,
    email text NOT NULL UNIQUE,
    "emailVerified" boolean NOT NULL DEFAULT false,
    image text,
    "createdAt" timestamptz NOT NULL,
    "updatedAt" timestamptz NOT NULL
);
COMMENT ON TABLE "user" IS 'People who use Mind-vault; shared with the auth library, hence the camelCase columns.';
COMMENT ON COLUMN "user".id IS 'Opaque id issued by the auth library.';
COMMENT ON COLUMN "user"."emailVerified" IS 'Whether the auth library has verified the email address.';

CREATE TABLE video_summary (
    id text PRIMARY KEY,
    user_id text NOT NULL REFERENCES "user" (id) ON DELETE CASCADE,
    youtube_url text NOT NULL,
    youtube_id text NOT NULL,
    title text NOT NULL,
    description text,
    channel_name text,
    duration integer,
    thumbnail_url text,
    processing_status text NOT NULL DEFAULT 'pending'
        CONSTRAINT video_summary_processing_status_check
        CHECK (processing_status IN ('pending', 'processing', 'completed', 'failed')),
    processing_error text,
    ai_generated_content jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- The processing pipeline: leases, attempts as fencing tokens, retries
    -- with backoff.
    attempt integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    worker_id text,
    lease_expires_at timestamptz,
    retry_after timestamptz,
    last_error text,
    CONSTRAINT video_summary_lease_check
        CHECK (lease_expires_at IS NULL OR processing_status = 'processing'),
    CONSTRAINT video_summary_retry_after_check
        CHECK (retry_after IS NULL OR processing_status = 'pending')
);
COMMENT ON TABLE video_summary IS 'A YouTube video a user saved, and what the AI made of it.';
COMMENT ON COLUMN video_summary.id IS 'nanoid (21 characters).';
COMMENT ON COLUMN video_summary.user_id IS 'Owner; every query of this table is scoped to it.';
COMMENT ON COLUMN video_summary.youtube_id IS 'The 11-character YouTube video id parsed from youtube_url; unique per user.';
COMMENT ON COLUMN video_summary.duration IS 'Length of the video in seconds.';
COMMENT ON COLUMN video_summary.processing_status IS
    'pending, processing, completed or failed; the trigger video_summary_check_transition allows only pending -> processing -> completed | failed | pending, and failed -> pending.';
COMMENT ON COLUMN video_summary.processing_error IS 'Why processing failed; set only when processing_status is failed.';
COMMENT ON COLUMN video_summary.ai_generated_content IS 'AI output: {"summary": ..., "keyPoints": [...], ...}; unknown keys are kept.';
COMMENT ON COLUMN video_summary.attempt IS
    'How many times the video has been claimed; the fencing token of the current attempt. It grows by one with each claim and never otherwise.';
COMMENT ON COLUMN video_summary.worker_id IS
    'The worker holding the lease, or the last one that held it.';
COMMENT ON COLUMN video_summary.lease_expires_at IS
    'While processing: when the lease ends (database clock); after it, rescue gives the video back to the queue. NULL in any other status.';
COMMENT ON COLUMN video_summary.retry_after IS
    'While pending after a failed attempt: the video is not claimed before this time (backoff). NULL otherwise.';
COMMENT ON COLUMN video_summary.last_error IS
    'Why the last unsuccessful attempt ended (an error or an expired lease); kept across retries for operators.';
-- A user's newest-first page is one range of this index; it also serves the
-- foreign key on user_id.
CREATE INDEX video_summary_user_id_created_at_id_idx
    ON video_summary (user_id, created_at DESC, id DESC);
-- A user's newest-first page of one status is one range of this index.
CREATE INDEX video_summary_user_id_processing_status_created_at_id_idx
    ON video_summary (user_id, processing_status, created_at DESC, id DESC);
-- Duplicate detection: one user saves a video once.
CREATE UNIQUE INDEX video_summary_user_id_youtube_id_key
    ON video_summary (user_id, youtube_id);
-- claim: the oldest pending videos are the first entries of this index.
CREATE INDEX video_summary_pending_idx
    ON video_summary (created_at, id) WHERE processing_status = 'pending';
-- rescue and `mv-admin jobs`: leases that have expired.
CREATE INDEX video_summary_lease_idx
    ON video_summary (lease_expires_at) WHERE processing_status = 'processing';

CREATE TABLE tag (
    id text PRIMARY KEY,
    name text NOT NULL UNIQUE,
    description text,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE tag IS 'A label shared by all users; the name is normalized (trimmed, lower case).';

CREATE TABLE category (
    id text PRIMARY KEY,
    name text NOT NULL UNIQUE,
    description text,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE category IS 'A broad subject shared by all users; the name is normalized (trimmed, lower case).';

CREATE TABLE keyframe (
    id text PRIMARY KEY,
    video_summary_id text NOT NULL REFERENCES video_summary (id) ON DELETE CASCADE,
    "timestamp" integer NOT NULL,
    image_url text NOT NULL,
    description text,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE keyframe IS 'A still frame picked from a video, with what it shows.';
COMMENT ON COLUMN keyframe."timestamp" IS 'Offset into the video in seconds.';
-- Serves the foreign key and a video's keyframes in timestamp order.
CREATE INDEX keyframe_video_summary_id_timestamp_idx ON keyframe (video_summary_id, "timestamp");

CREATE TABLE video_summary_tag (
    video_summary_id text NOT NULL REFERENCES video_summary (id) ON DELETE CASCADE,
    tag_id text NOT NULL REFERENCES tag (id) ON DELETE CASCADE,
    user_id text NOT NULL,
    PRIMARY KEY (video_summary_id, tag_id)
);
COMMENT ON TABLE video_summary_tag IS 'Which tags a video has.';
CREATE INDEX video_summary_tag_tag_id_idx ON video_summary_tag (tag_id);
COMMENT ON COLUMN video_summary_tag.user_id IS
    'The video''s user, copied by the trigger video_summary_link_user_id; never set by hand.';
-- A page filtered by tag probes (user, video, tag): one user's probes stay
-- in that user's few pages of this index.
CREATE INDEX video_summary_tag_user_id_video_summary_id_tag_id_idx
    ON video_summary_tag (user_id, video_summary_id, tag_id);

CREATE TABLE video_summary_category (
    video_summary_id text NOT NULL REFERENCES video_summary (id) ON DELETE CASCADE,
    category_id text NOT NULL REFERENCES category (id) ON DELETE CASCADE,
    user_id text NOT NULL,
    PRIMARY KEY (video_summary_id, category_id)
);
COMMENT ON TABLE video_summary_category IS 'Which categories a video belongs to.';
CREATE INDEX video_summary_category_category_id_idx ON video_summary_category (category_id);
COMMENT ON COLUMN video_summary_category.user_id IS
    'The video''s user, copied by the trigger video_summary_link_user_id; never set by hand.';
-- A page filtered by category probes (user, video, category): one user's probes stay
-- in that user's few pages of this index.
CREATE INDEX video_summary_category_user_id_video_summary_id_category_id_idx
    ON video_summary_category (user_id, video_summary_id, category_id);

-- The processing pipeline's retry backoff and status graph.
CREATE FUNCTION video_summary_retry_delay(attempt integer, base interval, cap interval)
    RETURNS interval
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN least(cap, base * power(2, least(greatest(attempt - 1, 0), 30)));
COMMENT ON FUNCTION video_summary_retry_delay(integer, interval, interval) IS
    'Exponential backoff: base after the first attempt, doubling after each further one, at most cap.';

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

-- Each link carries its video's user (for the indexes above), filled by the
-- database: the application on the Drizzle code inserts links without it.
CREATE FUNCTION video_summary_link_user_id() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    SELECT user_id INTO NEW.user_id FROM video_summary WHERE id = NEW.video_summary_id;
    IF NOT FOUND THEN
        -- What the foreign key would say, which runs after this trigger.
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"',
                TG_TABLE_NAME, TG_TABLE_NAME || '_video_summary_id_fkey'
            USING ERRCODE = 'foreign_key_violation',
                  CONSTRAINT = TG_TABLE_NAME || '_video_summary_id_fkey',
                  TABLE = TG_TABLE_NAME,
                  DETAIL = format('Key (video_summary_id)=(%s) is not present in table "video_summary".',
                                  NEW.video_summary_id);
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION video_summary_link_user_id() IS
    'Sets a link''s user_id to its video''s user, whatever the statement gave.';

CREATE TRIGGER video_summary_link_user_id
    BEFORE INSERT OR UPDATE OF video_summary_id, user_id ON video_summary_tag
    FOR EACH ROW EXECUTE FUNCTION video_summary_link_user_id();
CREATE TRIGGER video_summary_link_user_id
    BEFORE INSERT OR UPDATE OF video_summary_id, user_id ON video_summary_category
    FOR EACH ROW EXECUTE FUNCTION video_summary_link_user_id();

-- A video given to another user (by hand: the data layer never does) takes
-- its links along.
CREATE FUNCTION video_summary_links_follow_user() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    UPDATE video_summary_tag SET user_id = NEW.user_id WHERE video_summary_id = NEW.id;
    UPDATE video_summary_category SET user_id = NEW.user_id WHERE video_summary_id = NEW.id;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION video_summary_links_follow_user() IS
    'Copies a video''s new user_id to its tag and category links.';

CREATE TRIGGER video_summary_links_follow_user
    AFTER UPDATE OF user_id ON video_summary
    FOR EACH ROW
    WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id)
    EXECUTE FUNCTION video_summary_links_follow_user();
