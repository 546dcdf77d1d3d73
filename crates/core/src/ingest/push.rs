//! Pushed events (`POST /events/<source>/<resource>`): a JSON array or NDJSON body becomes one
//! load in the raw bucket, normalized exactly like pulled records (same naming, child tables,
//! system columns), so the converter cannot tell them apart.
//!
//! [`push_events`] is the whole request, runtime-agnostic: size limit, names, parsing, the
//! `Idempotency-Key` protocol ([`super::idempotency`]) and the load; its outcome and each error
//! carry the HTTP status the ingest Worker answers with.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::accounting::{check_landed, AccountingError};
use super::config::{IngestConfig, Nesting};
use super::exact_json::parse_exact;
use super::idempotency::{
    body_digest, claim, complete, release, BadIdempotencyKey, Claim, IdempotencyError,
    IdempotencyKey,
};
use super::json_arrow::contract::SchemaContract;
use super::json_arrow::RecordRefused;
use super::load::{load_schema, LoadLimits, LoadTarget, LoadWriter};
use super::parquet_out::PartError;
use super::run::{new_load_id, now_utc, IngestContext, ResourceReport, RunError};
use super::state::StateError;
use crate::raw::footer::{MergeKeys, WriteDisposition};
use crate::raw::key::is_valid_name;
use crate::storage::ObjectStore;

/// Why a pushed body was refused (the client's fault: HTTP 400; a push to a `replace` resource:
/// 422).
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
    /// Refused rather than appended: appending would silently break the table's `replace`
    /// meaning, and replacing the table with each batch would drop every row pushed before.
    #[error(
        "events for {source_name}/{resource} not stored: sources.{source_name}.resources.{resource} \
         is declared write_disposition = \"replace\", which a push cannot honour (a push is one \
         batch of events; replacing the table with each would drop every row pushed before); \
         declare it \"append\" or \"merge\" to push to it"
    )]
    PushToReplace {
        source_name: String,
        resource: String,
    },
}

/// How the records of one pushed stream are shaped and go into its table: from the source's
/// declaration of that resource when there is one, else child tables, no primary key, append.
#[derive(Debug, Clone)]
pub struct EventStream {
    pub source: String,
    pub resource: String,
    pub nesting: Nesting,
    pub primary_key: Vec<String>,
    pub contract: SchemaContract,
    /// `Append`, or `Merge` for a declared merge resource (never `Replace`: refused).
    pub disposition: WriteDisposition,
    /// What a merge push merges on, exactly as a pulled load of the resource writes it.
    pub merge: Option<MergeKeys>,
}

impl EventStream {
    /// A stream no resource declares: child tables, no primary key, `evolve`, appended.
    pub fn undeclared(source: &str, resource: &str) -> Self {
        Self {
            source: source.to_string(),
            resource: resource.to_string(),
            nesting: Nesting::ChildTables,
            primary_key: Vec::new(),
            contract: SchemaContract::Evolve,
            disposition: WriteDisposition::Append,
            merge: None,
        }
    }

