//! Where a video is in the AI pipeline.

use std::fmt;
use std::str::FromStr;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};

/// `video_summary.processing_status`; the database's CHECK constraint allows
/// exactly these values.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow, Serialize, Deserialize,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "lowercase")]
pub enum ProcessingStatus {
    Pending,
    Processing,
    Completed,
    Failed,
}

impl ProcessingStatus {
    /// Every status, in pipeline order.
    pub const ALL: [Self; 4] = [
        Self::Pending,
        Self::Processing,
        Self::Completed,
        Self::Failed,
    ];

    /// The value stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    /// Whether a video may move from `self` to `next`: pending → processing →
    /// completed or failed; processing → pending when an attempt is retried
    /// (it failed, or its lease expired); failed → pending when an operator
    /// requeues it. The trigger `video_summary_check_transition` enforces the
    /// same graph in the database.
    pub fn can_move_to(self, next: Self) -> bool {
        matches!(
            (self, next),
            (Self::Pending, Self::Processing)
                | (Self::Processing, Self::Completed)
                | (Self::Processing, Self::Failed)
                | (Self::Processing, Self::Pending)
                | (Self::Failed, Self::Pending)
        )
    }
}

impl fmt::Display for ProcessingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of the four statuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a processing status (expected pending, processing, completed or failed)")]
pub struct UnknownStatus(pub String);

impl FromStr for ProcessingStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

impl ToSql<Text, Pg> for ProcessingStatus {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
    }
}

impl FromSql<Text, Pg> for ProcessingStatus {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let text = std::str::from_utf8(bytes.as_bytes())?;
        Ok(text.parse()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_text() {
        for status in ProcessingStatus::ALL {
            assert_eq!(status.as_str().parse::<ProcessingStatus>(), Ok(status));
        }
        assert!("done".parse::<ProcessingStatus>().is_err());
    }

    #[test]
    fn only_pipeline_moves_are_legal() {
        use ProcessingStatus::*;
        let legal: Vec<_> = ALL_PAIRS
            .iter()
            .filter(|(a, b)| a.can_move_to(*b))
            .collect();
        assert_eq!(
            legal,
            [
                &(Pending, Processing),
                &(Processing, Pending),
                &(Processing, Completed),
                &(Processing, Failed),
                &(Failed, Pending)
            ]
        );
    }

    const ALL_PAIRS: [(ProcessingStatus, ProcessingStatus); 16] = {
        let all = ProcessingStatus::ALL;
        let mut pairs = [(all[0], all[0]); 16];
        let mut i = 0;
        while i < 16 {
            pairs[i] = (all[i / 4], all[i % 4]);
            i += 1;
        }
        pairs
    };
}
