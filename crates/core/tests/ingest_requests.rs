//! The ingest Worker's two requests as the core answers them, natively: `POST /events` (a push:
//! size, names, parsing, the `Idempotency-Key` protocol, every status) and
//! `POST /sources/<source>/run` (unknown names are 404, a failed resource makes the run a 502).
//! The Worker's routes only map these outcomes and errors to HTTP.
#![cfg(feature = "native")]

mod ingest_common;

use std::sync::Arc;

use icepipe_core::ingest::idempotency::{body_digest, claim, Claim, IdempotencyKey};
use icepipe_core::ingest::push::{
    check_declared_size, push_events, PushError, PushRequest, PushSettings, Pushed,
};
use icepipe_core::ingest::{run_named_source, IngestConfig, IngestContext};
use icepipe_core::storage::memory::{FailingWrites, MemoryStore};
use ingest_common::{config, Harness};
use serde_json::json;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

const LIMIT: usize = 4096;

fn sources() -> IngestConfig {
    config(
        "https://api.example.com",
        "[sources.api_test.resources.items]\nprimary_key = \"id\"\nnesting = \"nested\"\n",
    )
}

async fn push(
    harness: &Harness,
    source: &str,
    body: &str,
    key: Option<&str>,
) -> Result<Pushed, PushError> {
    push_with(&harness.context(), source, "clicks", body, key).await
}

async fn push_with(
    ctx: &IngestContext,
    source: &str,
    resource: &str,
    body: &str,
    key: Option<&str>,
) -> Result<Pushed, PushError> {
    let sources = sources();
    let settings = PushSettings {
        sources: &sources,
        max_bytes: LIMIT,
        raw_bucket: "icepipe-raw",
    };
    let request = PushRequest {
        source,
        resource,
        body: body.as_bytes(),
        idempotency_key: key,
    };
    push_events(ctx, &settings, request).await
}

fn landed(harness: &Harness) -> Vec<String> {
    harness
        .store
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("sources/"))
        .collect()
}

#[tokio::test]
async fn a_push_lands_one_load_and_a_repeated_key_gets_the_first_answer() {
    let harness = Harness::new();
    let body = "{\"id\":1,\"items\":[{\"sku\":\"a\"}]}\n{\"id\":2}\n";
    let first = push(&harness, "app", body, Some("order-42")).await.unwrap();
    let answer = &first.answer;
    assert!(answer.ok && !answer.duplicate);
    assert_eq!(
        (answer.source.as_str(), answer.resource.as_str()),
        ("app", "clicks")
    );
    assert_eq!((answer.rows, answer.bytes), (2, body.len()));
    assert_eq!(answer.tables.get("clicks__items"), Some(&1));
    assert_eq!(answer.raw_bucket, "icepipe-raw");
    assert_eq!(landed(&harness), answer.files);
    assert!(first.answer_not_recorded.is_none());

    let again = push(&harness, "app", body, Some("order-42")).await.unwrap();
    assert!(again.answer.duplicate);
    assert_eq!(again.answer.files, answer.files);
    assert_eq!(again.answer.load_id, answer.load_id);
    assert_eq!(landed(&harness), answer.files, "nothing landed twice");
    let wire = serde_json::to_value(&again.answer).unwrap();
    assert_eq!(wire["duplicate"], true);
    assert!(serde_json::to_value(&first.answer)
        .unwrap()
        .get("duplicate")
        .is_none());

    // The same key with another body: refused naming the key, the new events land nowhere.
    let error = push(&harness, "app", "{\"id\":3}\n", Some("order-42"))
        .await
        .unwrap_err();
    assert_eq!(error.status(), 422, "{error}");
    assert!(!error.is_transient());
    let message = error.to_string();
    assert!(
        message.contains("\"order-42\"") && message.contains("different body"),
        "{message}"
    );
    assert_eq!(
        landed(&harness),
        answer.files,
        "nothing of the other body landed"
    );
}