    /// Checks the names (they become raw keys and table names) and looks up the declaration; a
    /// declared `replace` resource is refused.
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
        let stream = Self::undeclared(source, resource);
        let Some(declared) = declared else {
            return Ok(stream);
        };
        if declared.write_disposition == WriteDisposition::Replace {
            return Err(EventsError::PushToReplace {
                source_name: source.to_string(),
                resource: resource.to_string(),
            });
        }
        Ok(Self {
            nesting: declared.nesting,
            primary_key: declared.primary_key.clone(),
            contract: declared.schema_contract,
            disposition: declared.write_disposition,
            merge: declared.merge.clone(),
            ..stream
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
        let values = parse_exact(trimmed.as_bytes()).map_err(|e| EventsError::BadArray {
            message: e.to_string(),
        })?;
        match values {
            Value::Array(values) => values,
            other => {
                return Err(EventsError::BadArray {
                    message: format!("not an array but {}", json_kind(&other)),
                })
            }
        }
    } else {
        match parse_ndjson(text) {
            Ok(values) => values,
            // `{` spread over several lines: one object, not NDJSON.
            Err(ndjson_error) => match parse_exact(text.as_bytes()) {
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
            parse_exact(line.as_bytes()).map_err(|e| EventsError::BadLine {
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

/// Settings of `POST /events`.
#[derive(Debug, Clone, Copy)]
pub struct PushSettings<'a> {
    /// Declared resources lend their shape (nesting, primary key) to pushes of the same name.
    pub sources: &'a IngestConfig,
    /// Largest body accepted, in bytes.
    pub max_bytes: usize,
    /// The raw bucket's name, for the answer.
    pub raw_bucket: &'a str,
}

/// One push as the client sent it.
#[derive(Debug, Clone, Copy)]
pub struct PushRequest<'a> {
    pub source: &'a str,
    pub resource: &'a str,
    pub body: &'a [u8],
    /// The `Idempotency-Key` header, if sent.
    pub idempotency_key: Option<&'a str>,
}

/// The answer to a push (HTTP 200). A retry with the same `Idempotency-Key` gets the first
/// answer back with `duplicate: true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushAnswer {
    pub ok: bool,
    pub source: String,
    pub resource: String,
    pub load_id: String,
    /// Events in the body: `rows`, checked (answers recorded before it was counted lack it).
    #[serde(default)]
    pub received: u64,
    pub rows: u64,
    pub tables: BTreeMap<String, u64>,
    pub files: Vec<String>,
    /// What the push did to the resource's schema beyond adding columns (renamed, widened,
    /// varied, discarded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schema_changes: Vec<String>,
    pub raw_bucket: String,
    /// How the converter applies the load: `append` or `merge` (answers recorded before it was
    /// reported lack it: those were appends).
    #[serde(default = "append")]
    pub write_disposition: String,
    /// Size of the body.
    pub bytes: usize,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

fn append() -> String {
    WriteDisposition::Append.as_str().to_string()
}

/// What a push did.
#[derive(Debug)]
pub struct Pushed {
    pub answer: PushAnswer,
    /// The events are stored, but their answer could not be recorded under the
    /// `Idempotency-Key`: a retry would land them again (worth a log line, not a failure).
    pub answer_not_recorded: Option<IdempotencyError>,
}

/// Why a push landed nothing.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(
        "the body is larger than {limit} bytes (MAX_EVENT_BYTES): split it into several requests"
    )]
    TooLarge { limit: usize },
    #[error("cannot read the body: {reason}")]
    UnreadableBody { reason: String },
    #[error(transparent)]
    BadStream(EventsError),
    #[error("events for {stream}: {error}")]
    BadEvents { stream: String, error: EventsError },
    /// An event past the column or nesting limit, or refused by the resource's `freeze`
    /// contract: nothing of the push is stored.
    #[error("events for {stream} not stored: {error}")]
    Refused {
        stream: String,
        error: RecordRefused,
    },
    #[error(transparent)]
    BadIdempotencyKey(#[from] BadIdempotencyKey),
    #[error("a request with this Idempotency-Key is still landing its events: retry later")]
    InProgress,
    /// The key was used before with another body: the new events would be silently dropped.
    #[error(
        "Idempotency-Key {key:?} was already used for {stream} with a different body: a retry \
         must send the same body; use a new key for new events"
    )]
    KeyReused { key: String, stream: String },
    #[error("cannot check the Idempotency-Key: {0}")]
    IdempotencyUnavailable(IdempotencyError),
    #[error("events for {stream} not stored: {error}")]
    NotStored { stream: String, error: PartError },
    /// The rows written do not add up to the events received (a defect, not the client's).
    #[error("events for {stream} not stored: {error}")]
    Unaccounted {
        stream: String,
        error: AccountingError,
    },
    #[error(transparent)]
    Clock(#[from] RunError),
}

impl PushError {
    /// 413 too large; 400 a body (one past the column or nesting limit too), name or key the
    /// client must fix; 409 the same key still landing; 422 the key reused with another body,
    /// or a push to a `replace` resource; 502 the raw bucket failed.
    pub fn status(&self) -> u16 {
        match self {
            PushError::TooLarge { .. } => 413,
            PushError::BadStream(EventsError::PushToReplace { .. }) => 422,
            PushError::UnreadableBody { .. }
            | PushError::BadStream(_)
            | PushError::BadEvents { .. }
            | PushError::Refused { .. }
            | PushError::BadIdempotencyKey(_) => 400,
            PushError::InProgress => 409,
            PushError::KeyReused { .. } => 422,
            PushError::IdempotencyUnavailable(_)
            | PushError::NotStored { .. }
            | PushError::Unaccounted { .. } => 502,
            PushError::Clock(e) => e.status(),
        }
    }

    /// Whether sending the same request again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            PushError::InProgress => true,
            PushError::IdempotencyUnavailable(e) => e.is_transient(),
            PushError::NotStored { error, .. } => error.is_transient(),
            _ => false,
        }
    }
}

