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
const GAP_X: i64 = 110;
const GAP_Y: i64 = 30;

/// A table's layer: 0 when it references no other table, else one more
/// than the highest layer it references (cycles cut at the table count).
fn layers(schema: &Schema) -> Vec<(&Table, usize)> {
    let mut layer: std::collections::BTreeMap<&str, usize> = schema
        .tables
        .keys()
        .map(|name| (name.as_str(), 0))
        .collect();
    for _ in 0..schema.tables.len() {
        let mut changed = false;
        for table in schema.tables.values() {
            let wanted = table
                .foreign_keys()
                .filter_map(|fk| fk.references.as_ref())
                .filter(|r| r.table != table.name)
                .filter_map(|r| layer.get(r.table.as_str()))
                .map(|l| l + 1)
                .max()
                .unwrap_or(0)
                .min(schema.tables.len());
            if layer[table.name.as_str()] != wanted {
                layer.insert(&table.name, wanted);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    schema
        .tables
        .values()
        .map(|table| (table, layer[table.name.as_str()]))
        .collect()
}

/// The diagram: a column per layer, referenced tables on the left, each
/// box listing its columns (PK and FK marked), a curve from every foreign
/// key column to the table it references.
pub fn erd(schema: &Schema) -> Markup {
    let mut placed: Vec<(&Table, i64, i64, i64)> = Vec::new();
    let mut column_height: Vec<i64> = Vec::new();
    for (table, layer) in layers(schema) {
        if column_height.len() <= layer {
            column_height.resize(layer + 1, 20);
        }
        let height = HEADER + LINE * table.columns.len() as i64 + 8;
        let x = 20 + layer as i64 * (BOX_WIDTH + GAP_X);
        placed.push((table, x, column_height[layer], height));
        column_height[layer] += height + GAP_Y;
    }
    let width = 20 + column_height.len().max(1) as i64 * (BOX_WIDTH + GAP_X) - GAP_X + 40;
    let height = column_height.iter().copied().max().unwrap_or(20) + 10;
    let find = |name: &str| placed.iter().find(|(t, ..)| t.name == name);

    let mut edges = Vec::new();
    for (table, sx, sy, _) in &placed {
        for fk in table.foreign_keys() {
            let Some((_, tx, ty, _)) = fk.references.as_ref().and_then(|r| find(&r.table)) else {
                continue;
            };
            let Some(row) = table
                .columns
                .iter()
                .position(|c| fk.columns.first() == Some(&c.name))
            else {
                continue;
            };
            let y1 = sy + HEADER + LINE * row as i64 + LINE / 2 + 2;
            let y2 = ty + HEADER / 2;
            edges.push(if tx < sx {
                let (x1, x2) = (*sx, tx + BOX_WIDTH);
                let mid = (x1 + x2) / 2;
                format!("M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}")
            } else {
                // Same column (or a self-reference): a loop on the right.
                let x = sx + BOX_WIDTH;
                let out = x + 40;
                format!("M{x},{y1} C{out},{y1} {out},{y2} {x},{y2}")
            });
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
            @for (table, x, y, h) in &placed {
                @let key: Vec<String> = browse::key_columns(table).iter().map(|c| c.name.clone()).collect();
                @let fks: Vec<&String> = table.foreign_keys().flat_map(|fk| fk.columns.iter()).collect();
                a href=(table_href(&table.name)) {
                    g.erd-table {
                        rect.erd-box x=(x) y=(y) width=(BOX_WIDTH) height=(h) rx="4" {}
                        rect.erd-head x=(x) y=(y) width=(BOX_WIDTH) height=(HEADER) rx="4" {}
                        text.erd-title x=(x + 8) y=(y + 18) { (table.name) }
                        @for (row, column) in table.columns.iter().enumerate() {
                            @let ty = y + HEADER + LINE * (row as i64 + 1);
                            @let mark = match (key.contains(&column.name), fks.contains(&&column.name)) {
                                (true, true) => "PK FK ",
                                (true, false) => "PK ",
                                (false, true) => "FK ",
                                (false, false) => "",
                            };
                            text.erd-column x=(x + 8) y=(ty) {
                                @if !mark.is_empty() { tspan.erd-key { (mark) } }
                                (column.name)
                            }
                            text.erd-type x=(x + BOX_WIDTH - 8) y=(ty) text-anchor="end" { (column.type_name) }
                        }
                    }
                }
            }
        }
    }
}
