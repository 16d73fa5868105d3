//! Browsing any table: the list of tables, a table's rows (filters, sort,
//! keyset pages), and one row with its relations both ways.

use axum::extract::{Path, Query};
use maud::{Markup, html};
use schema_engine::catalog::{Column, ConstraintKind, Schema, Table};

use crate::browse::{
    self, FilterKind, Listing, Op, Sql, count_where, filter_kind, key_columns, page_sql, position,
    rows_where,
};
use crate::error::{Result, StudioError};
use crate::layout::{Ctx, href, page, segment, with_params};
use crate::render::{self, plural};
use crate::state::Mode;

/// Rows shown as chips (the other side of a many-to-many table) before "more".
const CHIPS: i64 = 20;
/// "Referenced by" counts stop here.
const COUNT_CAP: i64 = 1000;

pub fn table_href(table: &str) -> String {
    format!("/tables/{}", segment(table))
}

/// The row of `table` whose `columns` have these values.
pub fn row_href(table: &str, columns: &[(&str, &str)]) -> String {
    let params: Vec<(String, &str)> = columns
        .iter()
        .map(|(column, value)| (format!("k.{column}"), *value))
        .collect();
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    href(&format!("{}/row", table_href(table)), &params)
}

/// `/`: every table of `public`, with row counts and sizes.
pub async fn index(ctx: Ctx) -> Result<Markup> {
    let schema = ctx.state.catalog().await?;
    let catalog = schema.clone();
    let sizes = ctx
        .state
        .read(move |conn| Box::pin(async move { browse::table_sizes(conn, &catalog).await }))
        .await?;
    Ok(page(
        &ctx,
        "Tables",
        html! {
            p.lead { "The tables of " code { "public" } ". Tables the application does not define are marked "
                span.badge.foreign { "foreign" } "; counts above " (browse::EXACT_COUNT_LIMIT) " rows are the planner's estimate." }
            table.grid {
                thead { tr { th { "table" } th { "columns" } th.num { "rows" } th.num { "size" } th { "about" } } }
                tbody {
                    @for size in &sizes {
                        @let table = &schema.tables[&size.name];
                        tr {
                            td {
                                a href=(table_href(&table.name)) { (table.name) }
                                @if !browse::is_app_table(&table.name) { " " span.badge.foreign { "foreign" } }
                            }
                            td.num { (table.columns.len()) }
                            td.num { @if size.estimated { "≈ " } (size.rows) }
                            td.num { (size.size) }
                            td { (table.comment.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        },
    ))
}

/// `/tables/{name}`: a page of rows.
pub async fn table(
    ctx: Ctx,
    Path(name): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Markup> {
    let (schema, table) = ctx.state.table(&name).await?;
    let listing = Listing::from_params(&params)?;
    let sql = page_sql(&table, &listing, Some(listing.limit + 1))?;
    let (checked, sort) = (table.clone(), listing.clone());
    let (estimated_rows, mut rows) = ctx
        .state
        .read(move |conn| {
            Box::pin(async move {
                let estimated_rows = browse::estimated_rows(conn, &checked).await?;
                browse::check_sort(&checked, &sort, estimated_rows)?;
                Ok((estimated_rows, sql.rows(conn).await?))
            })
        })
        .await?;
    let more = rows.len() as i64 > listing.limit;
    rows.truncate(listing.limit as usize);
    let order = browse::order(&table, &listing)?;
    let next = (more && !order.key.is_empty())
        .then(|| rows.last().map(|row| position(&table, &order, row)))
        .flatten();
    Ok(page(
        &ctx,
        &table.name,
        table_view(
            &ctx,
            &schema,
            &table,
            &listing,
            &rows,
            next.as_deref(),
            estimated_rows,
        ),
    ))
}

fn table_view(
    ctx: &Ctx,
    schema: &Schema,
    table: &Table,
    listing: &Listing,
    rows: &[Vec<Option<String>>],
    next: Option<&[Option<String>]>,
    estimated_rows: i64,
) -> Markup {
    let base = table_href(&table.name);
    let filter_params = listing.params();
    let pairs: Vec<(&str, &str)> = filter_params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let key = key_columns(table);
    let links = foreign_links(table);
    let export = |format: &str| href(&format!("{base}/export.{format}"), &pairs);
    html! {
        @if !browse::is_app_table(&table.name) {
            p { span.badge.foreign { "foreign" } " not one of the application's tables." }
        }
        @if let Some(comment) = &table.comment { p.lead { (comment) } }
        (filter_form(table, listing))
        p.actions {
            a href=(export("csv")) hx-boost="false" download { "Export CSV" }
            " · "
            a href=(export("json")) hx-boost="false" download { "Export JSON" }
            @if ctx.state.mode == Mode::Write && !browse::is_app_table(&table.name) {
                " · " a href=(format!("{base}/new")) { "Add a row" }
            }
            " · " a href="/schema" { "Schema" }
        }
        div.scroll {
            table.grid.rows {
                thead {
                    tr {
                        th { span.visually-hidden { "row" } }
                        @for column in &table.columns {
                            @let sorted = listing.sort.as_deref() == Some(column.name.as_str());
                            @let dir = if sorted && !listing.desc { "desc" } else { "asc" };
                            @let sort_pairs = with_params(&pairs, &["sort", "dir"], &[("sort", column.name.as_str()), ("dir", dir)]);
                            th scope="col" title=(column.sql_type) {
                                @if browse::sort_allowed(table, &column.name, !listing.conditions.is_empty(), estimated_rows) {
                                    a href=(href(&base, &sort_pairs)) aria-sort=(if sorted { if listing.desc { "descending" } else { "ascending" } } else { "none" }) {
                                        (column.name)
                                        @if sorted { (if listing.desc { " ▼" } else { " ▲" }) }
                                    }
                                } @else {
                                    span title="No index starts with this column: filter the rows to sort by it" { (column.name) }
                                }
                                br; small.type { (column.sql_type) }
                            }
                        }
                    }
                }
                tbody {
                    @for row in rows {
                        tr {
                            td {
                                @if !key.is_empty() {
                                    @let values: Vec<(&str, &str)> = key.iter().map(|c| (c.name.as_str(), cell(table, row, &c.name).unwrap_or(""))).collect();
                                    a.open href=(row_href(&table.name, &values)) title="Open the row" { "open" }
                                }
                            }
                            @for (i, column) in table.columns.iter().enumerate() {
                                @let text = row.get(i).and_then(Option::as_deref);
                                td { (linked_value(schema, &links, column, text, false)) }
                            }
                        }
                    }
                }
            }
        }
        @if rows.is_empty() { p.empty { "No rows." } }
        nav.pages aria-label="Pages" {
            @if listing.after.is_some() { a href=(href(&base, &pairs)) { "« First page" } }
            @if let Some(next) = next {
                @let after = serde_json::to_string(next).unwrap_or_default();
                a rel="next" href=(href(&base, &with_params(&pairs, &[], &[("after", after.as_str())]))) { "Next page »" }
            }
            @if key.is_empty() { small { " (no primary key: only the first page is shown; filter to narrow)" } }
        }
    }
}

fn filter_form(table: &Table, listing: &Listing) -> Markup {
    let active = listing.conditions.len();
    html! {
        details.filters open[active > 0] {
            summary { "Filters" @if active > 0 { " (" (active) " active)" } }
            form method="get" action=(table_href(&table.name)) {
                @if let Some(sort) = &listing.sort {
                    input type="hidden" name="sort" value=(sort);
                    input type="hidden" name="dir" value=(if listing.desc { "desc" } else { "asc" });
                }
                div.filter-grid {
                    @for column in &table.columns {
                        @let id = format!("f-{}", column.name);
                        div.filter {
                            label for=(id) { (column.name) }
                            @match filter_kind(table, column) {
                                FilterKind::Menu(values) => {
                                    select id=(id) name=(format!("eq.{}", column.name)) {
                                        option value="" { "any" }
                                        @for value in values {
                                            option value=(value) selected[listing.value(Op::Eq, &column.name) == Some(*value)] { (value) }
                                        }
                                    }
                                }
                                FilterKind::Number => {
                                    span.range {
                                        input id=(id) type="number" step="any" name=(format!("min.{}", column.name)) placeholder="from" value=[listing.value(Op::Min, &column.name)];
                                        input type="number" step="any" name=(format!("max.{}", column.name)) placeholder="to" aria-label=(format!("{} to", column.name)) value=[listing.value(Op::Max, &column.name)];
                                    }
                                }
                                FilterKind::Time => {
                                    span.range {
                                        input id=(id) type="datetime-local" step="1" name=(format!("min.{}", column.name)) value=[listing.value(Op::Min, &column.name)];
                                        input type="datetime-local" step="1" name=(format!("max.{}", column.name)) aria-label=(format!("{} to", column.name)) value=[listing.value(Op::Max, &column.name)];
                                        small { "UTC" }
                                    }
                                }
                                FilterKind::Bool => {
                                    select id=(id) name=(format!("eq.{}", column.name)) {
                                        option value="" { "any" }
                                        option value="true" selected[listing.value(Op::Eq, &column.name) == Some("true")] { "true" }
                                        option value="false" selected[listing.value(Op::Eq, &column.name) == Some("false")] { "false" }
                                    }
                                }
                                FilterKind::Text => {
                                    input id=(id) type="search" name=(format!("q.{}", column.name)) placeholder="contains" value=[listing.value(Op::Contains, &column.name)];
                                }
                            }
                            @if let Some(value) = listing.value(Op::Eq, &column.name).filter(|_| !matches!(filter_kind(table, column), FilterKind::Menu(_) | FilterKind::Bool)) {
                                input type="hidden" name=(format!("eq.{}", column.name)) value=(value);
                                small { "= " (value) }
                            }
                        }
                    }
                }
                button type="submit" { "Apply filters" }
                " " a href=(table_href(&table.name)) { "Clear" }
            }
        }
    }
}

/// The value of `name` in a row of `table`.
fn cell<'r>(table: &Table, row: &'r [Option<String>], name: &str) -> Option<&'r str> {
    let i = table.columns.iter().position(|c| c.name == name)?;
    row.get(i)?.as_deref()
}

/// A single-column foreign key: column → (table, column).
type Links = Vec<(String, String, String)>;

fn foreign_links(table: &Table) -> Links {
    table
        .foreign_keys()
        .filter_map(|fk| {
            let references = fk.references.as_ref()?;
            (fk.columns.len() == 1).then(|| {
                (
                    fk.columns[0].clone(),
                    references.table.clone(),
                    references.columns[0].clone(),
                )
            })
        })
        .collect()
}

/// A value; a foreign key's value is a link to the row it references.
fn linked_value(
    schema: &Schema,
    links: &Links,
    column: &Column,
    text: Option<&str>,
    full: bool,
) -> Markup {
    match (text, links.iter().find(|(c, _, _)| *c == column.name)) {
        (Some(value), Some((_, target, target_column))) if schema.tables.contains_key(target) => {
            html! {
                a.fk href=(row_href(target, &[(target_column, value)])) title=(format!("{target}.{target_column}")) { (value) " →" }
            }
        }
        _ => render::value(&column.type_name, text, full),
    }
}

/// `/tables/{name}/row?k.col=value`: one row, what it references, and
/// what references it.
pub async fn row(
    ctx: Ctx,
    Path(name): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Markup> {
    let (schema, table) = ctx.state.table(&name).await?;
    let mut key: Vec<(Column, Option<String>)> = Vec::new();
    for (param, value) in &params {
        if let Some(column) = param.strip_prefix("k.") {
            key.push((browse::column(&table, column)?.clone(), Some(value.clone())));
        }
    }
    if key.is_empty() {
        return Err(StudioError::BadRequest(
            "name the row: k.<column>=<value> for its key".into(),
        ));
    }
    let found = {
        let table = table.clone();
        let key = key.clone();
        let schema = schema.clone();
        ctx.state
            .read(move |conn| {
                Box::pin(async move {
                    let pairs: Vec<(&Column, Option<String>)> =
                        key.iter().map(|(c, v)| (c, v.clone())).collect();
                    let mut rows = rows_where(&table, &pairs, 2).rows(conn).await?;
                    if rows.len() != 1 {
                        return Ok((rows.len(), Vec::new(), Vec::new()));
                    }
                    let row = rows.remove(0);
                    let referencing = referencing(conn, &schema, &table, &row).await?;
                    Ok((1, row, referencing))
                })
            })
            .await?
    };
    let (count, row, referencing) = found;
    if count == 0 {
        return Err(StudioError::NotFound(format!(
            "no row of {} has that key",
            table.name
        )));
    }
    if count > 1 {
        return Err(StudioError::BadRequest(format!(
            "more than one row of {} has those values: name its whole key",
            table.name
        )));
    }
    let links = foreign_links(&table);
    let title = format!("{} row", table.name);
    let key_pairs: Vec<(String, String)> = key_columns(&table)
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                cell(&table, &row, &c.name).unwrap_or("").to_string(),
            )
        })
        .collect();
    Ok(page(
        &ctx,
        &title,
        html! {
            p.actions {
                a href=(table_href(&table.name)) { "← " (table.name) }
                @if table.name == "video_summary" {
                    @if let Some(id) = cell(&table, &row, "id") {
                        " · " a href=(format!("/videos/{}", segment(id))) { "Video page" }
                    }
                }
                @if table.name == "user" {
                    @if let Some(id) = cell(&table, &row, "id") {
                        " · " a href=(format!("/library/{}", segment(id))) { "Library" }
                    }
                }
            }
            table.record {
                tbody {
                    @for (i, column) in table.columns.iter().enumerate() {
                        tr {
                            th scope="row" { (column.name) br; small.type { (column.sql_type) } }
                            td { (linked_value(&schema, &links, column, row.get(i).and_then(Option::as_deref), true)) }
                            @if ctx.state.mode == Mode::Write && !browse::is_app_table(&table.name) {
                                td.edit { (crate::edits::cell_form(&ctx, &table, column, &key_pairs, row.get(i).and_then(Option::as_deref))) }
                            }
                        }
                    }
                }
            }
            (crate::edits::delete_form(&ctx, &table, &key_pairs))
            (crate::edits::label_forms(&ctx, &table, &key_pairs))
            h2 { "Referenced by" }
            @if referencing.is_empty() { p.empty { "No foreign key points to this table." } }
            @for group in &referencing { (group.render()) }
        },
    ))
}

/// Rows of another table pointing at one row, through one foreign key.
struct Referencing {
    table: String,
    columns: Vec<(String, String)>,
    count: i64,
    /// For a many-to-many table: the other side's rows, as chips.
    chips: Option<Chips>,
}

struct Chips {
    table: String,
    key: String,
    items: Vec<(String, String)>,
}

impl Referencing {
    fn render(&self) -> Markup {
        let filter: Vec<(String, &str)> = self
            .columns
            .iter()
            .map(|(column, value)| (format!("eq.{column}"), value.as_str()))
            .collect();
        let filter: Vec<(&str, &str)> = filter.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let link = href(&table_href(&self.table), &filter);
        let via: Vec<&str> = self.columns.iter().map(|(c, _)| c.as_str()).collect();
        let count = if self.count >= COUNT_CAP {
            format!("{COUNT_CAP}+ rows")
        } else {
            plural(self.count, "row")
        };
        html! {
            section.referencing {
                h3 { a href=(link) { (self.table) } " " small { "via " (via.join(", ")) " · " (count) } }
                @if let Some(chips) = &self.chips {
                    ul.chips aria-label=(format!("{} of this row", chips.table)) {
                        @for (id, label) in &chips.items {
                            li { a.chip href=(row_href(&chips.table, &[(&chips.key, id)])) { (label) } }
                        }
                        @if self.count > chips.items.len() as i64 {
                            li { a href=(link) { "and " (self.count - chips.items.len() as i64) " more" } }
                        }
                    }
                }
            }
        }
    }
}

/// Every foreign key of any table that points at `table`, with the rows
/// pointing at this row counted (to [`COUNT_CAP`]); a many-to-many table
/// shows its other side's first rows as chips.
async fn referencing(
    conn: &mut diesel_async::AsyncPgConnection,
    schema: &Schema,
    table: &Table,
    row: &[Option<String>],
) -> Result<Vec<Referencing>> {
    let mut groups = Vec::new();
    for other in schema.tables.values() {
        for fk in other.foreign_keys() {
            let Some(references) = &fk.references else {
                continue;
            };
            if references.table != table.name {
                continue;
            }
            let mut pairs = Vec::new();
            for (column, target) in fk.columns.iter().zip(&references.columns) {
                let value = cell(table, row, target).map(str::to_string);
                pairs.push((browse::column(other, column)?, value));
            }
            if pairs.iter().any(|(_, v)| v.is_none()) {
                continue;
            }
            let count = count_where(other, &pairs, COUNT_CAP).count(conn).await?;
            let chips = match many_to_many(schema, other, &fk.columns) {
                Some((far_fk_column, far, far_key)) if count > 0 => {
                    let sorted = count <= CHIPS;
                    Some(chips(conn, other, &pairs, far_fk_column, far, far_key, sorted).await?)
                }
                _ => None,
            };
            groups.push(Referencing {
                table: other.name.clone(),
                columns: pairs
                    .iter()
                    .map(|(c, v)| (c.name.clone(), v.clone().unwrap_or_default()))
                    .collect(),
                count,
                chips,
            });
        }
    }
    Ok(groups)
}

/// When `link` is a many-to-many table whose primary key is this foreign
/// key's column and one other single-column foreign key: that column, the
/// far table, and the far table's referenced column.
fn many_to_many<'s>(
    schema: &'s Schema,
    link: &'s Table,
    near: &[String],
) -> Option<(&'s Column, &'s Table, &'s Column)> {
    let pk = link.primary_key()?;
    if pk.columns.len() != 2 || near.len() != 1 || !pk.columns.contains(&near[0]) {
        return None;
    }
    let far = link.constraints.iter().find(|c| {
        c.kind == ConstraintKind::ForeignKey
            && c.columns.len() == 1
            && c.columns[0] != near[0]
            && pk.columns.contains(&c.columns[0])
    })?;
    let references = far.references.as_ref()?;
    let far_table = schema.tables.get(&references.table)?;
    Some((
        link.column(&far.columns[0])?,
        far_table,
        far_table.column(&references.columns[0])?,
    ))
}

async fn chips(
    conn: &mut diesel_async::AsyncPgConnection,
    link: &Table,
    near: &[(&Column, Option<String>)],
    far_fk_column: &Column,
    far: &Table,
    far_key: &Column,
    sorted: bool,
) -> Result<Chips> {
    let label = far.column("name").unwrap_or(far_key);
    let mut sql = Sql::default();
    let clauses = sql.equal("l", near);
    // Sorting more than a page of chips would read every link (a tag's
    // thousands of videos) to show twenty: then the first twenty found.
    let order = if sorted {
        format!("ORDER BY f.{}", label.ident)
    } else {
        String::new()
    };
    sql.text = format!(
        "SELECT ARRAY[f.{key}::text, f.{label}::text]::text[] AS vals \
         FROM {link} l JOIN {far} f ON f.{key} = l.{fk} WHERE {clauses} \
         {order} LIMIT {CHIPS}",
        key = far_key.ident,
        label = label.ident,
        link = link.ident,
        far = far.ident,
        fk = far_fk_column.ident,
    );
    let items = sql
        .rows(conn)
        .await?
        .into_iter()
        .map(|row| {
            let mut values = row.into_iter().map(Option::unwrap_or_default);
            (
                values.next().unwrap_or_default(),
                values.next().unwrap_or_default(),
            )
        })
        .collect();
    Ok(Chips {
        table: far.name.clone(),
        key: far_key.name.clone(),
        items,
    })
}
