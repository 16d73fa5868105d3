//! Export of a filtered table as CSV or JSON, streamed: rows are fetched
//! from a cursor in batches, in a READ ONLY transaction on a connection of
//! its own, and written to the response as they come.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_postgres::types::Type;

use crate::browse::{Listing, page_sql};
use crate::error::{Result, StudioError};
use crate::layout::Ctx;

/// Rows fetched per round trip.
const BATCH: i32 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

/// `GET /tables/{file}` where file is `<table>.csv` or `<table>.json`
/// under `/export`.
pub async fn export(
    ctx: Ctx,
    Path((name, file)): Path<(String, String)>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response> {
    let format = match file.as_str() {
        "export.csv" => Format::Csv,
        "export.json" => Format::Json,
        other => {
            return Err(StudioError::NotFound(format!(
                "no export {other:?}: export.csv or export.json"
            )));
        }
    };
    let (_, table) = ctx.state.table(&name).await?;
    let mut listing = Listing::from_params(&params)?;
    listing.after = None;
    let sql = page_sql(&table, &listing, None)?;
    let columns: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();

    let client = ctx.state.dedicated_client().await?;
    let timeout = ctx.state.statement_timeout.as_millis();
    client
        .batch_execute(&format!(
            "BEGIN READ ONLY; SET LOCAL statement_timeout = {timeout}; SET LOCAL TimeZone = 'UTC'"
        ))
        .await?;
    let declare = format!("DECLARE export NO SCROLL CURSOR FOR {}", sql.text);
    let types = vec![Type::TEXT; sql.params.len()];
    let statement = client.prepare_typed(&declare, &types).await?;
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = sql
        .params
        .iter()
        .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    // Errors in the filters (a value its column's type refuses) show here,
    // before the response starts.
    client.execute(&statement, &params).await?;
    let fetch = client
        .prepare(&format!("FETCH FORWARD {BATCH} FROM export"))
        .await?;

    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        let mut first = true;
        let head = match format {
            Format::Csv => csv_line(&columns.iter().map(|c| Some(c.clone())).collect::<Vec<_>>()),
            Format::Json => b"[".to_vec(),
        };
        if sender.send(Ok(Bytes::from(head))).await.is_err() {
            return;
        }
        loop {
            let rows = match client.query(&fetch, &[]).await {
                Ok(rows) => rows,
                Err(e) => {
                    let _ = sender.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
            if rows.is_empty() {
                break;
            }
            let mut chunk = Vec::new();
            for row in &rows {
                let values: Vec<Option<String>> = match row.try_get(0) {
                    Ok(values) => values,
                    Err(e) => {
                        let _ = sender.send(Err(std::io::Error::other(e.to_string()))).await;
                        return;
                    }
                };
                match format {
                    Format::Csv => chunk.extend(csv_line(&values)),
                    Format::Json => {
                        if !first {
                            chunk.push(b',');
                        }
                        first = false;
                        let object: Map<String, Value> = columns
                            .iter()
                            .cloned()
                            .zip(
                                values
                                    .into_iter()
                                    .map(|v| v.map_or(Value::Null, Value::String)),
                            )
                            .collect();
                        chunk.extend(Value::Object(object).to_string().into_bytes());
                        chunk.push(b'\n');
                    }
                }
            }
            if sender.send(Ok(Bytes::from(chunk))).await.is_err() {
                return;
            }
        }
        let _ = client.batch_execute("ROLLBACK").await;
        if format == Format::Json {
            let _ = sender.send(Ok(Bytes::from_static(b"]\n"))).await;
        }
    });

    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}.{extension}\"",
                    safe_file_name(&table.name)
                ),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// One CSV record (RFC 4180 quoting by the csv crate); NULL is empty.
fn csv_line(values: &[Option<String>]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let record: Vec<&str> = values.iter().map(|v| v.as_deref().unwrap_or("")).collect();
    // Writing to a Vec cannot fail.
    let _ = writer.write_record(&record);
    writer.into_inner().unwrap_or_default()
}

fn safe_file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