/// Refuses a body whose declared length (`Content-Length`) is over the limit, before reading it.
pub fn check_declared_size(declared: Option<usize>, max_bytes: usize) -> Result<(), PushError> {
    match declared {
        Some(n) if n > max_bytes => Err(PushError::TooLarge { limit: max_bytes }),
        _ => Ok(()),
    }
}

/// Lands one push: checks, parses, claims the `Idempotency-Key` (a repeat gets the first answer),
/// writes the load, records the answer under the key.
pub async fn push_events(
    ctx: &IngestContext,
    settings: &PushSettings<'_>,
    request: PushRequest<'_>,
) -> Result<Pushed, PushError> {
    let PushRequest {
        source,
        resource,
        body,
        idempotency_key,
    } = request;
    let stream = format!("{source}/{resource}");
    if body.len() > settings.max_bytes {
        return Err(PushError::TooLarge {
            limit: settings.max_bytes,
        });
    }
    let target =
        EventStream::resolve(settings.sources, source, resource).map_err(PushError::BadStream)?;
    let events = parse_events(body).map_err(|error| PushError::BadEvents {
        stream: stream.clone(),
        error,
    })?;
    let marker = idempotency_key
        .map(|key| IdempotencyKey::parse(key.trim()).map(|k| k.marker(source, resource)))
        .transpose()?;
    let store = ctx.store.as_ref();
    let now = now_utc(ctx.fetcher.clock.as_ref())?;
    let digest = body_digest(body);
    if let Some(marker) = &marker {
        match claim(store, marker, now.timestamp_millis(), &digest).await {
            Ok(Claim::Granted) => {}
            Ok(Claim::Done(first)) => {
                let mut answer: PushAnswer = serde_json::from_value(first).map_err(|e| {
                    PushError::IdempotencyUnavailable(IdempotencyError::Corrupt {
                        marker: store.describe(marker),
                        reason: format!("the recorded answer is not a push answer: {e}"),
                    })
                })?;
                answer.duplicate = true;
                return Ok(Pushed {
                    answer,
                    answer_not_recorded: None,
                });
            }
            Ok(Claim::InProgress) => return Err(PushError::InProgress),
            Ok(Claim::OtherBody) => {
                return Err(PushError::KeyReused {
                    key: idempotency_key.unwrap_or_default().trim().to_string(),
                    stream,
                })
            }
            Err(e) => return Err(PushError::IdempotencyUnavailable(e)),
        }
    }
    let landed = land_with_schema_retries(ctx, &target, events, body, now).await;
    let (load_id, report) = match landed {
        Ok(landed) => landed,
        Err(error) => {
            if let Some(marker) = &marker {
                // The claim is given up so that a retry can land the events; if that fails
                // too, the claim goes stale and is taken over after STALE_AFTER_MS.
                let _ = release(store, marker).await;
            }
            return Err(error);
        }
    };
    let answer = PushAnswer {
        ok: true,
        source: source.to_string(),
        resource: resource.to_string(),
        load_id,
        received: report.received,
        rows: report.rows,
        tables: report.tables,
        files: report.files,
        schema_changes: report.schema_changes,
        raw_bucket: settings.raw_bucket.to_string(),
        write_disposition: target.disposition.as_str().to_string(),
        bytes: body.len(),
        duplicate: false,
    };
    let mut answer_not_recorded = None;
    if let Some(marker) = &marker {
        let recorded = serde_json::to_value(&answer).expect("an answer serializes");
        // The events are stored; a lost answer only means a retry would land them again.
        if let Err(e) = complete(store, marker, now.timestamp_millis(), &digest, &recorded).await {
            answer_not_recorded = Some(e);
        }
    }
    Ok(Pushed {
        answer,
        answer_not_recorded,
    })
}