#[tokio::test]
async fn refused_pushes_say_why_with_their_status_and_land_nothing() {
    let harness = Harness::new();
    let big = "x".repeat(LIMIT + 1);
    let cases: [(&str, &str, Option<&str>, u16, &str); 5] = [
        (
            "app",
            &big,
            None,
            413,
            "larger than 4096 bytes (MAX_EVENT_BYTES)",
        ),
        (
            "App",
            "{\"id\":1}",
            None,
            400,
            "\"App\" is not a valid name",
        ),
        (
            "app",
            "{\"id\":1}\n{\"id\":",
            None,
            400,
            "events for app/clicks: line 2",
        ),
        ("app", "[]", None, 400, "the body holds no events"),
        (
            "app",
            "{\"id\":1}",
            Some("not ok"),
            400,
            "Idempotency-Key must be",
        ),
    ];
    for (source, body, key, status, message) in cases {
        let error = push(&harness, source, body, key).await.unwrap_err();
        assert_eq!(error.status(), status, "{error}");
        assert!(error.to_string().contains(message), "{error}");
        assert!(!error.is_transient(), "{error}");
    }
    let declared = check_declared_size(Some(LIMIT + 1), LIMIT).unwrap_err();
    assert_eq!(declared.status(), 413);
    check_declared_size(Some(LIMIT), LIMIT).unwrap();
    check_declared_size(None, LIMIT).unwrap();
    assert!(harness.store.keys().is_empty());
}

#[tokio::test]
async fn a_key_still_landing_is_a_409_that_may_be_retried() {
    let harness = Harness::new();
    let marker = IdempotencyKey::parse("k1").unwrap().marker("app", "clicks");
    let now = harness.clock.as_ref();
    let claimed = claim(
        &harness.store,
        &marker,
        icepipe_core::clock::Clock::now_ms(now),
        &body_digest(b"{\"id\":1}"),
    )
    .await
    .unwrap();
    assert_eq!(claimed, Claim::Granted);
    let error = push(&harness, "app", "{\"id\":1}", Some("k1"))
        .await
        .unwrap_err();
    assert!(matches!(error, PushError::InProgress));
    assert_eq!(error.status(), 409);
    assert!(error.is_transient());
    assert!(landed(&harness).is_empty());
}

#[tokio::test]
async fn a_raw_bucket_that_fails_is_a_transient_502() {
    let harness = Harness::new();
    let mut ctx = harness.context();
    ctx.store = Arc::new(FailingWrites(MemoryStore::new("raw")));
    for (key, message) in [
        // The first write of a load is the resource's schema.
        (
            None,
            "events for app/clicks not stored: the resource's schema was not recorded, so no \
             part was written: storage error",
        ),
        (
            Some("k2"),
            "cannot check the Idempotency-Key: storage error",
        ),
    ] {
        let error = push_with(&ctx, "app", "clicks", "{\"id\":1}", key)
            .await
            .unwrap_err();
        assert_eq!(error.status(), 502, "{error}");
        assert!(error.to_string().contains(message), "{error}");
        assert!(error.is_transient(), "{error}");
    }
}

#[tokio::test]
async fn a_declared_resource_shapes_pushed_records() {
    let harness = Harness::new();
    let pushed = push_with(
        &harness.context(),
        "api_test",
        "items",
        "{\"id\":1,\"lines\":[{\"q\":1}]}",
        None,
    )
    .await
    .unwrap();
    // nesting = "nested": no child table.
    assert_eq!(pushed.answer.tables.keys().collect::<Vec<_>>(), ["items"]);
}

#[tokio::test]
async fn runs_of_unknown_names_are_404s_and_a_failed_resource_makes_a_502() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 1}])))
        .mount(&server)
        .await;
    Mock::given(path("/broken"))
        .respond_with(ResponseTemplate::new(404).set_body_string("gone"))
        .mount(&server)
        .await;
    let config = config(
        &server.uri(),
        "[sources.api_test.resources.items]\n[sources.api_test.resources.broken]\n",
    );
    let harness = Harness::new();
    let ctx = harness.context();

    for (source, resource, lists) in [
        ("nope", None, "the config defines api_test"),
        ("api_test", Some("nope"), "it has broken, items"),
    ] {
        let error = run_named_source(&ctx, &config, source, resource)
            .await
            .unwrap_err();
        assert_eq!(error.status(), 404, "{error}");
        assert!(!error.is_transient());
        assert!(error.to_string().contains(lists), "{error}");
    }

    let one = run_named_source(&ctx, &config, "api_test", Some("items"))
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    let all = run_named_source(&ctx, &config, "api_test", None)
        .await
        .unwrap();
    assert_eq!(all.status(), 502);
    assert_eq!(all.errors.len(), 1);
    assert!(
        all.errors[0].starts_with("broken: GET "),
        "{:?}",
        all.errors
    );
}
