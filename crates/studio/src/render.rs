//! How values look: times in the browser's zone with UTC on hover, JSON
//! as a collapsible tree, NULL as NULL.

use chrono::{DateTime, NaiveDateTime, Utc};
use maud::{Markup, html};
use serde_json::Value;

/// Cells in a list are cut to this many characters; a row's page shows all.
pub const CELL_CHARS: usize = 80;

/// A time: ISO in `datetime` (the script shows it in the browser's zone),
/// UTC as text and on hover.
pub fn time(at: DateTime<Utc>) -> Markup {
    let utc = at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    html! { time datetime=(at.to_rfc3339()) title=(utc) { (utc) } }
}

/// Reads a timestamp as PostgreSQL prints it in a UTC session: with an
/// offset (`timestamptz`) or without (`timestamp`, taken as UTC, as the
/// original application stored it).
pub fn parse_pg_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z")
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

pub fn null() -> Markup {
    html! { span.null { "NULL" } }
}

/// A value of a column of type `type_name` (the catalog's name), as text
/// from PostgreSQL; `full` shows long text whole.
pub fn value(type_name: &str, text: Option<&str>, full: bool) -> Markup {
    let Some(text) = text else { return null() };
    match type_name {
        "timestamptz" | "timestamp" => match parse_pg_time(text) {
            Some(at) => time(at),
            None => html! { (text) },
        },
        "json" | "jsonb" => json_text(text, full),
        "bool" => html! { (if text == "t" { "true" } else { "false" }) },
        _ if !full && text.chars().count() > CELL_CHARS => {
            let cut: String = text.chars().take(CELL_CHARS).collect();
            html! { span title=(text) { (cut) "…" } }
        }
        _ => html! { (text) },
    }
}

/// JSON text as a tree, or as it is when it is not JSON this reader accepts
/// (the original application's `json` columns can hold lone surrogates).
pub fn json_text(text: &str, open: bool) -> Markup {
    match serde_json::from_str::<Value>(text) {
        Ok(value) => json_tree(&value, open),
        Err(e) => html! {
            pre.json-raw { (text) }
            small.note { "shown as stored: " (e) }
        },
    }
}

/// A collapsible tree; only scalars show without opening.
pub fn json_tree(value: &Value, open: bool) -> Markup {
    match value {
        Value::Object(map) => html! {
            details.json open[open] {
                summary { "{…} " (map.len()) " key" @if map.len() != 1 { "s" } }
                dl {
                    @for (key, item) in map {
                        dt { (key) }
                        dd { (json_tree(item, false)) }
                    }
                }
            }
        },
        Value::Array(items) => html! {
            details.json open[open] {
                summary { "[…] " (items.len()) " item" @if items.len() != 1 { "s" } }
                ol start="0" {
                    @for item in items { li { (json_tree(item, false)) } }
                }
            }
        },
        Value::String(text) => html! { span.json-string { (text) } },
        Value::Null => null(),
        other => html! { span.json-scalar { (other.to_string()) } },
    }
}

/// "1 video", "2 videos".
pub fn plural(count: i64, noun: &str) -> String {
    if count == 1 {
        format!("{count} {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_times_read_with_and_without_offset() {
        let with = parse_pg_time("2026-11-30 14:05:01.5+00").expect("timestamptz");
        let without = parse_pg_time("2026-11-30 14:05:01.5").expect("timestamp");
        assert_eq!(with, without);
        assert_eq!(with.to_rfc3339(), "2026-11-30T14:05:01.500+00:00");
        assert!(parse_pg_time("yesterday").is_none());
    }

    #[test]
    fn text_that_is_not_json_is_shown_as_stored() {
        let html = json_text(r#"{"summary": "\ud83e"}"#, true).into_string();
        assert!(html.contains("shown as stored"), "{html}");
        let html = json_text(r#"{"summary": "<b>"}"#, true).into_string();
        assert!(html.contains("&lt;b&gt;"), "{html}");
    }
}