/// Attempts at a push whose resource's schema another load changed meanwhile (each starts again
/// from the schema stored then; nothing was written by the attempt that lost).
const SCHEMA_ATTEMPTS: u32 = 3;

async fn land_with_schema_retries(
    ctx: &IngestContext,
    target: &EventStream,
    events: Vec<Value>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(String, ResourceReport), PushError> {
    let mut events = Some(events);
    let mut attempt = 1;
    loop {
        // The first attempt takes the parsed events; a later one parses the body again.
        let events = match events.take() {
            Some(events) => events,
            None => parse_events(body).map_err(|error| PushError::BadEvents {
                stream: format!("{}/{}", target.source, target.resource),
                error,
            })?,
        };
        match land_events(ctx.store.clone(), target, events, now, ctx.limits).await {
            Err(PushError::NotStored {
                error: PartError::Schema(StateError::Conflict { .. }),
                ..
            }) if attempt < SCHEMA_ATTEMPTS => attempt += 1,
            landed => return landed,
        }
    }
}

/// Writes `events` as one load of `stream` and reports it like a pulled resource: events
/// received, rows, rows per table (checked against the rows the events normalize into), raw keys.
/// All or nothing for the limits: every event is normalized (and checked against the column and
/// nesting limits) before any part is written; the body's size limit bounds what is buffered.
pub async fn land_events(
    store: Arc<dyn ObjectStore>,
    stream: &EventStream,
    events: Vec<Value>,
    now: DateTime<Utc>,
    limits: LoadLimits,
) -> Result<(String, ResourceReport), PushError> {
    let name = || format!("{}/{}", stream.source, stream.resource);
    let not_stored = |error| PushError::NotStored {
        stream: name(),
        error,
    };
    let load_id = new_load_id(now);
    let schema = load_schema(store.clone(), &stream.source, &stream.resource)
        .await
        .map_err(|e| not_stored(PartError::Schema(e)))?;
    let mut load = LoadWriter::new(
        store,
        LoadTarget {
            source: &stream.source,
            resource: &stream.resource,
            nesting: stream.nesting,
            primary_key: &stream.primary_key,
            disposition: stream.disposition,
            contract: stream.contract,
            merge: stream.merge.as_ref(),
        },
        &load_id,
        now,
        limits,
        schema,
    );
    let mut report = ResourceReport {
        resource: stream.resource.clone(),
        pages: 1,
        received: events.len() as u64,
        rows: events.len() as u64,
        ..Default::default()
    };
    for event in events {
        load.push(event).map_err(|error| PushError::Refused {
            stream: name(),
            error,
        })?;
    }
    let flushed = load.flush().await;
    report.files = load.files().to_vec();
    report.tables = load.rows().clone();
    report.schema_changes = load.schema_changes();
    flushed.map_err(not_stored)?;
    check_landed(&report, load.normalized()).map_err(|error| PushError::Unaccounted {
        stream: name(),
        error,
    })?;
    Ok((load_id, report))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use parquet::file::reader::{FileReader, SerializedFileReader};

    use super::*;
    use crate::clock::ManualClock;
    use crate::http::retry::RetryPolicy;
    use crate::http::{HttpClient, HttpError, HttpRequest, HttpResponse};
    use crate::ingest::extract::Fetcher;
    use crate::ingest::StaticSecrets;
    use crate::raw::footer::LoadFooter;
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

    const MERGE_AND_REPLACE: &str = r#"
        [sources.app]
        base_url = "https://api.example.com"
        [sources.app.resources.todos]
        push_only = true
        primary_key = "id"
        write_disposition = "merge"
        nesting = "nested"
        version_column = "version"
        hard_delete = "deleted"
        [sources.app.resources.accounts]
        path = "/accounts"
        primary_key = ["tenantId", "id"]
        write_disposition = "merge"
        nesting = "nested"
        incremental = { cursor_path = "updatedAt", param = "since" }
        [sources.app.resources.users]
        path = "/users"
        write_disposition = "replace"
        [sources.app.resources.clicks]
        path = "/clicks"
    "#;

    #[test]
    fn a_declared_merge_resource_is_pushed_as_a_merge_with_its_keys() {
        let config = IngestConfig::parse(MERGE_AND_REPLACE).unwrap();
        let todos = EventStream::resolve(&config, "app", "todos").unwrap();
        assert_eq!(todos.disposition, WriteDisposition::Merge);
        // The keys a pulled load of the resource would write: the same `parse_merge`.
        assert_eq!(todos.merge, config.sources["app"].resources["todos"].merge);
        let keys = todos.merge.unwrap();
        assert_eq!(
            (keys.version_column.as_str(), keys.hard_delete_column),
            ("version", Some("deleted".to_string()))
        );
        // A pulled merge resource pushed to: its incremental cursor stays the version.
        let accounts = EventStream::resolve(&config, "app", "accounts").unwrap();
        assert_eq!(accounts.disposition, WriteDisposition::Merge);
        let keys = accounts.merge.unwrap();
        assert_eq!(keys.primary_key, ["tenant_id", "id"]);
        assert_eq!(keys.version_column, "updated_at");
        assert_eq!(keys.hard_delete_column, None);
        // Declared append, and undeclared (another resource, another source): appended.
        for (source, resource) in [("app", "clicks"), ("app", "views"), ("web", "todos")] {
            let stream = EventStream::resolve(&config, source, resource).unwrap();
            assert_eq!(stream.disposition, WriteDisposition::Append, "{resource}");
            assert_eq!(stream.merge, None, "{resource}");
        }
    }

    #[test]
    fn a_push_to_a_replace_resource_is_refused_naming_it() {
        let config = IngestConfig::parse(MERGE_AND_REPLACE).unwrap();
        let error = EventStream::resolve(&config, "app", "users").unwrap_err();
        assert_eq!(
            error,
            EventsError::PushToReplace {
                source_name: "app".into(),
                resource: "users".into()
            }
        );
        let message = error.to_string();
        assert!(
            message.contains("app/users not stored")
                && message.contains("sources.app.resources.users")
                && message.contains("write_disposition = \"replace\""),
            "{message}"
        );
        assert_eq!(PushError::BadStream(error).status(), 422);
    }

    #[tokio::test]
    async fn a_refused_push_stores_nothing() {
        let config = IngestConfig::parse(MERGE_AND_REPLACE).unwrap();
        let store = Arc::new(MemoryStore::new("raw"));
        let ctx = context(store.clone());
        let settings = PushSettings {
            sources: &config,
            max_bytes: 1 << 20,
            raw_bucket: "raw",
        };
        let request = PushRequest {
            source: "app",
            resource: "users",
            body: br#"[{"id": 1}]"#,
            idempotency_key: Some("k-1"),
        };
        let error = push_events(&ctx, &settings, request).await.unwrap_err();
        assert_eq!(error.status(), 422, "{error}");
        assert!(!error.is_transient());
        assert!(store.list("").await.unwrap().is_empty(), "not even a claim");
    }

    #[tokio::test]
    async fn a_merge_push_writes_the_merge_keys_into_the_footer() {
        let config = IngestConfig::parse(MERGE_AND_REPLACE).unwrap();
        let store = Arc::new(MemoryStore::new("raw"));
        let push = |resource, body| push_to(&config, store.clone(), resource, body);
        let answer = push(
            "todos",
            br#"[{"id": 1, "version": 2, "title": "a", "tags": [{"n": 1}]}, {"id": 2, "version": 1, "deleted": true}]"#,
        )
        .await;
        assert_eq!(answer.write_disposition, "merge");
        // Nested: one file, no child table (a merge has no key for child rows).
        assert_eq!(answer.tables, BTreeMap::from([("todos".to_string(), 2)]));
        assert_eq!(answer.files.len(), 1);
        let footer = footer_of(store.as_ref(), &answer.files[0]).await;
        assert_eq!(footer.disposition, WriteDisposition::Merge);
        assert_eq!(footer.load_id.as_deref(), Some(answer.load_id.as_str()));
        assert_eq!(footer.merge, config.sources["app"].resources["todos"].merge);

        // An undeclared stream: appended, no keys.
        let clicks = push("clicks", br#"{"id": 1}"#).await;
        assert_eq!(clicks.write_disposition, "append");
        let footer = footer_of(store.as_ref(), &clicks.files[0]).await;
        assert_eq!(footer.disposition, WriteDisposition::Append);
        assert_eq!(footer.merge, None);
    }

    #[test]
    fn answers_recorded_before_the_disposition_was_reported_read_as_appends() {
        let mut recorded = serde_json::to_value(PushAnswer {
            ok: true,
            source: "app".into(),
            resource: "clicks".into(),
            load_id: "l".into(),
            received: 1,
            rows: 1,
            tables: BTreeMap::new(),
            files: vec![],
            schema_changes: vec![],
            raw_bucket: "raw".into(),
            write_disposition: "merge".into(),
            bytes: 1,
            duplicate: false,
        })
        .unwrap();
        recorded
            .as_object_mut()
            .unwrap()
            .remove("write_disposition");
        let answer: PushAnswer = serde_json::from_value(recorded).unwrap();
        assert_eq!(answer.write_disposition, "append");
    }

    /// One push to `app/<resource>` without an `Idempotency-Key`; its answer.
    async fn push_to(
        config: &IngestConfig,
        store: Arc<MemoryStore>,
        resource: &str,
        body: &[u8],
    ) -> PushAnswer {
        let settings = PushSettings {
            sources: config,
            max_bytes: 1 << 20,
            raw_bucket: "raw",
        };
        let request = PushRequest {
            source: "app",
            resource,
            body,
            idempotency_key: None,
        };
        push_events(&context(store), &settings, request)
            .await
            .unwrap()
            .answer
    }

    async fn footer_of(store: &MemoryStore, key: &str) -> LoadFooter {
        let bytes = store.get(key).await.unwrap();
        let reader = SerializedFileReader::new(bytes).unwrap();
        LoadFooter::read(reader.metadata().file_metadata().key_value_metadata()).unwrap()
    }

    /// A push requests nothing: any request is a defect of the test.
    #[derive(Debug)]
    struct NoHttp;

    #[async_trait::async_trait]
    impl HttpClient for NoHttp {
        async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
            Err(HttpError::Connect {
                url: request.url,
                reason: "a push requests nothing".into(),
            })
        }
    }

    fn context(store: Arc<MemoryStore>) -> IngestContext {
        IngestContext {
            fetcher: Fetcher {
                http: Arc::new(NoHttp),
                clock: Arc::new(ManualClock::new(1_795_000_000_000)),
                retry: RetryPolicy::api_default(),
            },
            store,
            secrets: Arc::new(StaticSecrets::default()),
            limits: LoadLimits::with_part_bytes(1 << 20),
        }
    }

    #[tokio::test]
    async fn events_land_as_one_load_with_child_tables() {
        let store = Arc::new(MemoryStore::new("raw"));
        let stream = EventStream::undeclared("app", "clicks");
        let events = parse_events(
            b"{\"id\":1,\"items\":[{\"sku\":\"a\"},{\"sku\":\"b\"}]}\n{\"id\":2,\"items\":[]}\n",
        )
        .unwrap();
        let now = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let (load_id, report) = land_events(
            store.clone(),
            &stream,
            events,
            now,
            LoadLimits::with_part_bytes(1 << 20),
        )
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
