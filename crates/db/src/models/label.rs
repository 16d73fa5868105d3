//! Tags and categories: labels shared by all users, linked to videos through
//! a join table. The two have the same shape, so one macro writes both.

use crate::error::{Error, Result};

/// Longest label name, in characters.
pub const MAX_NAME_LEN: usize = 64;

/// A label's stored form: trimmed, inner white space collapsed, lower case.
pub fn normalize_name(field: &'static str, name: &str) -> Result<String> {
    let normalized = name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if normalized.is_empty() {
        return Err(Error::invalid(field, "the name is empty"));
    }
    if normalized.chars().count() > MAX_NAME_LEN {
        return Err(Error::invalid(
            field,
            format!("{name:?} is longer than {MAX_NAME_LEN} characters"),
        ));
    }
    Ok(normalized)
}

/// Normalized, sorted and deduplicated names (sorted so that concurrent
/// callers insert in the same order and cannot deadlock).
pub(crate) fn normalize_names(field: &'static str, names: &[&str]) -> Result<Vec<String>> {
    let mut normalized = names
        .iter()
        .map(|name| normalize_name(field, name))
        .collect::<Result<Vec<_>>>()?;
    normalized.sort();
    normalized.dedup();
    Ok(normalized)
}

macro_rules! label_model {
    (
        $(#[$doc:meta])*
        $model:ident, $entity:literal,
        table: $table:ident,
        link: $link:ident . $link_key:ident,
        video_page_statement: $video_page_statement:ident
    ) => {
        $crate::models::fixed_sql::statement_names! {
            /// [`VideoDetails::find`](crate::models::VideoDetails::find)'s
            /// read of the video's labels.
            $video_page_statement;
        }

        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable, Serialize)]
        #[diesel(table_name = $table, check_for_backend(diesel::pg::Pg))]
        pub struct $model {
            pub id: String,
            /// Normalized: trimmed, lower case.
            pub name: String,
            pub description: Option<String>,
            pub created_at: DateTime<Utc>,
        }

        impl $model {
            /// The label with this name, created if missing. Concurrent
            /// callers get the same row and no error.
            pub async fn get_or_create(conn: &mut AsyncPgConnection, name: &str) -> Result<$model> {
                operation!(concat!($entity, ".get_or_create"), conn, async |conn| {
                    let mut labels = Self::get_or_create_many(conn, &[name]).await?;
                    labels.pop().ok_or_else(|| Error::not_found($entity, name))
                })
            }

            /// The labels with these names, created if missing, by name.
            pub async fn get_or_create_many(conn: &AsyncPgConnection, names: &[&str]) -> Result<Vec<$model>> {
                operation!(shared concat!($entity, ".get_or_create_many"), conn, async |mut conn| {
                    let names = normalize_names($entity, names)?;
                    if names.is_empty() {
                        return Ok(Vec::new());
                    }
                    let ids: Vec<String> = names.iter().map(|_| $crate::models::row_id::new_id()).collect();
                    let rows: Vec<_> = ids
                        .iter()
                        .zip(&names)
                        .map(|(id, name)| ($table::id.eq(id), $table::name.eq(name)))
                        .collect();
                    diesel::insert_into($table::table)
                        .values(rows)
                        .on_conflict($table::name)
                        .do_nothing()
                        .execute(&mut conn)
                        .await?;
                    Ok($table::table
                        .filter($table::name.eq_any(&names))
                        .order($table::name)
                        .select($model::as_select())
                        .load(&mut conn)
                        .await?)
                })
            }

            /// The label with this name, if it exists.
            pub async fn find_by_name(conn: &mut AsyncPgConnection, name: &str) -> Result<Option<$model>> {
                operation!(concat!($entity, ".find_by_name"), conn, async |conn| {
                    let name = normalize_name($entity, name)?;
                    Ok($table::table
                        .filter($table::name.eq(name))
                        .select($model::as_select())
                        .first(conn)
                        .await
                        .optional()?)
                })
            }

            /// Every label, by name.
            pub async fn list(conn: &mut AsyncPgConnection) -> Result<Vec<$model>> {
                operation!(concat!($entity, ".list"), conn, async |conn| {
                    Ok($table::table
                        .order($table::name)
                        .select($model::as_select())
                        .load(conn)
                        .await?)
                })
            }

            /// Every label, each with how many videos (of all users) carry
            /// it; most used first, unused ones included.
            pub async fn list_with_counts(conn: &mut AsyncPgConnection) -> Result<Vec<($model, i64)>> {
                operation!(concat!($entity, ".list_with_counts"), conn, async |conn| {
                    let uses = count($link::video_summary_id.nullable());
                    Ok($table::table
                        .left_join($link::table)
                        .group_by($table::id)
                        .select(($model::as_select(), uses))
                        .order((uses.desc(), $table::name))
                        .load(conn)
                        .await?)
                })
            }

            /// Deletes the labels no video carries; returns how many.
            pub async fn delete_unused(conn: &mut AsyncPgConnection) -> Result<usize> {
                operation!(concat!($entity, ".delete_unused"), conn, async |conn| {
                    let used = $link::table.select($link::$link_key);
                    Ok(diesel::delete($table::table.filter(diesel::dsl::not($table::id.eq_any(used))))
                        .execute(conn)
                        .await?)
                })
            }

            /// Renames a label (for every user: labels are shared); the new
            /// name is normalised, and one another label has is
            /// [`Error::Duplicate`] naming that label (merging is not done).
            pub async fn rename(conn: &mut AsyncPgConnection, id: &str, name: &str) -> Result<$model> {
                operation!(concat!($entity, ".rename"), conn, async |conn| {
                    let name = normalize_name($entity, name)?;
                    // Looked up first rather than caught as a violation, so
                    // a caller's transaction stays usable (a rename racing
                    // to the same name still fails on the unique key).
                    if let Some(other) = Self::find_by_name(conn, &name).await? {
                        if other.id != id {
                            return Err(Error::Duplicate {
                                entity: $entity,
                                existing_id: other.id,
                            });
                        }
                    }
                    diesel::update($table::table.filter($table::id.eq(id)))
                        .set($table::name.eq(&name))
                        .returning($model::as_returning())
                        .get_result(conn)
                        .await
                        .optional()?
                        .ok_or_else(|| Error::not_found($entity, id))
                })
            }

            /// Deletes a label, and with it its links to every user's videos.
            pub async fn delete(conn: &mut AsyncPgConnection, id: &str) -> Result<()> {
                operation!(concat!($entity, ".delete"), conn, async |conn| {
                    let deleted = diesel::delete($table::table.filter($table::id.eq(id)))
                        .execute(conn)
                        .await?;
                    if deleted == 0 {
                        return Err(Error::not_found($entity, id));
                    }
                    Ok(())
                })
            }

            /// The labels the user's videos carry, each with how many of the
            /// user's videos carry it; most used first.
            pub async fn list_for_user(conn: &mut AsyncPgConnection, user_id: &str) -> Result<Vec<($model, i64)>> {
                operation!(concat!($entity, ".list_for_user"), conn, async |conn| {
                    Ok($table::table
                        .inner_join($link::table)
                        .filter($link::user_id.eq(user_id))
                        .group_by($table::id)
                        .select(($model::as_select(), count_star()))
                        .order((count_star().desc(), $table::name))
                        .load(conn)
                        .await?)
                })
            }

            /// The labels of the user's video, by name.
            pub async fn for_video(
                conn: &mut AsyncPgConnection,
                user_id: &str,
                video_id: &str,
            ) -> Result<Vec<$model>> {
                operation!(concat!($entity, ".for_video"), conn, async |conn| {
                    let conn: &AsyncPgConnection = conn;
                    VideoSummary::read_owned(
                        conn,
                        user_id,
                        video_id,
                        Self::load_for_video(conn, user_id, video_id),
                    )
                    .await
                })
            }

            /// The labels of the user's video, on a connection that other
            /// statements may share at the same time (pipelined).
            pub(crate) async fn load_for_video(
                mut conn: &AsyncPgConnection,
                user_id: &str,
                video_id: &str,
            ) -> Result<Vec<$model>> {
                Ok($crate::models::fixed_sql::FixedSql::<$video_page_statement, _>::new(
                    $table::table
                        .inner_join($link::table)
                        .filter($link::user_id.eq(user_id))
                        .filter($link::video_summary_id.eq(video_id))
                        .order($table::name)
                        .select($model::as_select()),
                )
                .load(&mut conn)
                .await?)
            }

            /// Adds labels (created if missing) to the user's video; returns
            /// the video's labels afterwards.
            pub async fn attach(
                conn: &mut AsyncPgConnection,
                user_id: &str,
                video_id: &str,
                names: &[&str],
            ) -> Result<Vec<$model>> {
                operation!(concat!($entity, ".attach"), conn, async |conn| {
                    conn.transaction(async |conn| {
                        VideoSummary::lock_owned(conn, user_id, video_id).await?;
                        let labels = Self::get_or_create_many(conn, names).await?;
                        Self::link(conn, video_id, &labels).await?;
                        Self::for_video(conn, user_id, video_id).await
                    })
                    .await
                })
            }

            /// Removes labels from the user's video; returns how many links
            /// were removed. Names that are not on the video are ignored.
            pub async fn detach(
                conn: &mut AsyncPgConnection,
                user_id: &str,
                video_id: &str,
                names: &[&str],
            ) -> Result<usize> {
                operation!(concat!($entity, ".detach"), conn, async |conn| {
                    let names = normalize_names($entity, names)?;
                    conn.transaction(async |conn| {
                        VideoSummary::lock_owned(conn, user_id, video_id).await?;
                        let ids = $table::table.filter($table::name.eq_any(&names)).select($table::id);
                        Ok(diesel::delete(
                            $link::table
                                .filter($link::video_summary_id.eq(video_id))
                                .filter($link::$link_key.eq_any(ids)),
                        )
                        .execute(conn)
                        .await?)
                    })
                    .await
                })
            }

            /// Makes these (created if missing) the user's video's only
            /// labels; returns them.
            pub async fn replace(
                conn: &mut AsyncPgConnection,
                user_id: &str,
                video_id: &str,
                names: &[&str],
            ) -> Result<Vec<$model>> {
                operation!(concat!($entity, ".replace"), conn, async |conn| {
                    conn.transaction(async |conn| {
                        VideoSummary::lock_owned(conn, user_id, video_id).await?;
                        let labels = Self::get_or_create_many(conn, names).await?;
                        let keep: Vec<&str> = labels.iter().map(|label| label.id.as_str()).collect();
                        diesel::delete(
                            $link::table
                                .filter($link::video_summary_id.eq(video_id))
                                .filter(diesel::dsl::not($link::$link_key.eq_any(&keep))),
                        )
                        .execute(conn)
                        .await?;
                        Self::link(conn, video_id, &labels).await?;
                        Ok(labels)
                    })
                    .await
                })
            }

            /// Whether the video of the enclosing query (`video_summary.id`)
            /// carries the label named `name` (normalized): the label's id is
            /// looked up once, and each video is one probe of the link's
            /// `(user_id, video_summary_id, label)` index, where one user's
            /// probes stay in a few pages (the primary key scatters them over
            /// every user's links).
            #[diesel::dsl::auto_type(no_type_alias)]
            pub(crate) fn on_video(name: String) -> _ {
                // auto_type reads the types of values from annotated bindings.
                let label_id: diesel::dsl::SingleValue<
                    diesel::dsl::Select<
                        diesel::dsl::Filter<$table::table, diesel::dsl::Eq<$table::name, String>>,
                        $table::id,
                    >,
                > = $table::table
                    .filter($table::name.eq(name))
                    .select($table::id)
                    .single_value();
                diesel::dsl::exists(
                    $link::table
                        .filter($link::user_id.eq(video_summary::user_id))
                        .filter($link::video_summary_id.eq(video_summary::id))
                        .filter($link::$link_key.nullable().eq(label_id)),
                )
            }

            pub(crate) async fn link(mut conn: &AsyncPgConnection, video_id: &str, labels: &[$model]) -> Result<()> {
                let rows: Vec<_> = labels
                    .iter()
                    .map(|label| ($link::video_summary_id.eq(video_id), $link::$link_key.eq(&label.id)))
                    .collect();
                diesel::insert_into($link::table)
                    .values(rows)
                    .on_conflict_do_nothing()
                    .execute(&mut conn)
                    .await?;
                Ok(())
            }
        }
    };
}

