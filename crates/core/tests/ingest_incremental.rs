//! Incremental runs never load a record twice: against an API that ignores the start parameter
//! (JSONPlaceholder), one that answers `>=` (records at the stored cursor come back), runs with
//! nothing new, the state file's format, and `lag`'s deliberate re-fetch.
#![cfg(feature = "native")]

mod ingest_common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use icepipe_core::ingest::state::{ResourceState, StateStore};
use icepipe_core::ingest::{IngestConfig, RunReport};
use icepipe_core::storage::ObjectStore;
use ingest_common::{config, ints, read_parquet, Harness};
use serde_json::{json, Value};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const STATE_KEY: &str = "_state/api_test/items.json";

/// `/items` over a list the test can grow, paged by `_page`/`_limit` like JSONPlaceholder.
#[derive(Clone)]
struct FakeApi {
    records: Arc<Mutex<Vec<Value>>>,
    /// Whether `updated_at_gte` filters (`>=`), or is ignored as JSONPlaceholder does.
    honours_start: bool,
}

impl FakeApi {
    async fn start(honours_start: bool, records: Vec<Value>) -> (Self, MockServer) {
        let api = Self {
            records: Arc::new(Mutex::new(records)),
            honours_start,
        };
        let server = MockServer::start().await;
        Mock::given(path("/items"))
            .respond_with(api.clone())
            .mount(&server)
            .await;
        (api, server)
    }

    fn push(&self, records: Vec<Value>) {
        self.records.lock().unwrap().extend(records);
    }
}

impl Respond for FakeApi {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let query: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let number = |name: &str| query.get(name).and_then(|v| v.parse::<usize>().ok());
        let (page, limit) = (number("_page").unwrap_or(1), number("_limit").unwrap_or(10));
        let start = query.get("updated_at_gte").filter(|_| self.honours_start);
        let page: Vec<Value> = self
            .records
            .lock()
            .unwrap()
            .iter()
            .filter(|r| start.is_none_or(|s| r["updated_at"].as_str().unwrap() >= s.as_str()))
            .skip((page - 1) * limit)
            .take(limit)
            .cloned()
            .collect();
        ResponseTemplate::new(200).set_body_json(page)
    }
}

fn record(id: i64, updated_at: &str) -> Value {
    json!({"id": id, "updated_at": updated_at, "title": format!("t{id}")})
}

/// Items paged two at a time, incremental on `updated_at`, with an optional primary key and lag.
fn items_config(
    server: &MockServer,
    primary_key: Option<&str>,
    lag_seconds: Option<u32>,
) -> IngestConfig {
    let lag = lag_seconds.map_or(String::new(), |s| format!(", lag = {s}"));
    let primary_key = primary_key.map_or(String::new(), |k| format!("primary_key = \"{k}\"\n"));
    config(
        &server.uri(),
        &format!(
            "paginator = {{ type = \"page_number\", page_param = \"_page\", limit_param = \"_limit\", limit = 2 }}\n\
             [sources.api_test.resources.items]\n{primary_key}\
             incremental = {{ cursor_path = \"updated_at\", initial_value = \"2024-01-01T00:00:00Z\", param = \"updated_at_gte\"{lag} }}\n"
        ),
    )
}

/// The ids one run wrote to the root table.
async fn loaded_ids(harness: &Harness, report: &RunReport) -> Vec<Option<i64>> {
    let mut ids = Vec::new();
    for key in &report.resources[0].files {
        ids.extend(ints(&read_parquet(&harness.store, key).await.0, "id"));
    }
    ids
}

async fn stored_state(harness: &Harness) -> Value {
    serde_json::from_slice(&harness.store.get(STATE_KEY).await.unwrap()).unwrap()
}

/// The `updated_at_gte` values of every request the server received, in order, deduplicated.
async fn start_params(server: &MockServer) -> Vec<String> {
    let mut params: Vec<String> = Vec::new();
    for request in server.received_requests().await.unwrap() {
        let value = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "updated_at_gte")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        if params.last() != Some(&value) {
            params.push(value);
        }
    }
    params
}

