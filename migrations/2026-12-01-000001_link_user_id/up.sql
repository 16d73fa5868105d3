-- Each link carries its video's user, first step: the columns and the
-- triggers that fill them. A page filtered by a tag probes the links of one
-- user's videos; with the user in the link, those probes land in one small
-- range of an index (000003) instead of random pages of a primary key that
-- holds every user's links (BENCHMARKS.md, "Scale").
--
-- The database fills the column, not the callers: the application that
-- still runs on the Drizzle code inserts links without it. Every statement
-- here is quick on a table of any size: the columns come without a default
-- (no rewrite), and the triggers read no rows. The backfill of existing
-- links is 000002, in batches.

ALTER TABLE video_summary_tag ADD COLUMN user_id text;
ALTER TABLE video_summary_category ADD COLUMN user_id text;

COMMENT ON COLUMN video_summary_tag.user_id IS
    'The video''s user, copied by the trigger video_summary_link_user_id; never set by hand.';
COMMENT ON COLUMN video_summary_category.user_id IS
    'The video''s user, copied by the trigger video_summary_link_user_id; never set by hand.';

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
