//! One module per table or concept; each model type carries its queries.

mod processing_status;

pub use processing_status::{ProcessingStatus, UnknownStatus};
