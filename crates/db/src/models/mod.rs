//! One module per table or concept; each model type carries its queries,
//! and every query of user data takes the user's id.

mod ai_content;
mod fixed_sql;
mod keyframe;
mod label;
mod new_video;
mod processing_status;
mod row_id;
mod user;
mod video_details;
mod video_summary;
mod youtube;

pub use ai_content::AiContent;
pub use keyframe::{Keyframe, NewKeyframe};
pub use label::{Category, MAX_NAME_LEN, Tag, normalize_name};
pub use new_video::NewVideo;
pub use processing_status::{ProcessingStatus, UnknownStatus};
pub use row_id::new_id;
pub use user::{NewUser, User};
pub use video_details::VideoDetails;
pub use video_summary::{
    DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, StatusCounts, VideoChanges, VideoFilter, VideoListItem,
    VideoPage, VideoSummary,
};
pub use youtube::{is_video_id, parse_youtube_id};

pub(crate) use video_summary::owned_video;