#[tokio::test]
async fn an_api_ignoring_the_start_param_loads_every_record_once() {
    let (api, server) = FakeApi::start(
        false,
        vec![
            record(1, "2024-02-01T00:00:00Z"),
            record(2, "2024-02-02T00:00:00Z"),
            record(3, "2024-02-03T00:00:00Z"),
        ],
    )
    .await;
    let config = items_config(&server, Some("id"), None);
    let harness = Harness::new();

    let first = harness.run_ok(&config).await;
    assert_eq!(first.resources[0].rows, 3);
    assert_eq!(
        loaded_ids(&harness, &first).await,
        [Some(1), Some(2), Some(3)]
    );

    // Nothing changed: every record comes back and every one is skipped.
    let unchanged = harness.run_ok(&config).await;
    let resource = &unchanged.resources[0];
    assert_eq!((resource.rows, resource.skipped), (0, 3), "{resource:?}");
    assert_eq!(
        resource.received, 3,
        "every record received is loaded or skipped"
    );
    assert!(resource.files.is_empty(), "{resource:?}");
    assert_eq!(resource.cursor, Some(json!("2024-02-03T00:00:00Z")));

    api.push(vec![
        record(4, "2024-02-04T00:00:00Z"),
        record(5, "2024-02-05T00:00:00Z"),
    ]);
    let third = harness.run_ok(&config).await;
    assert_eq!(loaded_ids(&harness, &third).await, [Some(4), Some(5)]);
    assert_eq!(third.resources[0].skipped, 3);
    assert_eq!(
        third.resources[0].cursor,
        Some(json!("2024-02-05T00:00:00Z"))
    );
    // Across the three runs the table holds each record once.
    let mut all = ints(&harness.read_table("items").await, "id");
    all.sort();
    assert_eq!(all, (1..=5).map(Some).collect::<Vec<_>>());
}

#[tokio::test]
async fn records_at_the_stored_cursor_are_not_loaded_twice_by_a_gte_api() {
    let (api, server) = FakeApi::start(
        true,
        vec![
            record(1, "2024-02-01T00:00:00Z"),
            record(2, "2024-02-02T00:00:00Z"),
            record(3, "2024-02-02T00:00:00Z"),
        ],
    )
    .await;
    let config = items_config(&server, Some("id"), None);
    let harness = Harness::new();
    harness.run_ok(&config).await;
    let state = stored_state(&harness).await;
    assert_eq!(state["cursor"], json!("2024-02-02T00:00:00Z"));
    assert_eq!(state["boundary_keys"].as_array().unwrap().len(), 2);

    // A late record at the boundary (new key) and a newer one: only they are loaded.
    api.push(vec![
        record(4, "2024-02-02T00:00:00Z"),
        record(5, "2024-02-03T00:00:00Z"),
    ]);
    let second = harness.run_ok(&config).await;
    assert_eq!(loaded_ids(&harness, &second).await, [Some(4), Some(5)]);
    assert_eq!(second.resources[0].skipped, 2);
    // The API was asked from the stored cursor itself (no lag).
    assert_eq!(
        start_params(&server).await,
        ["2024-01-01T00:00:00Z", "2024-02-02T00:00:00Z"]
    );
    let state = stored_state(&harness).await;
    assert_eq!(state["cursor"], json!("2024-02-03T00:00:00Z"));
    assert_eq!(state["boundary_keys"].as_array().unwrap().len(), 1);

    let unchanged = harness.run_ok(&config).await;
    assert_eq!(
        (unchanged.resources[0].rows, unchanged.resources[0].skipped),
        (0, 1)
    );
}

#[tokio::test]
async fn without_a_primary_key_a_record_hash_guards_the_boundary() {
    let (api, server) = FakeApi::start(true, vec![record(1, "2024-02-02T00:00:00Z")]).await;
    let config = items_config(&server, None, None);
    let harness = Harness::new();
    harness.run_ok(&config).await;
    // Same cursor: the identical record is skipped, a changed one at that cursor is new.
    api.push(vec![
        json!({"id": 1, "updated_at": "2024-02-02T00:00:00Z", "title": "edited"}),
    ]);
    let second = harness.run_ok(&config).await;
    assert_eq!(loaded_ids(&harness, &second).await, [Some(1)]);
    assert_eq!(second.resources[0].skipped, 1);
    let unchanged = harness.run_ok(&config).await;
    assert_eq!(unchanged.resources[0].rows, 0);
}

