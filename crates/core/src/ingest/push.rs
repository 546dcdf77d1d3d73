//! Pushed events (`POST /events/<source>/<resource>`): a JSON array or NDJSON body becomes one
//! load in the raw bucket, normalized exactly like pulled records (same naming, child tables,
//! system columns), so the converter cannot tell them apart.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::config::{IngestConfig, Nesting, WriteDisposition};
use super::json_arrow::{Normalizer, SystemColumns};
use super::parquet_out::PartWriter;
use super::run::{new_load_id, ResourceReport};
use crate::layout::is_valid_name;
use crate::storage::ObjectStore;

/// Why a pushed body was refused (the client's fault: HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventsError {
    #[error(
        "the body holds no events (send a JSON array of objects, or NDJSON: one object per line)"
    )]
    Empty,
    #[error("line {line}: not JSON: {message}")]
    BadLine { line: usize, message: String },
    #[error("not a JSON array of objects: {message}")]
    BadArray { message: String },
    #[error("event {index} is not a JSON object but {kind}")]
    NotAnObject { index: usize, kind: &'static str },
    #[error("{what} {name:?} is not a valid name: use [a-z][a-z0-9_]{{0,63}}")]
    BadName { what: &'static str, name: String },
}

/// How the records of one pushed stream are shaped: from the source's declaration of that
/// resource when there is one, else child tables and no primary key.
#[derive(Debug, Clone)]
pub struct EventStream {
    pub source: String,
    pub resource: String,
    pub nesting: Nesting,
    pub primary_key: Vec<String>,
}

impl EventStream {
    /// Checks the names (they become raw keys and table names) and looks up the declaration.
    pub fn resolve(
        config: &IngestConfig,
        source: &str,
        resource: &str,
    ) -> Result<Self, EventsError> {
        for (what, name) in [("source", source), ("resource", resource)] {
            if !is_valid_name(name) {
                return Err(EventsError::BadName {
                    what,
                    name: name.to_string(),
                });
            }
        }
        let declared = config
            .sources
            .get(source)
            .and_then(|s| s.resources.get(resource));
        Ok(Self {
            source: source.to_string(),
            resource: resource.to_string(),
            nesting: declared.map_or(Nesting::ChildTables, |r| r.nesting),
            primary_key: declared.map_or_else(Vec::new, |r| r.primary_key.clone()),
        })
    }
}

/// The events of a body: a JSON array of objects, or NDJSON (one object per line, blank lines
/// ignored). A single pretty-printed object is accepted too.
pub fn parse_events(body: &[u8]) -> Result<Vec<Value>, EventsError> {
    let text = std::str::from_utf8(body).map_err(|e| EventsError::BadLine {
        line: line_of(body, e.valid_up_to()),
        message: "not UTF-8".into(),
    })?;
    let trimmed = text.trim_start();
    let events = if trimmed.starts_with('[') {
        let values: Vec<Value> =
            serde_json::from_str(trimmed).map_err(|e| EventsError::BadArray {
                message: e.to_string(),
            })?;
        values
    } else {
        match parse_ndjson(text) {
            Ok(values) => values,
            // `{` spread over several lines: one object, not NDJSON.
            Err(ndjson_error) => match serde_json::from_str::<Value>(text) {
                Ok(value @ Value::Object(_)) => vec![value],
                _ => return Err(ndjson_error),
            },
        }
    };
    if events.is_empty() {
        return Err(EventsError::Empty);
    }
    if let Some((index, value)) = events.iter().enumerate().find(|(_, v)| !v.is_object()) {
        return Err(EventsError::NotAnObject {
            index,
            kind: json_kind(value),
        });
    }
    Ok(events)
}

fn parse_ndjson(text: &str) -> Result<Vec<Value>, EventsError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| EventsError::BadLine {
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

fn line_of(body: &[u8], offset: usize) -> usize {
    body[..offset].iter().filter(|b| **b == b'\n').count() + 1
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Writes `events` as one load of `stream` (parts of at most ~`part_bytes` buffered bytes) and
/// reports it like a pulled resource: rows, rows per table, raw keys.
pub async fn land_events(
    store: Arc<dyn ObjectStore>,
    stream: &EventStream,
    events: Vec<Value>,
    now: DateTime<Utc>,
    part_bytes: usize,
) -> Result<(String, ResourceReport), String> {
    let load_id = new_load_id(now);
    let loaded_at = now.to_rfc3339_opts(SecondsFormat::Micros, true);
    let mut normalizer = Normalizer::new(
        &stream.resource,
        stream.nesting,
        stream.primary_key.clone(),
        SystemColumns::new(&load_id, &loaded_at),
    );
    let mut writer = PartWriter::new(
        store,
        &stream.source,
        &stream.resource,
        &load_id,
        now,
        WriteDisposition::Append,
    );
    let mut report = ResourceReport {
        resource: stream.resource.clone(),
        pages: 1,
        rows: events.len() as u64,
        ..Default::default()
    };
    for event in events {
        normalizer.push(event);
        if normalizer.approx_bytes() >= part_bytes {
            flush(&mut normalizer, &mut writer).await?;
        }
    }
    let flushed = flush(&mut normalizer, &mut writer).await;
    report.files = writer.files.clone();
    report.tables = writer.rows.clone();
    flushed?;
    Ok((load_id, report))
}

async fn flush(normalizer: &mut Normalizer, writer: &mut PartWriter) -> Result<(), String> {
    for table in normalizer.tables_mut() {
        writer.flush(table).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::storage::memory::MemoryStore;

    #[test]
    fn arrays_and_ndjson_are_accepted() {
        let array = parse_events(br#" [{"a":1},{"a":2}] "#).unwrap();
        assert_eq!(array, vec![json!({"a":1}), json!({"a":2})]);
        let ndjson = parse_events(b"{\"a\":1}\n\n{\"a\":2}\r\n").unwrap();
        assert_eq!(ndjson, array);
        let pretty = parse_events(b"{\n  \"a\": 1\n}\n").unwrap();
        assert_eq!(pretty, vec![json!({"a":1})]);
    }

    #[test]
    fn bad_bodies_say_where_and_why() {
        assert_eq!(parse_events(b"  \n").unwrap_err(), EventsError::Empty);
        assert_eq!(parse_events(b"[]").unwrap_err(), EventsError::Empty);
        match parse_events(b"{\"a\":1}\n{\"a\":\n{\"a\":3}").unwrap_err() {
            EventsError::BadLine { line, .. } => assert_eq!(line, 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_events(b"[{\"a\":1}, 5]").unwrap_err(),
            EventsError::NotAnObject {
                index: 1,
                kind: "a number"
            }
        );
        assert!(matches!(
            parse_events(b"[{\"a\":1},").unwrap_err(),
            EventsError::BadArray { .. }
        ));
        assert!(matches!(
            parse_events(b"\xff\xfe").unwrap_err(),
            EventsError::BadLine { line: 1, .. }
        ));
    }

    #[test]
    fn stream_names_are_checked_and_declarations_used() {
        let config = IngestConfig::parse(
            r#"
            [sources.shop]
            base_url = "https://api.example.com"
            [sources.shop.resources.orders]
            path = "/orders"
            primary_key = "id"
            nesting = "nested"
            "#,
        )
        .unwrap();
        let declared = EventStream::resolve(&config, "shop", "orders").unwrap();
        assert_eq!(declared.nesting, Nesting::Nested);
        assert_eq!(declared.primary_key, vec!["id".to_string()]);
        let free = EventStream::resolve(&config, "app", "clicks").unwrap();
        assert_eq!(free.nesting, Nesting::ChildTables);
        assert!(free.primary_key.is_empty());
        assert!(matches!(
            EventStream::resolve(&config, "App", "clicks").unwrap_err(),
            EventsError::BadName { what: "source", .. }
        ));
        assert!(matches!(
            EventStream::resolve(&config, "app", "../x").unwrap_err(),
            EventsError::BadName {
                what: "resource",
                ..
            }
        ));
    }

    #[tokio::test]
    async fn events_land_as_one_load_with_child_tables() {
        let store = Arc::new(MemoryStore::new("raw"));
        let stream = EventStream {
            source: "app".into(),
            resource: "clicks".into(),
            nesting: Nesting::ChildTables,
            primary_key: vec![],
        };
        let events = parse_events(
            b"{\"id\":1,\"items\":[{\"sku\":\"a\"},{\"sku\":\"b\"}]}\n{\"id\":2,\"items\":[]}\n",
        )
        .unwrap();
        let now = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let (load_id, report) = land_events(store.clone(), &stream, events, now, 1 << 20)
            .await
            .unwrap();
        assert_eq!(report.rows, 2);
        assert_eq!(report.tables.get("clicks"), Some(&2));
        assert_eq!(report.tables.get("clicks__items"), Some(&2));
        assert_eq!(report.files.len(), 2);
        for key in &report.files {
            assert!(
                key.starts_with("sources/app/clicks")
                    && key.contains("/year=2026/month=11/day=24/"),
                "{key}"
            );
            assert!(key.contains(&load_id), "{key}");
            store.head(key).await.unwrap();
        }
    }
}
