// @generated automatically by Diesel CLI.

diesel::table! {
    /// A broad subject shared by all users; the name is normalized (trimmed, lower case).
    category (id) {
        id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    /// A still frame picked from a video, with what it shows.
    keyframe (id) {
        id -> Text,
        video_summary_id -> Text,
        /// Offset into the video in seconds.
        timestamp -> Int4,
        image_url -> Text,
        description -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    /// A label shared by all users; the name is normalized (trimmed, lower case).
    tag (id) {
        id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    /// People who use Mind-vault; shared with the auth library, hence the camelCase columns.
    user (id) {
        /// Opaque id issued by the auth library.
        id -> Text,
        name -> Text,
        email -> Text,
        /// Whether the auth library has verified the email address.
        #[sql_name = "emailVerified"]
        email_verified -> Bool,
        image -> Nullable<Text>,
        #[sql_name = "createdAt"]
        created_at -> Timestamptz,
        #[sql_name = "updatedAt"]
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// A YouTube video a user saved, and what the AI made of it.
    video_summary (id) {
        /// nanoid (21 characters).
        id -> Text,
        /// Owner; every query of this table is scoped to it.
        user_id -> Text,
        youtube_url -> Text,
        /// The 11-character YouTube video id parsed from youtube_url; unique per user.
        youtube_id -> Text,
        title -> Text,
        description -> Nullable<Text>,
        channel_name -> Nullable<Text>,
        /// Length of the video in seconds.
        duration -> Nullable<Int4>,
        thumbnail_url -> Nullable<Text>,
        /// pending, processing, completed or failed; the trigger video_summary_check_transition allows only pending -> processing -> completed | failed | pending, and failed -> pending.
        processing_status -> Text,
        /// Why processing failed; set only when processing_status is failed.
        processing_error -> Nullable<Text>,
        /// AI output: {"summary": ..., "keyPoints": [...], ...}; unknown keys are kept.
        ai_generated_content -> Nullable<Jsonb>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        /// How many times the video has been claimed; the fencing token of the current attempt. It grows by one with each claim and never otherwise.
        attempt -> Int4,
        /// The worker holding the lease, or the last one that held it.
        worker_id -> Nullable<Text>,
        /// While processing: when the lease ends (database clock); after it, rescue gives the video back to the queue. NULL in any other status.
        lease_expires_at -> Nullable<Timestamptz>,
        /// While pending after a failed attempt: the video is not claimed before this time (backoff). NULL otherwise.
        retry_after -> Nullable<Timestamptz>,
        /// Why the last unsuccessful attempt ended (an error or an expired lease); kept across retries for operators.
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    /// Which categories a video belongs to.
    video_summary_category (video_summary_id, category_id) {
        video_summary_id -> Text,
        category_id -> Text,
        /// The video's user, copied by the trigger video_summary_link_user_id; never set by hand.
        user_id -> Text,
    }
}

diesel::table! {
    /// Which tags a video has.
    video_summary_tag (video_summary_id, tag_id) {
        video_summary_id -> Text,
        tag_id -> Text,
        /// The video's user, copied by the trigger video_summary_link_user_id; never set by hand.
        user_id -> Text,
    }
}

diesel::joinable!(keyframe -> video_summary (video_summary_id));
diesel::joinable!(video_summary -> user (user_id));
diesel::joinable!(video_summary_category -> category (category_id));
diesel::joinable!(video_summary_category -> video_summary (video_summary_id));
diesel::joinable!(video_summary_tag -> tag (tag_id));
diesel::joinable!(video_summary_tag -> video_summary (video_summary_id));

diesel::allow_tables_to_appear_in_same_query!(
    category,
    keyframe,
    tag,
    user,
    video_summary,
    video_summary_category,
    video_summary_tag,
);