#[tokio::test]
async fn the_state_file_round_trips_and_an_older_file_without_keys_still_works() {
    let (_api, server) = FakeApi::start(
        false,
        vec![
            record(1, "2024-02-01T00:00:00Z"),
            record(2, "2024-02-02T00:00:00Z"),
        ],
    )
    .await;
    let config = items_config(&server, Some("id"), None);
    let harness = Harness::new();
    let first = harness.run_ok(&config).await;
    let raw = stored_state(&harness).await;
    let fields: Vec<&str> = raw
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        ["boundary_keys", "cursor", "last_load_id", "updated_at"]
    );
    assert_eq!(raw["last_load_id"], json!(first.load_id));
    let key = raw["boundary_keys"][0].as_str().unwrap();
    assert!(
        key.len() == 32 && key.chars().all(|c| c.is_ascii_hexdigit()),
        "{key}"
    );
    let states = StateStore::new(Arc::new(harness.store.clone()));
    let loaded = states
        .load("api_test", "items")
        .await
        .unwrap()
        .state
        .unwrap();
    assert_eq!(serde_json::to_value(&loaded).unwrap(), raw);

    // A state written before boundary keys existed: records below the cursor are still
    // skipped; the one at the cursor is loaded once more (nothing says it was loaded).
    let older = Harness::new();
    let old_state =
        json!({"cursor": "2024-02-02T00:00:00Z", "last_load_id": "old", "updated_at": "t"});
    older
        .store
        .put(STATE_KEY, Bytes::from(old_state.to_string()))
        .await
        .unwrap();
    let report = older.run_ok(&config).await;
    assert_eq!(loaded_ids(&older, &report).await, [Some(2)]);
    let upgraded: ResourceState = serde_json::from_value(stored_state(&older).await).unwrap();
    assert_eq!(upgraded.boundary_keys.len(), 1);
    assert_eq!(older.run_ok(&config).await.resources[0].rows, 0);
}

#[tokio::test]
async fn the_initial_value_drops_older_records_on_the_first_run() {
    let (_api, server) = FakeApi::start(
        false,
        vec![
            record(1, "2023-12-31T23:59:59Z"),
            record(2, "2024-01-01T00:00:00Z"),
        ],
    )
    .await;
    let harness = Harness::new();
    let report = harness
        .run_ok(&items_config(&server, Some("id"), None))
        .await;
    assert_eq!(loaded_ids(&harness, &report).await, [Some(2)]);
    assert_eq!(report.resources[0].skipped, 1);
}

#[tokio::test]
async fn lag_refetches_its_window_on_purpose_and_nothing_older() {
    let (_api, server) = FakeApi::start(
        false,
        vec![
            record(1, "2024-02-02T00:00:00Z"),
            record(2, "2024-02-02T00:09:30Z"),
            record(3, "2024-02-02T00:10:00Z"),
        ],
    )
    .await;
    let config = items_config(&server, Some("id"), Some(60));
    let harness = Harness::new();
    harness.run_ok(&config).await;
    // The window is [cursor - 60 s, cursor]: records 2 and 3 again (append can repeat them;
    // `_row_id` is the primary key's digest, so readers can dedupe).
    let second = harness.run_ok(&config).await;
    assert_eq!(loaded_ids(&harness, &second).await, [Some(2), Some(3)]);
    assert_eq!(second.resources[0].skipped, 1);
    assert_eq!(
        start_params(&server).await,
        ["2024-01-01T00:00:00Z", "2024-02-02T00:09:00Z"]
    );
    assert_eq!(
        second.resources[0].cursor,
        Some(json!("2024-02-02T00:10:00Z"))
    );
}
