//! The schema: every table with its columns, keys, indexes and foreign
//! keys, and an entity-relationship diagram drawn here as SVG.

use maud::{Markup, html};
use schema_engine::catalog::{ConstraintKind, Schema, Table};

use crate::browse;
use crate::error::Result;
use crate::layout::{Ctx, page};
use crate::pages::tables::table_href;

/// `/schema`.
pub async fn schema(ctx: Ctx) -> Result<Markup> {
    let schema = ctx.state.catalog().await?;
    Ok(page(
        &ctx,
        "Schema",
        html! {
            figure.erd {
                (erd(&schema))
                figcaption { "Tables and foreign keys. Select a table to browse it." }
            }
            nav.toc aria-label="Tables" {
                @for name in schema.tables.keys() { a href=(format!("#t-{name}")) { (name) } " " }
            }
            @for table in schema.tables.values() { (table_section(table)) }
        },
    ))
}

fn table_section(table: &Table) -> Markup {
    let key: Vec<String> = browse::key_columns(table)
        .iter()
        .map(|c| c.name.clone())
        .collect();
    html! {
        section.schema-table id=(format!("t-{}", table.name)) {
            h2 {
                a href=(table_href(&table.name)) { (table.name) }
                @if !browse::is_app_table(&table.name) { " " span.badge.foreign { "foreign" } }
            }
            @if let Some(comment) = &table.comment { p { (comment) } }
            table.grid {
                thead { tr { th { "column" } th { "type" } th { "null" } th { "default" } th { "about" } } }
                tbody {
                    @for column in &table.columns {
                        tr {
                            td { (column.name) @if key.contains(&column.name) { " " span.badge { "key" } } }
                            td { code { (column.sql_type) } }
                            td { (if column.not_null { "not null" } else { "null" }) }
                            td { @if let Some(d) = &column.default { code { (d) } } }
                            td { (column.comment.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
            @if !table.constraints.is_empty() {
                h3 { "Constraints" }
                ul.defs {
                    @for c in &table.constraints {
                        li {
                            code { (c.name) } " "
                            @if let (ConstraintKind::ForeignKey, Some(r)) = (c.kind, &c.references) {
                                "→ " a href=(format!("#t-{}", r.table)) { (r.table) } " "
                            }
                            code { (c.definition) }
                        }
                    }
                }
            }
            @if !table.indexes.is_empty() {
                h3 { "Indexes" }
                ul.defs { @for i in &table.indexes { li { code { (i.definition) } } } }
            }
            @if !table.triggers.is_empty() {
                h3 { "Triggers" }
                ul.defs { @for t in &table.triggers { li { code { (t.definition) } } } }
            }
        }
    }
}

const BOX_WIDTH: i64 = 230;
const HEADER: i64 = 26;
const LINE: i64 = 17;
const GAP_X: i64 = 90;
const GAP_Y: i64 = 40;
const COLUMNS: usize = 4;

/// The diagram: tables in a grid (most referenced first), each box listing
/// its columns (key ones marked), a curve from every foreign key column
/// to the table it references.
pub fn erd(schema: &Schema) -> Markup {
    let mut tables: Vec<&Table> = schema.tables.values().collect();
    let referenced = |t: &Table| {
        schema
            .tables
            .values()
            .flat_map(|o| o.foreign_keys())
            .filter(|fk| fk.references.as_ref().is_some_and(|r| r.table == t.name))
            .count()
    };
    tables.sort_by_key(|t| (std::cmp::Reverse(referenced(t)), t.name.clone()));
    let heights: Vec<i64> = tables
        .iter()
        .map(|t| HEADER + LINE * t.columns.len() as i64 + 8)
        .collect();
    let rows = tables.len().div_ceil(COLUMNS);
    let mut row_height = vec![0; rows];
    for (i, h) in heights.iter().enumerate() {
        row_height[i / COLUMNS] = row_height[i / COLUMNS].max(*h);
    }
    let position = |i: usize| {
        let x = 20 + (i % COLUMNS) as i64 * (BOX_WIDTH + GAP_X);
        let y = 20
            + row_height[..i / COLUMNS]
                .iter()
                .map(|h| h + GAP_Y)
                .sum::<i64>();
        (x, y)
    };
    let width = 20 + COLUMNS.min(tables.len().max(1)) as i64 * (BOX_WIDTH + GAP_X);
    let height = 20 + row_height.iter().map(|h| h + GAP_Y).sum::<i64>();
    let index = |name: &str| tables.iter().position(|t| t.name == name);

    let mut edges = Vec::new();
    for (i, table) in tables.iter().enumerate() {
        for fk in table.foreign_keys() {
            let Some(target) = fk.references.as_ref().and_then(|r| index(&r.table)) else {
                continue;
            };
            let Some(row) = table
                .columns
                .iter()
                .position(|c| fk.columns.first() == Some(&c.name))
            else {
                continue;
            };
            let (sx, sy) = position(i);
            let (tx, ty) = position(target);
            let y1 = sy + HEADER + LINE * row as i64 + LINE / 2 + 2;
            let y2 = ty + HEADER / 2;
            let (x1, x2, bend) = if tx > sx {
                (sx + BOX_WIDTH, tx, 60)
            } else if tx < sx {
                (sx, tx + BOX_WIDTH, -60)
            } else {
                (sx + BOX_WIDTH, tx + BOX_WIDTH, 0)
            };
            let (c1, c2) = if bend == 0 {
                (x1 + 70, x2 + 70)
            } else {
                (x1 + bend, x2 - bend)
            };
            edges.push(format!("M{x1},{y1} C{c1},{y1} {c2},{y2} {x2},{y2}"));
        }
    }
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {width} {height}")) width=(width) role="img" aria-label="Entity-relationship diagram" {
            defs {
                marker #arrow viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse" {
                    path d="M0,0 L10,5 L0,10 z" class="erd-arrow" {}
                }
            }
            @for path in &edges { path.erd-edge d=(path) marker-end="url(#arrow)" {} }
            @for (i, table) in tables.iter().enumerate() {
                @let (x, y) = position(i);
                @let key: Vec<String> = browse::key_columns(table).iter().map(|c| c.name.clone()).collect();
                @let fks: Vec<&String> = table.foreign_keys().flat_map(|fk| fk.columns.iter()).collect();
                a href=(table_href(&table.name)) {
                    g.erd-table {
                        rect.erd-box x=(x) y=(y) width=(BOX_WIDTH) height=(heights[i]) rx="4" {}
                        rect.erd-head x=(x) y=(y) width=(BOX_WIDTH) height=(HEADER) rx="4" {}
                        text.erd-title x=(x + 8) y=(y + 18) { (table.name) }
                        @for (row, column) in table.columns.iter().enumerate() {
                            @let ty = y + HEADER + LINE * (row as i64 + 1);
                            text.erd-column x=(x + 8) y=(ty) {
                                @if key.contains(&column.name) { "🔑 " } @else if fks.contains(&&column.name) { "→ " }
                                (column.name)
                            }
                            text.erd-type x=(x + BOX_WIDTH - 8) y=(ty) text-anchor="end" { (short_type(&column.type_name)) }
                        }
                    }
                }
            }
        }
    }
}

fn short_type(type_name: &str) -> &str {
    match type_name {
        "timestamptz" => "timestamptz",
        "timestamp" => "timestamp",
        other => other,
    }
}