pub use models::{Category, Tag};

mod models {
    use chrono::{DateTime, Utc};
    use diesel::dsl::{count, count_star};
    use diesel::prelude::*;
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    use serde::Serialize;

    use super::{normalize_name, normalize_names};
    use crate::error::{Error, Result};
    use crate::instrument::{one_row, operation};
    use crate::models::VideoSummary;
    use crate::schema::{category, tag, video_summary, video_summary_category, video_summary_tag};

    label_model! {
        /// A row of `tag`: a label shared by all users.
        Tag, "tag",
        table: tag,
        link: video_summary_tag.tag_id,
        video_page_statement: TagsOfVideo
    }

    label_model! {
        /// A row of `category`: a broad subject shared by all users.
        Category, "category",
        table: category,
        link: video_summary_category.category_id,
        video_page_statement: CategoriesOfVideo
    }

    one_row!(Tag, Category);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized() {
        assert_eq!(
            normalize_name("tag", "  Machine   Learning ").expect("valid"),
            "machine learning"
        );
        assert!(matches!(
            normalize_name("tag", "   "),
            Err(Error::InvalidInput { field: "tag", .. })
        ));
        assert!(normalize_name("tag", &"x".repeat(MAX_NAME_LEN + 1)).is_err());
        assert_eq!(
            normalize_names("tag", &["B", "a", " b "]).expect("valid"),
            vec!["a".to_string(), "b".to_string()]
        );
    }
}
