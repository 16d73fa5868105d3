//! Statements Diesel will not cache on its own, made cacheable where their
//! SQL is known not to vary.

use std::marker::PhantomData;

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::QueryResult;

/// A statement whose SQL is the same on every call, named by the marker type
/// `Id`, so a connection prepares it once and then only binds and executes.
///
/// Diesel never caches an UPDATE, because an `AsChangeset` with `Option`
/// fields writes different SQL for different values under one type. Wrap only
/// statements without such optional parts, and give each shape its own `Id`:
/// the connection's statement cache is keyed by `Id` alone.
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

impl<Id: 'static, Q> QueryId for FixedSql<Id, Q> {
    type QueryId = Id;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Id, Q: QueryFragment<Pg>> QueryFragment<Pg> for FixedSql<Id, Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Id, Q: Query> Query for FixedSql<Id, Q> {
    type SqlType = Q::SqlType;
}
