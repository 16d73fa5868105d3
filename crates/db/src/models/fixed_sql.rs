//! Statements whose SQL is known not to vary: prepared once per connection,
//! and their SQL text built once per process.

use std::marker::PhantomData;
use std::sync::OnceLock;

use diesel::pg::{Pg, PgQueryBuilder};
use diesel::query_builder::{AstPass, Query, QueryBuilder, QueryFragment, QueryId};
use diesel::result::QueryResult;

/// A statement whose SQL is the same on every call, named by the marker type
/// `Id` (declared with [`statement_names!`]).
///
/// Diesel never caches an UPDATE, because an `AsChangeset` with `Option`
/// fields writes different SQL for different values under one type; here the
/// connection prepares it once and then only binds and executes. And
/// diesel-async builds a statement's SQL text on every call, even when the
/// statement is prepared already (it needs the text to look the cache up);
/// here the text is built on the first call and then reused, which spares
/// the hot queries a string and an allocation per identifier on every call.
///
/// Wrap only whole statements without optional parts, and give each shape
/// its own `Id`: both the statement cache and the SQL text are keyed by `Id`
/// alone. Debug builds (the tests) build the text anew on every call and
/// check it against the kept one.
pub(crate) struct FixedSql<Id, Q> {
    query: Q,
    id: PhantomData<Id>,
}

impl<Id, Q> FixedSql<Id, Q> {
    pub(crate) fn new(query: Q) -> Self {
        Self {
            query,
            id: PhantomData,
        }
    }
}

/// The name of a statement of fixed SQL, and where its text is kept.
pub(crate) trait StatementName: 'static {
    fn sql() -> &'static OnceLock<String>;
}

/// Declares marker types that name statements of fixed SQL.
macro_rules! statement_names {
    ($($(#[$doc:meta])* $name:ident;)+) => {$(
        $(#[$doc])*
        pub(crate) struct $name;

        impl $crate::models::fixed_sql::StatementName for $name {
            fn sql() -> &'static ::std::sync::OnceLock<String> {
                static SQL: ::std::sync::OnceLock<String> = ::std::sync::OnceLock::new();
                &SQL
            }
        }
    )+};
}
pub(crate) use statement_names;

impl<Id: 'static, Q> QueryId for FixedSql<Id, Q> {
    type QueryId = Id;
    const HAS_STATIC_QUERY_ID: bool = true;
}

// `to_sql` and `is_safe_to_cache_prepared` are provided methods of
// `QueryFragment` that Diesel documents only for backend implementors; they
// are what diesel-async calls to get a statement's text and cacheability.
impl<Id: StatementName, Q: QueryFragment<Pg>> QueryFragment<Pg> for FixedSql<Id, Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_ast(pass)
    }

    fn to_sql(&self, out: &mut PgQueryBuilder, backend: &Pg) -> QueryResult<()> {
        if let Some(kept) = Id::sql().get()
            && !cfg!(debug_assertions)
        {
            out.push_sql(kept);
            return Ok(());
        }
        let mut builder = PgQueryBuilder::default();
        self.query.to_sql(&mut builder, backend)?;
        let fresh = builder.finish();
        let kept = Id::sql().get_or_init(|| fresh.clone());
        debug_assert_eq!(kept, &fresh, "the SQL of a FixedSql statement varied");
        out.push_sql(&fresh);
        Ok(())
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Id, Q: Query> Query for FixedSql<Id, Q> {
    type SqlType = Q::SqlType;
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    use super::*;
    use crate::schema::video_summary;

    statement_names! {
        /// Names two different statements, which it must not.
        Misnamed;
        /// Names one statement.
        Named;
    }

    fn sql_of<Id: StatementName>(query: video_summary::BoxedQuery<'_, Pg>) -> String {
        diesel::debug_query::<Pg, _>(&FixedSql::<Id, _>::new(query)).to_string()
    }

    #[test]
    fn the_sql_is_kept_and_reused() {
        let query = || {
            video_summary::table
                .filter(video_summary::user_id.eq("u1"))
                .into_boxed()
        };
        let first = sql_of::<Named>(query());
        assert!(first.starts_with("SELECT"), "{first}");
        assert_eq!(
            Named::sql().get().map(String::as_str),
            first.split(" -- binds").next()
        );
        assert_eq!(sql_of::<Named>(query()), first);
    }

    #[test]
    #[should_panic(expected = "the SQL of a FixedSql statement varied")]
    fn debug_builds_catch_sql_that_varies_under_one_name() {
        sql_of::<Misnamed>(
            video_summary::table
                .filter(video_summary::user_id.eq("u1"))
                .into_boxed(),
        );
        sql_of::<Misnamed>(
            video_summary::table
                .filter(video_summary::id.eq("v1"))
                .into_boxed(),
        );
    }
}
