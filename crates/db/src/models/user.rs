//! `user`: the people who use Mind-vault (the table the auth library shares).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::instrument::{one_row, operation};
use crate::schema::user;

/// A row of `user`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable, Serialize)]
#[diesel(table_name = user, check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    #[serde(rename = "emailVerified")]
    pub email_verified: bool,
    pub image: Option<String>,
    #[serde(rename = "createdAt")]
    pub created_at: DateTime<Utc>,
    #[serde(rename = "updatedAt")]
    pub updated_at: DateTime<Utc>,
}

/// A user to create; `id` is a fresh nanoid unless given (the auth library
/// issues its own).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = user, check_for_backend(diesel::pg::Pg))]
pub struct NewUser<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub email_verified: bool,
    pub image: Option<&'a str>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl<'a> NewUser<'a> {
    /// A user with this id, name and email, created now.
    pub fn new(id: &'a str, name: &'a str, email: &'a str) -> Self {
        let now = Utc::now();
        Self {
            id,
            name,
            email,
            email_verified: false,
            image: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Inserts the user; an email already in use is [`Error::Duplicate`]
    /// carrying the existing user's id.
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> Result<User> {
        operation!("user.insert", conn, async |conn| {
            if self.id.trim().is_empty() {
                return Err(Error::invalid("id", "must not be empty"));
            }
            validate_profile(self.name, self.email)?;
            // ON CONFLICT rather than catching the unique violation: the
            // lookup of the existing user must work inside the caller's
            // transaction, which a violation would have aborted.
            let inserted = diesel::insert_into(user::table)
                .values(self)
                .on_conflict(user::email)
                .do_nothing()
                .returning(User::as_returning())
                .get_result(conn)
                .await
                .optional()?;
            match inserted {
                Some(created) => Ok(created),
                None => {
                    let existing = User::find_by_email(conn, self.email).await?;
                    Err(Error::Duplicate {
                        entity: "user",
                        existing_id: existing.id,
                    })
                }
            }
        })
    }
}

one_row!(User);

/// A user's name and email as every write of them checks them.
fn validate_profile(name: &str, email: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid("name", "must not be empty"));
    }
    validate_email(email)
}

fn validate_email(email: &str) -> Result<()> {
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && domain.contains('.')
                && !email.contains(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(Error::invalid(
            "email",
            format!("{email:?} is not an email address"),
        )),
    }
}

impl User {
    /// The user with this id.
    pub async fn find(conn: &mut AsyncPgConnection, id: &str) -> Result<User> {
        operation!("user.find", conn, async |conn| {
            user::table
                .find(id)
                .select(User::as_select())
                .first(conn)
                .await
                .optional()?
                .ok_or_else(|| Error::not_found("user", id))
        })
    }

    /// The user with this email address (compared as stored).
    pub async fn find_by_email(conn: &mut AsyncPgConnection, email: &str) -> Result<User> {
        operation!("user.find_by_email", conn, async |conn| {
            user::table
                .filter(user::email.eq(email))
                .select(User::as_select())
                .first(conn)
                .await
                .optional()?
                .ok_or_else(|| Error::not_found("user", email))
        })
    }

    /// The user named by an id or, when it contains `@`, an email address.
    pub async fn find_by_id_or_email(conn: &mut AsyncPgConnection, key: &str) -> Result<User> {
        operation!("user.find_by_id_or_email", conn, async |conn| {
            if key.contains('@') {
                Self::find_by_email(conn, key).await
            } else {
                Self::find(conn, key).await
            }
        })
    }

    /// Users in order of creation, at most `limit`.
    pub async fn list(conn: &mut AsyncPgConnection, limit: i64) -> Result<Vec<User>> {
        operation!("user.list", conn, async |conn| {
            Ok(user::table
                .order((user::created_at, user::id))
                .limit(limit.clamp(1, 10_000))
                .select(User::as_select())
                .load(conn)
                .await?)
        })
    }

    /// Deletes every user and, through the cascades, all their videos;
    /// returns how many users were deleted. For resetting a development
    /// database.
    pub async fn delete_all(conn: &mut AsyncPgConnection) -> Result<usize> {
        operation!("user.delete_all", conn, async |conn| {
            diesel::delete(user::table)
                .execute(conn)
                .await
                .map_err(|e| Error::on_delete(e, "user", "(every user)"))
        })
    }

    /// Changes a user's name and email, checked as [`NewUser::insert`]
    /// checks them; an email another user has is [`Error::Duplicate`]
    /// naming that user.
    pub async fn update_profile(
        conn: &mut AsyncPgConnection,
        id: &str,
        name: &str,
        email: &str,
    ) -> Result<User> {
        operation!("user.update_profile", conn, async |conn| {
            validate_profile(name, email)?;
            // Looked up first rather than caught as a violation, so a
            // caller's transaction stays usable.
            match User::find_by_email(conn, email).await {
                Ok(other) if other.id != id => {
                    return Err(Error::Duplicate {
                        entity: "user",
                        existing_id: other.id,
                    });
                }
                Ok(_) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
            diesel::update(user::table.filter(user::id.eq(id)))
                .set((
                    user::name.eq(name),
                    user::email.eq(email),
                    user::updated_at.eq(diesel::dsl::now),
                ))
                .returning(User::as_returning())
                .get_result(conn)
                .await
                .optional()?
                .ok_or_else(|| Error::not_found("user", id))
        })
    }

    /// Deletes the user and, through the cascades, everything of theirs.
    /// A table the project does not own (the auth library's `session`,
    /// `account`) whose foreign key does not cascade makes it fail with
    /// [`Error::Referenced`], naming that table; nothing is deleted.
    pub async fn delete(conn: &mut AsyncPgConnection, id: &str) -> Result<()> {
        operation!("user.delete", conn, async |conn| {
            let deleted = diesel::delete(user::table.find(id))
                .execute(conn)
                .await
                .map_err(|e| Error::on_delete(e, "user", id))?;
            if deleted == 0 {
                return Err(Error::not_found("user", id));
            }
            Ok(())
        })
    }
}
