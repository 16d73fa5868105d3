-- Mind-vault's whole schema, as it should be: the file developers edit.
--
-- `mv-admin push` makes a development database match it at once;
-- `mv-admin generate <name>` writes the migration that takes the existing
-- migrations to it; `mv-admin generate --check` (run by CI) fails while this
-- file, migrations/ and crates/db/src/schema.rs disagree. PostgreSQL loads
-- this file into a scratch database, so any CREATE TABLE, ALTER TABLE,
-- CREATE INDEX or COMMENT ON statement is fine; views, functions, sequences,
-- triggers and custom types are not managed.

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
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE video_summary IS 'A YouTube video a user saved, and what the AI made of it.';
COMMENT ON COLUMN video_summary.id IS 'nanoid (21 characters).';
COMMENT ON COLUMN video_summary.user_id IS 'Owner; every query of this table is scoped to it.';
COMMENT ON COLUMN video_summary.youtube_id IS 'The 11-character YouTube video id parsed from youtube_url; unique per user.';
COMMENT ON COLUMN video_summary.duration IS 'Length of the video in seconds.';
COMMENT ON COLUMN video_summary.processing_status IS 'pending, processing, completed or failed.';
COMMENT ON COLUMN video_summary.processing_error IS 'Why processing failed; set only when processing_status is failed.';
COMMENT ON COLUMN video_summary.ai_generated_content IS 'AI output: {"summary": ..., "keyPoints": [...], ...}; unknown keys are kept.';
-- A user's newest-first page is one range of this index; it also serves the
-- foreign key on user_id.
CREATE INDEX video_summary_user_id_created_at_id_idx
    ON video_summary (user_id, created_at DESC, id DESC);
-- Duplicate detection: one user saves a video once.
CREATE UNIQUE INDEX video_summary_user_id_youtube_id_key
    ON video_summary (user_id, youtube_id);

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
    PRIMARY KEY (video_summary_id, tag_id)
);
COMMENT ON TABLE video_summary_tag IS 'Which tags a video has.';
CREATE INDEX video_summary_tag_tag_id_idx ON video_summary_tag (tag_id);

CREATE TABLE video_summary_category (
    video_summary_id text NOT NULL REFERENCES video_summary (id) ON DELETE CASCADE,
    category_id text NOT NULL REFERENCES category (id) ON DELETE CASCADE,
    PRIMARY KEY (video_summary_id, category_id)
);
COMMENT ON TABLE video_summary_category IS 'Which categories a video belongs to.';
CREATE INDEX video_summary_category_category_id_idx ON video_summary_category (category_id);
